"""Lightning callbacks: periodic physics metrics with best-checkpoint selection, jet-image panels, activation
sparsity.

`PeriodicMetrics` samples a few thousand jets every N epochs, scores them against the validation split with
metrics of the registry (`sparsegen.metrics.registry`; by default those tagged ``periodic``: W1 of the jet
mass, of the image occupancy and of the pixel spectrum; ``fpd=True`` adds FPD) on cheap single-batch
settings, and logs ``val/<name>`` — pair it with ``ModelCheckpoint(monitor="val/w1m", mode="min")`` to keep
the best epoch, as MPGAN/GAPT select theirs. It runs on rank 0 only and broadcasts the numbers, so DDP
stays in step.

`JetImageLogger` logs a grid of generated jet images and the average image (log scale) next to the real
ones every N epochs, as wandb images when the logger is a `WandbLogger`, else as PNG files in the run
folder; plus mass and multiplicity histograms.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from typing_extensions import Self

from sparsegen import plotting
from sparsegen.core.jets import Jets
from sparsegen.nn.activations import activation_of


def _real_val(trainer: pl.Trainer, num: int, seed: int = 0) -> Jets | None:
    """A seeded random subset of the validation jets (every class of a multi-class split)."""
    dm = getattr(trainer, "datamodule", None)
    if dm is None or not hasattr(dm, "real_jets"):
        return None
    real = dm.real_jets("val")
    if len(real) <= num:
        return real
    return real[np.sort(np.random.default_rng(seed).choice(len(real), num, replace=False))]


def _conditions(pl_module: pl.LightningModule, real: Jets) -> Jets | None:
    """A conditional model generates with the conditions of the real jets it is compared with."""
    return real if pl_module.data_info.spec.names else None


class PeriodicMetrics(pl.Callback):
    """Every ``every_n_epochs`` epochs: sample ``num_jets`` jets and log cheap physics metrics.

    ``metrics``: registry names to log (default: those tagged ``periodic``); ``fpd``: also FPD (the configs'
    shorthand). Settings: `sparsegen.metrics.registry.periodic_settings` (one W1 batch of all the jets).
    """

    def __init__(
        self, every_n_epochs: int = 1, num_jets: int = 2000, fpd: bool = False, seed: int = 0,
        metrics: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.every_n_epochs = every_n_epochs
        self.num_jets = num_jets
        self.fpd = fpd
        self.seed = seed
        self.metrics = None if metrics is None else list(metrics)
        self.selection()  # an unknown name fails when the callback is built, not after the first epoch
        self.history: list[dict[str, float]] = []

    def selection(self) -> tuple[Any, ...]:
        """The registry metrics this callback logs, in registry order."""
        from sparsegen.metrics.registry import names, select

        chosen = names(names=self.metrics) if self.metrics is not None else names(tag="periodic")
        return select([*chosen, "fpd"] if self.fpd else chosen)

    def keys(self) -> tuple[str, ...]:
        """The logged keys (without ``val/``): every result key of the selection."""
        from sparsegen.metrics.registry import result_keys

        return result_keys(self.selection())

    def compute(self, real: Jets, gen: Jets, npix: int, extent: float) -> dict[str, float]:
        """The metrics of one evaluation (values only; small samples, so errors are not reported); images on
        the model's grid (``data_info.npix``, ``data_info.extent``)."""
        from sparsegen.metrics.registry import periodic_settings
        from sparsegen.metrics.samples import Sample, pixel_readout
        from sparsegen.metrics.sparsity import as_images

        gen_img = as_images(gen, npix, extent)
        if gen.images is not None:  # image model: real jets read out of their own pixels, as `evaluate` does
            real = pixel_readout(real, real.to_images(npix, extent), extent)
        # image models: every pixel is a particle; the particle-level view keeps the hardest P
        ref, other = Sample(real, as_images(real, npix, extent)), Sample(gen, gen_img, real.max_particles)
        cfg = periodic_settings(min(len(real), len(gen)))
        out: dict[str, float] = {}
        for metric in self.selection():
            result = metric.compute(ref, other, cfg, self.seed)
            pairs = result if isinstance(result, Mapping) else {metric.name: result}
            out.update({key: float(pair[0]) for key, pair in pairs.items()})
        return out

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        keys = self.keys()
        values = torch.zeros(len(keys), device=pl_module.device)
        if trainer.is_global_zero:
            real = _real_val(trainer, self.num_jets, self.seed)
            if real is not None and len(real) >= 10:
                gen = pl_module.sample(len(real), _conditions(pl_module, real), seed=self.seed)
                info = pl_module.data_info
                m = self.compute(real, gen, info.npix, info.extent)
                values = torch.tensor([m.get(k, float("nan")) for k in keys], device=pl_module.device)
        values = trainer.strategy.broadcast(values, src=0)
        logs = {f"val/{key}": values[i] for i, key in enumerate(keys)}
        pl_module.log_dict(logs, sync_dist=False, rank_zero_only=False)
        self.history.append({k: float(v) for k, v in logs.items()} | {"epoch": trainer.current_epoch})


class JetImageLogger(pl.Callback):
    """Every ``every_n_epochs`` epochs: image grid, average image (log) real vs generated,
    mass/multiplicity."""

    def __init__(self, every_n_epochs: int = 1, num_jets: int = 500, seed: int = 0) -> None:
        super().__init__()
        self.every_n_epochs = every_n_epochs
        self.num_jets = num_jets
        self.seed = seed

    def figures(self, real: Jets, gen: Jets, npix: int, extent: float) -> dict[str, Any]:
        real_img = real.to_images(npix, extent)
        gen_img = gen.images if gen.images is not None else gen.to_images(npix, extent)
        return {
            "samples/generated_images": plotting.image_grid(gen_img[:12], extent=extent, title="generated"),
            "samples/average_image": plotting.average_images(
                {"real": real_img, "generated": gen_img}, extent=extent, difference=True
            ),
            "samples/mass": plotting.histograms(
                {"real": real.mass, "generated": gen.mass}, xlabel="jet mass [GeV]"
            ),
            "samples/multiplicity": plotting.histograms(
                {"real": real.num_particles, "generated": gen.num_particles},
                bins=np.arange(-0.5, real.max_particles + 1.5),
                xlabel="multiplicity",
            ),
        }

    @pl.utilities.rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        real = _real_val(trainer, self.num_jets, self.seed)
        if real is None or len(real) == 0:
            return
        info = pl_module.data_info
        gen = pl_module.sample(len(real), _conditions(pl_module, real), seed=self.seed)
        figs = self.figures(real, gen, info.npix, info.extent)
        step = int(getattr(pl_module, "gen_steps", trainer.global_step))
        self.log_figures(trainer, figs, step)

    @staticmethod
    def log_figures(trainer: pl.Trainer, figs: dict[str, Any], step: int) -> None:
        import matplotlib.pyplot as plt

        loggers = trainer.loggers
        wandb_logger = next((lg for lg in loggers if type(lg).__name__ == "WandbLogger"), None)
        if wandb_logger is not None:
            import wandb

            wandb_logger.experiment.log(
                {k: wandb.Image(f) for k, f in figs.items()} | {"trainer/gen_step": step}
            )
        else:
            folder = os.path.join(trainer.log_dir or trainer.default_root_dir, "images")
            os.makedirs(folder, exist_ok=True)
            for k, f in figs.items():
                plotting.save_figure(
                    f,
                    os.path.join(folder, f"{k.split('/')[-1]}_epoch{trainer.current_epoch:03d}.png"),
                    dpi=90,
                )
        for f in figs.values():
            plt.close(f)


class ActivationSparsityMonitor(pl.Callback):
    """Fraction of exact zeros and mean per-sample l1 of chosen activations.

    ``modules``: dict name → module (standalone), or names (str) resolved in the LightningModule, or None
    for every ``nn.ReLU``/``nn.ReLU6`` of the LightningModule. Standalone: ``attach()``, run the model,
    ``compute()`` → ``{name: {"zero_fraction": f, "mean_l1": m}}``, ``reset()``, ``detach()`` (or ``with``).
    As a Lightning callback it attaches at setup and logs ``{prefix}{name}/zero_fraction`` and
    ``…/mean_l1`` via ``pl_module.log`` every ``log_every_n_steps`` training batches. A value counts as zero
    when ``|x| <= atol``.
    """

    def __init__(
        self,
        modules: Mapping[str, nn.Module] | Sequence[str] | None = None,
        prefix: str = "sparsity/",
        log_every_n_steps: int = 1,
        atol: float = 0.0,
        types: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6),
    ) -> None:
        super().__init__()
        self.spec = modules
        self.prefix = prefix
        self.log_every_n_steps = max(1, int(log_every_n_steps))
        self.atol = atol
        self.types = types
        self._handles: list[Any] = []
        self._stats: dict[str, list[float]] = {}

    # standalone API
    def attach(self, model: nn.Module | None = None) -> ActivationSparsityMonitor:
        """Register hooks (names / defaults are looked up in ``model``)."""
        self.detach()
        if isinstance(self.spec, Mapping):
            mods = dict(self.spec)
        elif model is None:
            raise ValueError("module names or defaults need a model to resolve them in")
        elif self.spec is None:
            mods = {n: m for n, m in model.named_modules() if isinstance(m, self.types)}
        else:
            named = dict(model.named_modules())
            missing = [n for n in self.spec if n not in named]
            if missing:
                raise ValueError(f"modules not found: {missing}")
            mods = {n: named[n] for n in self.spec}
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in mods.items()]
        self._stats = {n: [0.0, 0.0, 0.0, 0.0] for n in mods}  # zeros, numel, abs sum, samples
        return self

    def _hook(self, name: str) -> Any:
        @torch.no_grad()
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            x, n = activation_of(output)
            if x is None:
                return
            s = self._stats[name]
            s[0] += float((x.abs() <= self.atol).sum())
            s[1] += x.numel()
            s[2] += float(x.abs().sum())
            s[3] += n
        return hook

    def compute(self) -> dict[str, dict[str, float]]:
        """Statistics since the last reset (modules not called yet are left out)."""
        return {n: {"zero_fraction": z / numel, "mean_l1": a / max(samples, 1.0)}
                for n, (z, numel, a, samples) in self._stats.items() if numel > 0}

    def reset(self) -> None:
        for s in self._stats.values():
            s[:] = [0.0, 0.0, 0.0, 0.0]

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> Self:
        if not self._handles:
            self.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # Lightning hooks
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.attach(pl_module)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.detach()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.reset()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if batch_idx % self.log_every_n_steps:
            return
        for name, stats in self.compute().items():
            for key, value in stats.items():
                pl_module.log(f"{self.prefix}{name}/{key}", value, on_step=True, on_epoch=False)


class CPUTimeBudget(pl.Callback):
    """Stop training once this process has used ``minutes`` of CPU time since the fit started.

    A budget in CPU time (``time.process_time``: every thread of the process, data loading included when it
    runs in-process) instead of wall clock: on a shared machine a wall-clock budget buys less training the
    busier the machine is, a CPU-time budget buys the same amount of computation. Validation (sampling,
    metrics) counts, as it does against a wall-clock budget.
    """

    def __init__(self, minutes: float) -> None:
        if minutes <= 0:
            raise ValueError(f"minutes must be > 0, got {minutes}")
        self.seconds = 60.0 * minutes
        self.start: float | None = None

    def used(self) -> float:
        """CPU seconds used since the fit started."""
        return 0.0 if self.start is None else time.process_time() - self.start

    def progress(self) -> float:
        """Fraction of the budget used, in [0, 1] (`FlowMatching`'s cosine learning-rate schedule follows
        it)."""
        return min(1.0, self.used() / self.seconds)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.process_time()

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.used() >= self.seconds:
            trainer.should_stop = True

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.used() >= self.seconds:
            trainer.should_stop = True
