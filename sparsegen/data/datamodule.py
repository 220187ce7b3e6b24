"""`JetDataModule`: generated (cached) or real JetNet jets as points or images for Lightning.

Where the data comes from:

* ``jetnet_dir`` set: real JetNet files ``{type}.hdf5`` / ``{type}150.hdf5`` from that directory (no
  download; validated like our own files);
* otherwise Pythia8 + FastJet jets generated in ``prepare_data`` into the generation cache
  (`sparsegen.data.cache`), one file per class, reused when present; ``preset`` names the generation
  settings (`sparsegen.data.presets`): ``jetnet`` (the default: JetNet-equivalent anti-kT R = 0.4 jets) or
  ``r08`` (anti-kT R = 0.8).

Several classes are served at once with ``jet_types: [g, q, t, w, z]``: ``mix: balanced`` takes exactly
``num_jets`` of each class; ``mix: natural`` takes up to ``num_jets`` of each (all a smaller file holds, so
real files keep their own proportions).

Batches are dicts: points → ``particles`` (B,P,3) normalized, ``mask`` (B,P) bool, ``label`` (B,),
``jet_features`` (B,5); images → ``images`` (B,1,H,W) normalized, ``label``, ``jet_features``; with
``conditions`` (e.g. ``[class, pt, multiplicity]``) also ``cond`` (B, C), the normalized condition vector
(`sparsegen.data.conditions`). Normalization: `sparsegen.data.normalization.Normalizer`, fitted on the
training split, like the condition transform; images are pixel pT / jet pT over [-extent, extent]²
(default extent 0.4: the jet radius R of the default dataset, so the image covers the whole jet),
thresholded and intensity-transformed (``transform`` none / log / logit with ``floor``).

A model learns everything it needs about the data from one method, `JetDataModule.data_info`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sparsegen.core.defaults import EXTENT, JET_TYPES, NPIX, NUM_PARTICLES, PRESET
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.io import jetnet_path
from sparsegen.core.jets import Jets
from sparsegen.data.cache import cached_jets_path, ensure_generated
from sparsegen.data.conditions import ConditionSpec, check_condition_names, raw_conditions
from sparsegen.data.generate import GenerationConfig
from sparsegen.data.info import DataInfo, quantiles
from sparsegen.data.normalization import DEFAULT_FLOOR, IMAGE_THRESHOLD, Normalizer, check_image_settings
from sparsegen.data.presets import preset_config


def image_info(images: torch.Tensor, normalizer: Normalizer, chunk: int = 1024) -> dict:
    """The `DataInfo` fields of normalized training images (N, 1, H, W): mean occupancy, per-pixel occupancy
    and active-value mean / standard deviation maps, pixel-sum and active-pixel intensity quantiles
    [ptrel]. Summed over ``chunk`` images at a time (float64 sums), so a fine grid's temporaries stay a few
    chunks, not copies of the whole set."""
    v = images[:, 0]
    parts = [v[i:i + chunk] for i in range(0, len(v), chunk)]
    count = sum((p > 0).double().sum(0) for p in parts)
    mean = sum(p.double().sum(0) for p in parts) / count.clamp_min(1.0)
    var = sum((((p.double() - mean) * (p > 0)) ** 2).sum(0) for p in parts) / count.clamp_min(1.0)
    sums = torch.cat([normalizer.images_inverse(p).sum((1, 2)) for p in parts])
    active = torch.cat([p[p > 0] for p in parts])
    return {"occupancy": float(count.sum() / v.numel()), "occupancy_map": (count / len(v)).float().tolist(),
            "value_map": mean.float().tolist(), "value_std_map": var.sqrt().float().tolist(),
            "pixel_sum_quantiles": quantiles(sums.numpy()),
            "pixel_value_quantiles": quantiles(normalizer.images_inverse(active).numpy())}


def pooled_image_info(images: torch.Tensor, normalizer: Normalizer, smallest: int = 8,
                      chunk: int = 2048) -> dict[str, dict]:
    """`image_info` of the normalized training images (N, 1, H, W) sum-pooled in ptrel to every coarser grid
    H / 2, H / 4, ... down to ``smallest`` (keyed by that grid's npix; `DataInfo.pooled`)."""
    npix = images.shape[-1]
    levels = []
    while npix % 2 == 0 and npix // 2 >= smallest:
        npix //= 2
        levels.append(npix)
    out = {}
    for n in levels:
        k = images.shape[-1] // n
        parts = [normalizer.images(normalizer.images_inverse(images[i:i + chunk, 0]).unflatten(-1, (n, k))
                                   .unflatten(-3, (n, k)).sum((-1, -3)))
                 for i in range(0, len(images), chunk)]
        out[str(n)] = image_info(torch.cat(parts)[:, None], normalizer)
    return out


class EpochSeededSampler(Sampler[int]):
    """Random permutation from ``seed + epoch`` (Lightning calls ``set_epoch``), so a resumed run sees
    exactly the batches an uninterrupted one would."""

    def __init__(self, length: int, seed: int) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=gen).tolist())

    def __len__(self) -> int:
        return self.length


class JetDataset(Dataset):
    """Tensors of one split; items are dicts (see the module docstring)."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors
        self.length = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class JetDataModule(pl.LightningDataModule):
    """Jets of one or more classes, split 0.7 / 0.15 / 0.15 with a seed, as points or images."""

    def __init__(
        self,
        jet_types: str | Sequence[str] = "g",
        num_jets: int = 10000,
        num_particles: int = NUM_PARTICLES,
        representation: Literal["points", "images"] = "points",
        npix: int = NPIX,
        extent: float = EXTENT,
        preprocess_images: bool = True,
        data_dir: str | None = None,
        jetnet_dir: str | None = None,
        seed: int = 0,
        split: Sequence[float] = (0.7, 0.15, 0.15),
        batch_size: int = 128,
        num_workers: int = 0,
        generation_workers: int = 1,
        normalize: bool = True,
        image_scale: float | None = None,
        mix: Literal["balanced", "natural"] = "balanced",
        conditions: Sequence[str] = (),
        preset: str = PRESET,
        transform: str = "none",
        floor: float = DEFAULT_FLOOR,
        threshold: float = IMAGE_THRESHOLD,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        types = [jet_types] if isinstance(jet_types, str) else list(jet_types)
        for t in types:
            if t not in JET_TYPES:
                raise SparsegenInputError(
                    "jet_types", f"unknown jet type '{t}' (one of {', '.join(JET_TYPES)})"
                )
        if representation not in ("points", "images"):
            raise SparsegenInputError(
                "representation", f"must be 'points' or 'images', got '{representation}'"
            )
        if len(split) != 3 or abs(sum(split) - 1.0) > 1e-6 or min(split) < 0:
            raise SparsegenInputError(
                "split", f"must be three non-negative fractions summing to 1, got {list(split)}"
            )
        if num_jets < 3:
            raise SparsegenInputError("num_jets", f"must be >= 3, got {num_jets}")
        check_image_settings(transform, floor, threshold)
        if not extent > 0:
            raise SparsegenInputError("extent", f"must be > 0, got {extent}")
        if mix not in ("balanced", "natural"):
            raise SparsegenInputError("mix", f"must be 'balanced' or 'natural', got '{mix}'")
        if len(set(types)) != len(types):
            raise SparsegenInputError("jet_types", f"repeated class in {types}")
        self.conditions = check_condition_names(conditions)
        self.mix = mix
        preset_config(preset, types[0])  # unknown names fail here, before anything is generated
        self.preset = preset
        self.jet_types = types
        self.num_jets = num_jets
        self.num_particles = num_particles
        self.representation = representation
        self.data_dir = data_dir
        self.jetnet_dir = jetnet_dir
        self.seed = seed
        self.npix, self.preprocess_images = npix, preprocess_images
        self.extent = float(extent)
        self.transform, self.floor, self.threshold = transform, float(floor), float(threshold)
        self.split = tuple(split)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.generation_workers = generation_workers
        self.normalize = normalize
        self.image_scale = image_scale
        self.normalizer: Normalizer | None = None
        self.condition_spec: ConditionSpec | None = None
        self.splits: dict[str, Jets] = {}
        self.datasets: dict[str, JetDataset] = {}

    # ----------------------------------------------------------------- files
    def files(self) -> list[Path]:
        """One file per class: real JetNet files or the generation cache."""
        if self.jetnet_dir:
            return [jetnet_path(self.jetnet_dir, t, self.num_particles) for t in self.jet_types]
        return [
            cached_jets_path(self.generation_config(t), self.num_jets, self.data_dir) for t in self.jet_types
        ]

    def generation_config(self, jet_type: str) -> GenerationConfig:
        """The generation settings of one class (the cache key): those of ``preset``."""
        return preset_config(self.preset, jet_type, num_particles=self.num_particles, seed=self.seed)

    def prepare_data(self) -> None:
        """Generate missing cache files (real JetNet files must already be there)."""
        for t, path in zip(self.jet_types, self.files()):
            if path.exists():
                continue
            if self.jetnet_dir:
                raise SparsegenInputError(
                    str(path), "JetNet file not found (download it from Zenodo into jetnet_dir)"
                )
            ensure_generated(
                self.generation_config(t), self.num_jets, self.data_dir, workers=self.generation_workers
            )

    def load_jets(self) -> Jets:
        """All jets of the configured classes (``num_jets`` per class), before the split."""
        parts = []
        for t, path in zip(self.jet_types, self.files()):
            jets = Jets.load(path, jet_types=[t] if self.jetnet_dir else None)
            if len(jets) < self.num_jets and self.mix == "balanced":
                raise SparsegenInputError(
                    str(path),
                    f"has {len(jets)} jets of class {t}, {self.num_jets} requested "
                    "(mix: natural takes what each file holds)",
                )
            parts.append(jets[: self.num_jets].hardest(self.num_particles))
        return Jets.concat(parts)

    # ------------------------------------------------------------------ setup
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        jets = self.load_jets()
        order = np.random.default_rng(self.seed).permutation(len(jets))
        n_train = int(round(self.split[0] * len(jets)))
        n_val = int(round(self.split[1] * len(jets)))
        idx = {
            "train": order[:n_train],
            "val": order[n_train:n_train + n_val],
            "test": order[n_train + n_val:],
        }
        self.splits = {name: jets[np.sort(i)] for name, i in idx.items()}
        train_images = self.images_of(self.splits["train"]) if self.representation == "images" else None
        if self.normalize:
            self.normalizer = Normalizer.fit(
                self.splits["train"], self.image_scale, train_images, self.transform,
                self.floor, self.threshold,
            )
        else:
            self.normalizer = Normalizer.identity()
        self.condition_spec = ConditionSpec.fit(self.conditions, self.splits["train"], self.jet_types,
                                                self.num_particles)
        del train_images  # made again, normalized, by `_tensors`: one copy of a fine grid's images at a time
        self.datasets = {name: self._tensors(split) for name, split in self.splits.items()}

    def images_of(self, jets: Jets) -> np.ndarray:
        """Images of ``jets`` with this module's pixelization settings (N, H, W)."""
        return jets.to_images(self.npix, self.extent, self.preprocess_images)

    def _tensors(self, jets: Jets) -> JetDataset:
        assert self.normalizer is not None
        out = {"label": torch.as_tensor(jets.labels), "jet_features": torch.as_tensor(jets.jet_features)}
        if self.representation == "points":
            mask = torch.as_tensor(jets.mask)
            out["particles"] = self.normalizer.points(torch.as_tensor(jets.particles), mask)
            out["mask"] = mask
        else:
            chunk = 2048  # pixelized and normalized a slice at a time: one copy of a fine grid's images
            images = torch.empty(len(jets), 1, self.npix, self.npix)
            for i in range(0, len(jets), chunk):
                raw = torch.as_tensor(self.images_of(jets[i:i + chunk]))
                images[i:i + chunk, 0] = self.normalizer.images(raw)
            out["images"] = images
        if self.conditions:
            assert self.condition_spec is not None
            out["cond"] = torch.as_tensor(self.condition_spec.encode(raw_conditions(jets)))
        return JetDataset(out)

    def data_info(self) -> DataInfo:
        """Everything a model needs to know about this data (stored in its checkpoints; see `DataInfo`).

        Representation and geometry (``representation``, ``num_particles``, ``npix``, ``extent``), the
        classes, the fitted `Normalizer`, the training multiplicity histogram, image statistics (mean and
        per-pixel occupancy, per-pixel value maps, pixel-sum quantiles), and the `ConditionSpec`: the
        conditions with their transform and the per-class training distributions of class, pT, eta, mass and
        multiplicity that generated jets are drawn from.
        """
        if not self.datasets:
            self.setup()
        assert self.normalizer is not None and self.condition_spec is not None
        train = self.splits["train"]
        counts = np.bincount(train.num_particles, minlength=self.num_particles + 1)[: self.num_particles + 1]
        stats = {}
        if self.representation == "images":
            train_images = self.datasets["train"].tensors["images"]
            stats = {**image_info(train_images, self.normalizer),
                     "pooled": pooled_image_info(train_images, self.normalizer)}
        return DataInfo(
            representation=self.representation, num_particles=self.num_particles, npix=self.npix,
            extent=self.extent, jet_types=list(self.jet_types), normalizer=self.normalizer.state_dict(),
            multiplicity=(counts / max(1, counts.sum())).tolist(), conditions=self.condition_spec.to_dict(),
            **stats)

    def real_jets(self, split: str = "test") -> Jets:
        """Un-normalized real jets of a split (for metrics)."""
        if not self.splits:
            self.setup()
        return self.splits[split]

    # ------------------------------------------------------------ dataloaders
    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        if not self.datasets:
            self.setup()
        data = self.datasets[name]
        sampler = EpochSeededSampler(len(data), self.seed) if shuffle else None
        # the loader's own generator: creating an iterator must not draw from the global RNG (exact resume)
        return DataLoader(data, batch_size=self.batch_size, sampler=sampler,
                          drop_last=shuffle and len(data) > self.batch_size, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False)
