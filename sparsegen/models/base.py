"""`GenerativeModel`: what every sparsegen LightningModule shares.

* **Data info**: when fitting, the model takes `JetDataModule.data_info()` (representation, image size
  and extent, particles per jet, classes, normalizer, training distributions), checks that its networks
  were built for the same data, and stores it in every checkpoint.
* **Sampling**: ``sample(num_jets) -> Jets`` in physical units whatever the representation: the
  normalization is undone and every generated jet gets a jet pT (and eta) drawn from the training
  distribution, so ``jets.pt`` and ``jets.mass`` are GeV like those of real jets (ptrel × pT).
* **EMA** (one policy for every model that keeps an exponential moving average of a network):
  θ_ema ← d θ_ema + (1 − d) θ with d = min(decay, (1 + k)/(10 + k)) at EMA step k, so a short run never
  samples weights that are still mostly their initialization (0.999^360 ≈ 0.70 without the warm-up).
* **Divergence**: `check_finite` stops training at the first non-finite loss (the last checkpoint on
  disk is still the last good one; the CLI exits 3).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from sparsegen.core.jets import Jets
from sparsegen.data.info import DataInfo
from sparsegen.data.normalization import Normalizer
from sparsegen.models.spec import Component, jsonable
from sparsegen.nn.losses import Sample


def check_finite(loss: Tensor, what: str, step: int) -> None:
    """Raise ``FloatingPointError`` on a non-finite loss (training diverged)."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{what} is {loss.item()} at step {int(step)}: training diverged "
                                 "(lower the learning rate, check the data or the loss settings)")


class GenerativeModel(pl.LightningModule):
    """Base class: data info, EMA, batch unpacking and batched sampling into `Jets`."""

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
        self.on_data_info()
        if stage == "fit":
            # fresh fits only: a resumed run's weights are restored after setup, overriding this
            for module in self.modules():
                if module is not self and hasattr(module, "init_from_data"):
                    module.init_from_data(self.data_info)

    def on_data_info(self) -> None:
        """Hand ``data_info`` to every sub-module with a ``set_data_info(info)`` method (the point
        generators' multiplicity histogram and ptrel floor)."""
        for module in self.modules():
            if module is not self and hasattr(module, "set_data_info"):
                module.set_data_info(self.data_info)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
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
    def generate(self, num: int, generator: torch.Generator | None = None) -> Sample:
        """``num`` samples in the normalized training representation (implemented by subclasses)."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, num_jets: int, batch_size: int = 1000, seed: int | None = None, progress: bool = False) -> Jets:
        """Generate ``num_jets`` jets (batched, seeded) as `Jets` in physical units (pt, mass in GeV)."""
        if num_jets < 1:
            raise ValueError(f"num_jets must be >= 1, got {num_jets}")
        was_training = self.training
        self.eval()
        gen = None
        if seed is not None:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(int(seed))
        sizes = [batch_size] * (num_jets // batch_size) + ([num_jets % batch_size] if num_jets % batch_size else [])
        iterator = sizes
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(sizes, desc="sampling", unit="batch")
        parts = []
        for n in iterator:
            sample = self.generate(n, generator=gen)
            kin_gen = None
            if gen is not None:  # the jet kinematics draw on the CPU, seeded from the sampling stream
                kin_gen = torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=gen,
                                                                          device=gen.device)))
            parts.append(self.to_jets(sample, *self.data_info.draw_kinematics(n, kin_gen)))
        self.train(was_training)
        return Jets.concat(parts)

    def to_jets(self, sample: Sample, pt: np.ndarray, eta: np.ndarray) -> Jets:
        """Undo the normalization and build `Jets` with jet ``pt`` [GeV] and ``eta`` (images keep their pixels;
        exact zeros stay zero)."""
        info, norm = self.data_info, self.normalizer
        if isinstance(sample, Tensor):
            images = norm.images_inverse(sample.float()).clamp(min=0.0)[:, 0].cpu().numpy()
            return Jets.from_images(images, pt=pt, extent=info.extent, eta=eta, jet_type=info.jet_type)
        x, mask = sample
        particles = norm.points_inverse(x.float(), mask).cpu().numpy()
        particles[..., 2] = np.clip(particles[..., 2], 0.0, None)
        return Jets.from_particles(particles, mask.cpu().numpy(), pt=pt, eta=eta, jet_type=info.jet_type).sorted()
