"""The coordinates a particle flow models: per-feature monotone maps of the data, then standardized.

A flow from N(0, I) makes errors of roughly a fixed size in its own coordinates, so the coordinates decide
where the generated particles are precise:

* ``LogPtrel`` — z = (log ptrel − μ) / σ. ptrel spans three decades; in log it is near Gaussian, and
  every sample has 0 < ptrel ≤ 1.
* ``AsinhAngles`` — z = (asinh(Δ / s) − μ) / σ for Δ = η_rel and φ_rel, s the ``width`` in radians: linear
  within ±s of the jet axis, logarithmic beyond, so a fixed error in z is a fixed *relative* error in the
  distance from the axis. Most of a jet's particles sit in a tight core around its axis, and N-subjettiness
  is set by that core (how tight, and how much position noise moves τ21: docs/point_models.md, "The
  quickstart recipe per CPU-minute", "Why τ21 is so sensitive").

μ and σ (per coordinate) are fitted once, on the real particles of the first training batch (a
data-dependent initialization; buffers, so they travel with the checkpoint). ``inverse`` maps back into the
physical range (ptrel ≤ 1, |Δ| ≤ ``max_angle``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class StandardizedMap(nn.Module):
    """z = (g(x) − μ) / σ for a fixed monotone g (``forward_map`` / ``inverse_map``), μ, σ per column."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.register_buffer("loc", torch.zeros(dims))
        self.register_buffer("scale", torch.ones(dims))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def forward_map(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def inverse_map(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Set μ, σ from real values x (N, dims)."""
        y = self.forward_map(x)
        self.loc.copy_(y.mean(0))
        self.scale.copy_(y.std(0).clamp_min(1e-3) if len(y) > 1 else torch.ones_like(self.scale))
        self.fitted.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        return (self.forward_map(x) - self.loc) / self.scale

    def inverse(self, z: Tensor) -> Tensor:
        return self.inverse_map(z * self.scale + self.loc)


class LogPtrel(StandardizedMap):
    """g(ptrel) = log max(ptrel, eps); the inverse keeps ptrel in (0, 1]."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__(1)
        self.eps = eps

    def forward_map(self, x: Tensor) -> Tensor:
        return x.clamp_min(self.eps).log()

    def inverse_map(self, y: Tensor) -> Tensor:
        return y.clamp(max=0.0).exp()  # a particle never carries more than its jet's pT


class AsinhAngles(StandardizedMap):
    """g(Δ) = asinh(Δ / width) on (η_rel, φ_rel); the inverse keeps |Δ| ≤ ``max_angle``."""

    def __init__(self, width: float = 0.02, max_angle: float = 1.0) -> None:
        super().__init__(2)
        if not width > 0:
            raise ValueError(f"angle_width must be > 0 (radians), got {width}")
        self.width, self.max_angle = float(width), float(max_angle)
        self.limit = math.asinh(self.max_angle / self.width)  # |asinh(Δ / s)| of the largest angle

    def forward_map(self, x: Tensor) -> Tensor:
        return torch.asinh(x / self.width)

    def inverse_map(self, y: Tensor) -> Tensor:
        return self.width * torch.sinh(y.clamp(-self.limit, self.limit))
