"""`GenerativeModel`: what every sparsegen LightningModule shares.

* **Data info**: when fitting, the model takes `JetDataModule.data_info()` (representation, image size
  and extent, particles per jet, classes, normalizer, training distributions), checks that its networks
  were built for the same data, and stores it in every checkpoint.
* **Sampling**: ``sample(num_jets, conditions) -> Jets`` in physical units whatever the representation. Every
  generated jet has a class, a jet pT and eta and a multiplicity: the ones given (``conditions``: a dict
  such as ``{"class": "t", "pt": 1200}``, or real `Jets` whose conditions are taken one by one), the others
  drawn from the training distribution of its class (`ConditionSpec.resolve`). A conditional model is fed
  the normalized condition vector; every model gets the multiplicity (point models use it as the mask).
  The normalization is undone, so ``jets.pt`` and ``jets.mass`` are GeV like those of real jets
  (mass of the jet's own particles, ptrel × pT).
* **EMA** (one policy for every model that keeps an exponential moving average of a network):
  θ_ema ← d θ_ema + (1 − d) θ with d = min(decay, (1 + k)/(10 + k)) at EMA step k, so a short run never
  samples weights that are still mostly their initialization (0.999^360 ≈ 0.70 without the warm-up).
* **Learning-rate schedule** (``lr_schedule``: ``"constant"`` or ``"cosine"``, a cosine from 1 down to
  ``lr_min_factor`` over the run): the run's progress is the largest of step / ``max_steps`` and the
  fraction used of any time budget (Lightning's ``max_time`` or `CPUTimeBudget`), so a budgeted run ends at
  its lowest learning rate whatever its step count.
* **Checkpoints** carry the data info, the model spec (`spec.py`), the RNG state and the checkpoint format;
  an older format is migrated on load, before anything reads it (`migration.py`).
* **Divergence**: `check_finite` stops training at the first non-finite loss (the last checkpoint on
  disk is still the last good one; the CLI exits 3).
"""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Timer
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.core.kinematics import with_unit_pt
from sparsegen.data.conditions import Raw, raw_conditions
from sparsegen.data.info import DataInfo
from sparsegen.data.normalization import Normalizer
from sparsegen.models.migration import migrate, stamp
from sparsegen.models.spec import Component, jsonable
from sparsegen.nn.losses import Sample


def check_finite(loss: Tensor, what: str, step: int) -> None:
    """Raise ``FloatingPointError`` on a non-finite loss (training diverged)."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{what} is {loss.item()} at step {int(step)}: training diverged "
                                 "(lower the learning rate, check the data or the loss settings)")


LRSchedule = Literal["constant", "cosine"]


def check_schedule(schedule: str, min_factor: float) -> None:
    """One config error for an unknown learning-rate schedule or a floor outside [0, 1]."""
    if schedule not in ("constant", "cosine"):
        raise SparsegenInputError("config", f"lr_schedule must be 'constant' or 'cosine', got {schedule!r}")
    if not 0.0 <= min_factor <= 1.0:
        raise SparsegenInputError("config", f"lr_min_factor must be in [0, 1], got {min_factor}")


class GenerativeModel(pl.LightningModule):
    """Base class: data info, EMA, batch unpacking and batched sampling into `Jets`."""

    family: str
    """The model's family ("gan", "vae", "flow", …), stated by every model class: the studies group by it."""

    networks: tuple[str, ...] = ()
    """The init arguments that are injected networks; the studies read each one's ``sparsity``."""

    conserve_pt: bool = False
    """Point models: rescale each generated jet's ptrel so its particles sum to the jet pT (`with_unit_pt`);
    only for data that keep every constituent (checked against the training multiplicities)."""

    TRUNCATED_MAX = 0.01
    """Largest fraction of training jets at exactly num_particles particles for ``conserve_pt``."""

    def __init__(self) -> None:
        super().__init__()
        self.data_info = DataInfo()
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))

    # -------------------------------------------------------------- data info
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None or not hasattr(dm, "data_info"):
            return
        self.data_info = dm.data_info()
        self.data_info.check_network(self, type(self).__name__)
        cond_dim = self.data_info.cond_dim
        for name, net in self.conditional_networks().items() if cond_dim else ():
            if getattr(net, "cond_dim", 0) != cond_dim:
                raise SparsegenInputError(
                    "config",
                    f"the data has conditions {self.data_info.spec.names} but the "
                    f"{name} ({type(net).__name__}) does not take them: use a "
                    "conditional network (one with cond_dim)",
                )
        self.on_data_info()
        if stage == "fit":
            # fresh fits only: a resumed run's weights are restored after setup, overriding this
            for module in self.modules():
                if module is not self and hasattr(module, "init_from_data"):
                    module.init_from_data(self.data_info)

    def conditional_networks(self) -> dict[str, nn.Module]:
        """The networks that must read the condition vector when the data has conditions."""
        return {}

    def on_data_info(self) -> None:
        """Hand ``data_info`` to every sub-module with a ``set_data_info(info)`` method (the point
        generators' multiplicity histogram and ptrel floor); check ``conserve_pt`` against the data."""
        hist = self.data_info.multiplicity
        if self.conserve_pt and hist is not None and len(hist) > self.data_info.num_particles:
            cut = float(hist[self.data_info.num_particles]) / max(float(np.sum(hist)), 1e-12)
            if cut > self.TRUNCATED_MAX:
                raise SparsegenInputError(
                    "config", f"conserve_pt needs every constituent kept, but {cut:.0%} of the training jets "
                    f"are cut at num_particles={self.data_info.num_particles} (raise num_particles)")
        for module in self.modules():
            if module is not self and hasattr(module, "set_data_info"):
                module.set_data_info(self.data_info)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        stamp(checkpoint)  # the checkpoint format (`sparsegen.models.migration`)
        checkpoint["sparsegen_data_info"] = self.data_info.to_dict()
        checkpoint["sparsegen_model"] = self.model_spec()
        checkpoint["sparsegen_rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["sparsegen_rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def model_spec(self) -> dict[str, Any]:
        """``{"class_path", "init_args"}`` rebuilding this model (components as nested specs)."""
        init_args: dict[str, Any] = {}
        for name in list(inspect.signature(type(self).__init__).parameters)[1:]:
            value = getattr(self, name, None)
            if isinstance(value, Component):
                init_args[name] = value.spec
            elif name in self.hparams:
                init_args[name] = jsonable(self.hparams[name])
        return {"class_path": f"{type(self).__module__}.{type(self).__qualname__}", "init_args": init_args}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """An older checkpoint is brought to the current format first (in place, before Lightning loads its
        weights when resuming; `sparsegen.models.migration`)."""
        migrate(checkpoint, getattr(self._trainer, "ckpt_path", None) or "--ckpt_path")
        self.data_info = DataInfo.from_dict(checkpoint.get("sparsegen_data_info"))
        self._pending_rng = checkpoint.get("sparsegen_rng")
        self.on_data_info()

    def on_train_start(self) -> None:
        """Resuming: continue the random stream where the checkpoint left it (after the sanity check)."""
        rng = getattr(self, "_pending_rng", None)
        if rng:
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        self._pending_rng = None

    @property
    def normalizer(self) -> Normalizer:
        return self.data_info.get_normalizer()

    # ------------------------------------------------------------ schedule
    def schedule_factor(self, step: int) -> float:
        """The learning-rate factor at ``step`` from the model's ``lr_schedule`` and ``lr_min_factor``
        hyperparameters: 1 (constant) or the cosine of the module docstring."""
        if self.hparams.lr_schedule == "constant":
            return 1.0
        lo = float(self.hparams.lr_min_factor)
        return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * self.training_progress(step)))

    def training_progress(self, step: int) -> float:
        """Fraction of the run done, in [0, 1]: the largest of step / ``max_steps`` and the fraction of any
        time budget (Lightning's ``max_time`` Timer, or a callback with a ``progress()`` method); 0 when the
        run has no such limit."""
        if self._trainer is None:
            return 0.0
        trainer, done = self.trainer, 0.0
        if trainer.max_steps and trainer.max_steps > 0:
            done = step / trainer.max_steps
        for cb in trainer.callbacks:
            if isinstance(cb, Timer) and cb._duration:
                done = max(done, cb.time_elapsed("train") / cb._duration)
            elif callable(getattr(cb, "progress", None)):
                done = max(done, float(cb.progress()))
        return min(1.0, max(0.0, done))

    # -------------------------------------------------------------------- EMA
    @staticmethod
    def ema_copy(net: nn.Module, decay: float | None) -> nn.Module | None:
        """A frozen copy of ``net`` to average into (None when ``decay`` is None: no EMA)."""
        if decay is None:
            return None
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {decay}")
        return copy.deepcopy(net).requires_grad_(False)

    @torch.no_grad()
    def update_ema(self, ema: nn.Module | None, net: nn.Module, decay: float | None) -> None:
        """One EMA step with the warm-up policy of the module docstring (no-op without an EMA)."""
        if ema is None or decay is None:
            return
        k = int(self.ema_steps)
        d = min(float(decay), (1.0 + k) / (10.0 + k))
        for p_ema, p in zip(ema.parameters(), net.parameters()):
            p_ema.lerp_(p, 1.0 - d)
        for b_ema, b in zip(ema.buffers(), net.buffers()):
            b_ema.copy_(b)
        self.ema_steps += 1

    # ---------------------------------------------------------------- batches
    @staticmethod
    def real_from_batch(batch: dict[str, Tensor]) -> Sample:
        """The model input of a data-module batch: images (B,1,H,W) or (particles, mask)."""
        if "images" in batch:
            return batch["images"]
        return batch["particles"], batch["mask"]

    # --------------------------------------------------------------- sampling
    def generate(self, num: int, generator: torch.Generator | None = None, cond: Tensor | None = None,
                 counts: Tensor | None = None) -> Sample:
        """``num`` samples in the normalized training representation (implemented by subclasses).

        ``cond`` (num, C): normalized condition vectors (conditional models); ``counts`` (num,): the jets'
        multiplicities (used by models that build particle masks).
        """
        raise NotImplementedError

    def resolve_conditions(
        self,
        num_jets: int | None,
        conditions: dict[str, Any] | Jets | None,
        generator: torch.Generator | None = None,
        allow_extrapolation: bool = False,
    ) -> Raw:
        """Complete raw conditions (class, pt, eta, mass, multiplicity) of the jets to generate.

        ``conditions`` may name only the model's conditions (and its training class); real `Jets` give their
        class, pT and eta (and the model's other conditions) jet by jet, their first ``num_jets`` (default:
        all); values outside the training range need ``allow_extrapolation`` (real jets are taken as they
        are).
        """
        spec = self.data_info.spec
        if isinstance(conditions, Jets):
            n = len(conditions) if num_jets is None else num_jets
            if n > len(conditions):
                raise SparsegenInputError("--conditions-from", f"holds {len(conditions)} jets, {n} requested")
            raw = raw_conditions(conditions[:n])
            given = {k: raw[k] for k in ("class", "pt", "eta", *spec.names)}
            return spec.resolve(given, n, generator, allow_extrapolation=True)
        given = dict(conditions or {})
        if "jet_type" in given:
            given["class"] = given.pop("jet_type")
        given = {k: v for k, v in given.items() if v is not None}
        single_class = "class" in given and len(spec.classes) == 1
        extra = sorted(k for k in given if k not in spec.names and not (k == "class" and single_class))
        if extra:
            raise SparsegenInputError(f"--{extra[0].replace('class', 'jet-type')}",
                                      f"this model is not conditioned on {extra[0]} (its conditions: "
                                      f"{spec.names or 'none'}; trained on classes {spec.classes})")
        if num_jets is None or num_jets < 1:
            raise SparsegenInputError("--num-jets", f"must be >= 1, got {num_jets}")
        return spec.resolve(given, num_jets, generator, allow_extrapolation)

    @torch.no_grad()
    def sample(self, num_jets: int | None = None, conditions: dict[str, Any] | Jets | None = None,
               batch_size: int = 1000, seed: int | None = None, progress: bool = False,
               allow_extrapolation: bool = False) -> Jets:
        """Generate jets (batched, seeded) as `Jets` in physical units (pt, mass in GeV) carrying their
        conditions (class, pT, eta); see `resolve_conditions` for ``conditions``."""
        kin_gen = torch.Generator().manual_seed(int(seed) + 7919) if seed is not None else None
        raw = self.resolve_conditions(num_jets, conditions, kin_gen, allow_extrapolation)
        num = len(raw["class"])
        spec = self.data_info.spec
        was_training = self.training
        self.eval()
        gen = None
        if seed is not None:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(int(seed))
        starts = range(0, num, batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="sampling", unit="batch")
        parts = []
        for i in starts:
            part = {k: v[i:i + batch_size] for k, v in raw.items()}
            cond = torch.as_tensor(spec.encode(part), device=self.device) if spec.names else None
            counts = torch.as_tensor(part["multiplicity"], device=self.device).long()
            sample = self.generate(len(part["class"]), generator=gen, cond=cond, counts=counts)
            parts.append(self.to_jets(sample, part))
        self.train(was_training)
        return Jets.concat(parts)

    def to_jets(self, sample: Sample, raw: Raw) -> Jets:
        """Undo the normalization and build `Jets` with the raw conditions' class, pt [GeV] and eta (images
        keep their pixels; exact zeros stay zero)."""
        info, norm = self.data_info, self.normalizer
        kin = {"pt": raw["pt"], "eta": raw["eta"], "jet_type": raw["class"]}
        if isinstance(sample, Tensor):
            images = norm.images_inverse(sample.float()).clamp(min=0.0)[:, 0].cpu().numpy()
            return Jets.from_images(images, extent=info.extent, **kin)
        x, mask = sample
        particles = norm.points_inverse(x.float(), mask).cpu().numpy()
        particles[..., 2] = np.clip(particles[..., 2], 0.0, None)
        if self.conserve_pt:
            particles = with_unit_pt(particles, mask.cpu().numpy())
        return Jets.from_particles(particles, mask.cpu().numpy(), **kin).sorted()
