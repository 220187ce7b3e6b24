"""`GenerativeModel`: what every sparsegen LightningModule shares.

It remembers how its training data was represented (points or images, image size and extent, the
`Normalizer`, the jet class) — taken from the `JetDataModule` when fitting and stored in checkpoints —
so ``sample(num_jets) -> Jets`` returns jets in physical units whatever the representation.
Generated jets carry *relative* jet kinematics (pt and mass in units of the jet pT, computed from the
particles), exactly what the JetNet metrics use.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from sparsegen.data.datamodule import Normalizer
from sparsegen.jets import Jets
from sparsegen.losses import Sample
from sparsegen.models.spec import Component, jsonable

DEFAULT_DATA_INFO: dict[str, Any] = {
    "representation": "images",
    "npix": 32,
    "extent": 0.8,
    "num_particles": 30,
    "jet_type": 0,
    "normalizer": Normalizer(np.zeros(3, np.float32), np.ones(3, np.float32), 1.0).state_dict(),
    "multiplicity": None,
    "occupancy": None,
}


def data_info_from(datamodule: Any) -> dict[str, Any]:
    """What a model needs to know about its data to turn samples back into `Jets`."""
    info = dict(DEFAULT_DATA_INFO)
    for key in ("representation", "npix", "extent", "num_particles"):
        if hasattr(datamodule, key):
            info[key] = getattr(datamodule, key)
    if getattr(datamodule, "normalizer", None) is not None:
        info["normalizer"] = datamodule.normalizer.state_dict()
    if getattr(datamodule, "jet_types", None):
        from sparsegen.data.io import JET_TYPES

        info["jet_type"] = JET_TYPES.index(datamodule.jet_types[0])
    datasets = getattr(datamodule, "datasets", None)
    if datasets and "train" in datasets and "images" in datasets["train"].tensors:
        info["occupancy"] = float((datasets["train"].tensors["images"] > 0).float().mean())
    splits = getattr(datamodule, "splits", None)
    if splits and "train" in splits:
        counts = np.bincount(splits["train"].num_particles, minlength=info["num_particles"] + 1)
        info["multiplicity"] = (counts / counts.sum()).tolist()
    return info


class GenerativeModel(pl.LightningModule):
    """Base class: data bookkeeping, batch unpacking and batched sampling into `Jets`."""

    def __init__(self) -> None:
        super().__init__()
        self.data_info: dict[str, Any] = dict(DEFAULT_DATA_INFO)

    # -------------------------------------------------------------- data info
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is not None and getattr(dm, "normalizer", None) is None and hasattr(dm, "setup"):
            dm.setup(stage)
        if dm is not None and stage == "fit":
            self.data_info = data_info_from(dm)
            self.on_data_info()
            # fresh fits only: a resumed run's weights are restored after setup, overriding this
            for module in self.modules():
                if module is not self and hasattr(module, "init_from_data"):
                    module.init_from_data(self.data_info)

    def on_data_info(self) -> None:
        """Hook for subclasses that size things from the data (e.g. multiplicity sampling).

        By default hands ``data_info`` to every sub-module with a ``set_data_info(info)`` method (the point
        generators' multiplicity histogram and ptrel floor)."""
        for module in self.modules():
            if module is not self and hasattr(module, "set_data_info"):
                module.set_data_info(self.data_info)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["sparsegen_data_info"] = self.data_info
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
        self.data_info = checkpoint.get("sparsegen_data_info", dict(DEFAULT_DATA_INFO))
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
        return Normalizer.from_state_dict(self.data_info["normalizer"])

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
        """Generate ``num_jets`` jets (batched, seeded) as `Jets` in physical units."""
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
        parts = [self.to_jets(self.generate(n, generator=gen)) for n in iterator]
        self.train(was_training)
        return Jets.concat(parts)

    def to_jets(self, sample: Sample) -> Jets:
        """Undo the normalization and build `Jets` (images keep their pixels; exact zeros stay zero)."""
        info, norm = self.data_info, self.normalizer
        if isinstance(sample, Tensor):
            images = norm.images_inverse(sample.float()).clamp(min=0.0)[:, 0].cpu().numpy()
            return Jets.from_images(images, extent=info["extent"], jet_type=info["jet_type"])
        x, mask = sample
        particles = norm.points_inverse(x.float(), mask).cpu().numpy()
        particles[..., 2] = np.clip(particles[..., 2], 0.0, None)
        jets = Jets(particles, mask.cpu().numpy()).sorted()
        jets.jet_features[:, 0] = info["jet_type"]
        return jets
