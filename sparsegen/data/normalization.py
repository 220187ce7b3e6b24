"""Invertible feature scaling of training batches, fitted on the training split and stored in checkpoints.

points: each particle feature standardized over real particles, x' = (x - mean) / std; padded slots stay
exactly 0.

images: pixel intensities x are pixel pT / jet pT (ptrel, a jet's pixels sum to ~1). An intensity
transform T with a floor f > 0 (CaloScore-style) spreads the five decades of pixel intensities evenly:

* ``none``:  T(x) = x;
* ``log``:   T(x) = log(x + f);
* ``logit``: T(x) = logit(f + (1 - 2f) x)   (x <= 1: a pixel never holds more than the jet).

The network sees v = (T(x) - T(0)) / image_scale. Anchoring at T(0) keeps every empty pixel *exactly* 0
(all zeros collapse to one value, and it is 0) and every active pixel positive, so sparse layers, ReLU
heads and occupancy masks work in the transformed space unchanged. ``image_scale`` (fitted: the 99.9th
percentile of the transformed non-zero training pixels) makes the active values O(1).

Threshold: pixels below ``threshold`` (ptrel) are empty. `Normalizer.images` zeroes them in the data
before transforming, and `Normalizer.images_inverse` zeroes generated pixels below it after the exact
inverse, so a generator's near-zero outputs become exact zeros and ``images_inverse(images(x))`` equals x
with its sub-threshold pixels removed (float32 round-off aside). The default, `IMAGE_THRESHOLD` = 1e-5
(10 MeV in a 1 TeV jet), is the metrics' read-out threshold; the few pixels it removes from generated
Pythia jets are very soft photons, none of which an occupancy metric counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets

TRANSFORMS = ("none", "log", "logit")
IMAGE_THRESHOLD = 1e-5
"""Default pixel threshold [ptrel]: the read-out threshold of `sparsegen.metrics.sparsity`."""
DEFAULT_FLOOR = 1e-6
"""Default transform floor [ptrel]: zeros sit log(1 + threshold/floor) ≈ 2.4 log-units below the softest
kept pixel, so a generator's empty and active outputs are well apart."""


CHUNK = 1024
"""Images per pass of an elementwise transform of a whole data set: its float64 temporaries stay bounded
(a training set of 128×128 images is gigabytes in float64)."""


def _by_chunks(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn`` (elementwise) over the leading dimension of ``x`` in `CHUNK`-sized slices (a batch in
    training, or anything that carries a gradient, in one pass)."""
    if x.dim() < 3 or len(x) <= CHUNK or x.requires_grad:
        return fn(x)
    return torch.cat([fn(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])


def check_image_settings(transform: str, floor: float, threshold: float) -> None:
    """Refuse an unknown transform, a floor <= 0 or a negative threshold (one `SparsegenInputError`)."""
    if transform not in TRANSFORMS:
        raise SparsegenInputError(
            "transform", f"unknown intensity transform '{transform}' (one of {', '.join(TRANSFORMS)})"
        )
    if not (isinstance(floor, (int, float)) and math.isfinite(floor) and floor > 0):
        raise SparsegenInputError("floor", f"the transform floor must be a finite number > 0, got {floor}")
    if transform == "logit" and floor >= 0.5:
        raise SparsegenInputError("floor", f"the logit floor must be < 0.5, got {floor}")
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise SparsegenInputError(
            "threshold", f"the pixel threshold must be a finite number >= 0, got {threshold}"
        )


@dataclass
class Normalizer:
    """Invertible feature scaling (see the module docstring)."""

    mean: np.ndarray
    std: np.ndarray
    image_scale: float = 1.0
    transform: str = "none"
    floor: float = DEFAULT_FLOOR
    threshold: float = 0.0

    def __post_init__(self) -> None:
        check_image_settings(self.transform, self.floor, self.threshold)

    @classmethod
    def fit(cls, jets: Jets, image_scale: float | None = None, images: np.ndarray | None = None,
            transform: str = "none", floor: float = DEFAULT_FLOOR, threshold: float = 0.0) -> Normalizer:
        real = jets.particles[jets.mask]
        mean = real.mean(0) if len(real) else np.zeros(3, np.float32)
        std = real.std(0) if len(real) else np.ones(3, np.float32)
        std = np.where(std > 0, std, 1.0)
        out = cls(mean.astype(np.float32), std.astype(np.float32), 1.0, transform, float(floor),
                  float(threshold))
        if image_scale is None and images is not None:
            v = out.images(torch.as_tensor(images))
            v = v[v > 0]
            image_scale = float(torch.quantile(v.double()[:1_000_000], 0.999)) if len(v) else None
        out.image_scale = float(image_scale or 1.0)
        return out

    def points(self, particles: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean, std = (torch.as_tensor(self.mean, device=particles.device),
                     torch.as_tensor(self.std, device=particles.device))
        return torch.where(mask[..., None], (particles - mean) / std, torch.zeros_like(particles))

    def points_inverse(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean, std = torch.as_tensor(self.mean, device=x.device), torch.as_tensor(self.std, device=x.device)
        return torch.where(mask[..., None], x * std + mean, torch.zeros_like(x))

    # ------------------------------------------------------------------ images
    def _t(self, x: torch.Tensor) -> torch.Tensor:
        """T(x) - T(0), float64 (differentiable)."""
        f = self.floor
        if self.transform == "none":
            return x
        if self.transform == "log":
            return torch.log1p(x / f)
        u = f + (1 - 2 * f) * x.clamp(max=1.0)
        return torch.log(u / (1 - u)) - math.log(f / (1 - f))

    def _t_inverse(self, y: torch.Tensor) -> torch.Tensor:
        """x from T(x) - T(0), float64 (differentiable; the log is capped at x = 1 against overflow)."""
        f = self.floor
        if self.transform == "none":
            return y
        if self.transform == "log":
            return f * torch.expm1(y.clamp(max=math.log1p(1.0 / f)))
        u = torch.sigmoid(y + math.log(f / (1 - f)))
        return (u - f) / (1 - 2 * f)

    def transform_images(self, x: torch.Tensor) -> torch.Tensor:
        """Intensities [ptrel] → network values v = (T(x) - T(0)) / image_scale, no threshold (differentiable;
        what a generator that builds ptrel intensities uses to hand them to the critic)."""
        return (self._t(x.double()) / self.image_scale).to(x.dtype)

    def intensities(self, v: torch.Tensor) -> torch.Tensor:
        """Network values → intensities [ptrel], no threshold (differentiable; for global features)."""
        return self._t_inverse(v.double() * self.image_scale).to(v.dtype)

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """Data images [ptrel] → network values; pixels below ``threshold`` become exact zeros first."""
        def one(x: torch.Tensor) -> torch.Tensor:
            return self.transform_images(torch.where(x >= self.threshold, x, torch.zeros_like(x)))

        return _by_chunks(one, images)

    def images_inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Network values → images [ptrel]: the exact inverse, then every pixel below ``threshold`` (and every
        non-positive one) is exactly 0."""
        def one(v: torch.Tensor) -> torch.Tensor:
            out = self.intensities(v)
            keep = (out >= self.threshold * (1 - 1e-5)) & (out > 0)  # 1e-5: float32 round-off, round trip
            return torch.where(keep, out, torch.zeros_like(out))

        return _by_chunks(one, x)

    def value_of(self, intensity: float) -> float:
        """The network value of one intensity [ptrel] (e.g. where the threshold sits)."""
        return float(self.transform_images(torch.tensor([float(intensity)], dtype=torch.float64))[0])

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "image_scale": self.image_scale,
                "transform": self.transform, "floor": self.floor, "threshold": self.threshold}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Normalizer:
        return cls(np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32),
                   float(state["image_scale"]), str(state.get("transform", "none")),
                   float(state.get("floor", DEFAULT_FLOOR)), float(state.get("threshold", 0.0)))

    @classmethod
    def identity(cls) -> Normalizer:
        """No scaling (``normalize: false``)."""
        return cls(np.zeros(3, np.float32), np.ones(3, np.float32), 1.0)
