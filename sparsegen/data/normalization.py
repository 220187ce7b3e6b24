"""Invertible feature scaling of training batches, fitted on the training split and stored in checkpoints.

points: each particle feature standardized over real particles, x' = (x - mean) / std; padded slots stay
exactly 0. images: intensities divided by a constant ``image_scale`` (default: the 99.9th percentile of
non-zero training pixels), so zeros stay zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sparsegen.core.jets import Jets


@dataclass
class Normalizer:
    """Invertible feature scaling (see the module docstring)."""

    mean: np.ndarray
    std: np.ndarray
    image_scale: float = 1.0

    @classmethod
    def fit(cls, jets: Jets, image_scale: float | None = None, images: np.ndarray | None = None) -> Normalizer:
        real = jets.particles[jets.mask]
        mean = real.mean(0) if len(real) else np.zeros(3, np.float32)
        std = real.std(0) if len(real) else np.ones(3, np.float32)
        std = np.where(std > 0, std, 1.0)
        if image_scale is None and images is not None and (images > 0).any():
            image_scale = float(np.percentile(images[images > 0], 99.9))
        return cls(mean.astype(np.float32), std.astype(np.float32), float(image_scale or 1.0))

    def points(self, particles: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean, std = torch.as_tensor(self.mean, device=particles.device), torch.as_tensor(self.std, device=particles.device)
        return torch.where(mask[..., None], (particles - mean) / std, torch.zeros_like(particles))

    def points_inverse(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean, std = torch.as_tensor(self.mean, device=x.device), torch.as_tensor(self.std, device=x.device)
        return torch.where(mask[..., None], x * std + mean, torch.zeros_like(x))

    def images(self, images: torch.Tensor) -> torch.Tensor:
        return images / self.image_scale

    def images_inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.image_scale

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "image_scale": self.image_scale}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Normalizer:
        return cls(np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32), float(state["image_scale"]))

    @classmethod
    def identity(cls) -> Normalizer:
        """No scaling (``normalize: false``)."""
        return cls(np.zeros(3, np.float32), np.ones(3, np.float32), 1.0)
