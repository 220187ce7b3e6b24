"""Where a flow runs: `FlowSpace`, the one interface between `FlowMatching` and a representation, and
`ParticleSpace`, the particle sets' (the coordinates a particle flow models, their masks and coupling).

`FlowMatching` itself knows only the straight-line interpolant, the time schedule, the ODE and the EMA; a
`FlowSpace` says what a sample is in flow space (``to_flow`` / ``from_flow``), on which elements it lives
(``support``: a mask drawn for the jets to generate), where the source draw lives (``source``), how source
draws are paired with data (``couple``), how a per-element loss is averaged (``masked_mean``) and what it
fits on the first training batch (``fit``). A flow on another representation is a new space plus a velocity
network ``v(x, support, t, cond)`` for it.

Particle coordinates: per-feature monotone maps of the data, then standardized. A flow from N(0, I) makes
errors of roughly a fixed size in its own coordinates, so the coordinates decide where the generated
particles are precise:

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

Coupling (``coupling="ot"``, equivariant OT flow matching, Klein et al. 2023; Song et al. 2023): the source
particles of each jet are re-assigned to the data particles by an optimal matching (Hungarian algorithm on
‖x0_i − x1_j‖², ``scipy.optimize.linear_sum_assignment``). Permuting iid N(0, I) particles leaves their law
unchanged and the network is permutation equivariant, so the flow still maps N(0, I) to the data, but the
conditional paths cross far less: the field is straighter and a few ODE steps suffice. ``"independent"``
keeps the original pairing (plain CFM).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from sparsegen.data.info import DataInfo
from sparsegen.models.components.point_parts import PTREL, prefix_mask, zero_padded
from sparsegen.nn.matching import hungarian_matching

Broadcast = Callable[[Tensor], Tensor]  # a tensor of rank 0's, on every rank


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


def ot_permute_source(x0: Tensor, x1: Tensor, mask: Tensor) -> Tensor:
    """x0 with each jet's real particles permuted to the minimum-cost matching onto x1's (cost ‖x0_i −
    x1_j‖²).

    (B, P, F), (B, P, F), (B, P) → (B, P, F); padded slots untouched. Solved per jet on the CPU
    (``scipy.optimize.linear_sum_assignment``), no gradient. Prefix masks (the data module's) take a fast
    path that hands each jet's leading n × n cost block to the solver directly.
    """
    with torch.no_grad():
        cost = ((x0[:, :, None, :] - x1[:, None, :, :]) ** 2).sum(-1)
        counts = mask.sum(1)
        if not torch.equal(mask, prefix_mask(counts, mask.shape[1])):
            jet, src, dst = hungarian_matching(cost, mask)
            out = x0.clone()
            out[jet, dst] = x0[jet, src]
            return out
        c = cost.cpu().numpy()
        perm = np.tile(np.arange(mask.shape[1]), (mask.shape[0], 1))
        for b, n in enumerate(counts.tolist()):
            if n:
                rows, cols = linear_sum_assignment(c[b, :n, :n])
                perm[b, cols] = rows
        index = torch.as_tensor(perm, device=x0.device)[..., None].expand_as(x0)
        return torch.gather(x0, 1, index)


class FlowSpace(nn.Module):
    """The representation a `FlowMatching` runs on (see the module docstring); ``x`` (B, ..., F) in flow
    space, ``support`` a boolean mask of the elements a sample has (B, ...)."""

    def support(self, num: int, counts: Tensor | None, info: DataInfo, device: torch.device | str,
                generator: torch.Generator | None = None) -> Tensor:
        """The support of ``num`` samples to generate (``counts``: their sizes where given)."""
        raise NotImplementedError

    def to_flow(self, x: Tensor, support: Tensor, info: DataInfo) -> Tensor:
        """Normalized data → flow space."""
        raise NotImplementedError

    def from_flow(self, z: Tensor, support: Tensor, info: DataInfo) -> Tensor:
        """Flow space → normalized data (the inverse of `to_flow`)."""
        raise NotImplementedError

    def source(self, support: Tensor, features: int, generator: torch.Generator | None = None,
               dtype: torch.dtype | None = None) -> Tensor:
        """A source draw x0 on ``support`` (``features`` per element)."""
        raise NotImplementedError

    def couple(self, x0: Tensor, x1: Tensor, support: Tensor) -> Tensor:
        """x0 re-paired with the data x1 (the identity for an independent coupling)."""
        return x0

    def masked_mean(self, err: Tensor, support: Tensor) -> Tensor:
        """The mean of a per-element, per-feature error over the support."""
        raise NotImplementedError

    def fit(self, x: Tensor, support: Tensor, info: DataInfo, broadcast: Broadcast | None = None) -> None:
        """Fit what the space learns from data on a first training batch (nothing by default)."""


PtrelSpace = Literal["linear", "log"]
AngleSpace = Literal["linear", "asinh"]
Coupling = Literal["independent", "ot"]


class ParticleSpace(FlowSpace):
    """Particle sets (B, P, F) with a prefix mask of real particles: the flow's coordinates (``ptrel_space``,
    ``angle_space``; module docstring), N(0, I) on the real slots, padded slots exactly 0, the OT coupling
    within each jet, multiplicities drawn from the training histogram."""

    def __init__(self, ptrel_space: PtrelSpace = "linear", angle_space: AngleSpace = "linear",
                 angle_width: float = 0.02, coupling: Coupling = "independent") -> None:
        super().__init__()
        if ptrel_space not in ("linear", "log"):
            raise ValueError(f"ptrel_space must be 'linear' or 'log', got {ptrel_space!r}")
        if angle_space not in ("linear", "asinh"):
            raise ValueError(f"angle_space must be 'linear' or 'asinh', got {angle_space!r}")
        if coupling not in ("independent", "ot"):
            raise ValueError(f"coupling must be 'independent' or 'ot', got {coupling!r}")
        self.coupling = coupling
        self.ptrel_log = LogPtrel() if ptrel_space == "log" else None
        self.angles_asinh = AsinhAngles(angle_width) if angle_space == "asinh" else None

    def maps(self) -> list[tuple[slice, StandardizedMap]]:
        """(feature columns, standardized map) of the flow's non-linear coordinates."""
        maps = [(slice(0, PTREL), self.angles_asinh), (slice(PTREL, PTREL + 1), self.ptrel_log)]
        return [(cols, m) for cols, m in maps if m is not None]

    @staticmethod
    def _norm(cols: slice, like: Tensor, info: DataInfo) -> tuple[Tensor, Tensor]:
        """(mean, std) of the data normalizer's columns ``cols`` (normalized = (x − mean) / std)."""
        norm = info.normalizer
        return (torch.as_tensor(np.asarray(norm["mean"])[cols], device=like.device, dtype=like.dtype),
                torch.as_tensor(np.asarray(norm["std"])[cols], device=like.device, dtype=like.dtype))

    @staticmethod
    def multiplicity_probs(info: DataInfo) -> Tensor:
        """(P+1,) training multiplicity histogram (n = 0 removed); all-P jets when unknown."""
        p = int(info.num_particles)
        hist = info.multiplicity
        probs = torch.zeros(p + 1, dtype=torch.float64)
        if hist is not None:
            values = torch.as_tensor(hist, dtype=torch.float64)[: p + 1]
            probs[: len(values)] = values
            probs[0] = 0.0
        if probs.sum() <= 0:
            probs[-1] = 1.0
        return (probs / probs.sum()).float()

    def support(self, num: int, counts: Tensor | None, info: DataInfo, device: torch.device | str,
                generator: torch.Generator | None = None) -> Tensor:
        """Prefix masks (num, P) of the jets' multiplicities (``counts``, or drawn from the training
        histogram)."""
        if counts is None:
            counts = torch.multinomial(self.multiplicity_probs(info).to(device), num, replacement=True,
                                       generator=generator)
        return prefix_mask(counts.to(device), int(info.num_particles))

    def to_flow(self, x: Tensor, support: Tensor, info: DataInfo) -> Tensor:
        """Normalized particles (B, P, F) → the flow's coordinates; padded slots 0."""
        x = zero_padded(x, support)
        for cols, m in self.maps():
            mean, std = self._norm(cols, x, info)
            z = m(x[..., cols] * std + mean)
            x = torch.cat([x[..., :cols.start], z, x[..., cols.stop:]], dim=-1)
        return zero_padded(x, support)

    def from_flow(self, z: Tensor, support: Tensor, info: DataInfo) -> Tensor:
        for cols, m in self.maps():
            mean, std = self._norm(cols, z, info)
            raw = m.inverse(z[..., cols])
            z = torch.cat([z[..., :cols.start], (raw - mean) / std, z[..., cols.stop:]], dim=-1)
        return zero_padded(z, support)

    def source(self, support: Tensor, features: int, generator: torch.Generator | None = None,
               dtype: torch.dtype | None = None) -> Tensor:
        """x0 ~ N(0, I) on the real slots of ``support`` (B, P), zero elsewhere: (B, P, F)."""
        x0 = torch.randn(*support.shape, features, device=support.device, dtype=dtype, generator=generator)
        return zero_padded(x0, support)

    def couple(self, x0: Tensor, x1: Tensor, support: Tensor) -> Tensor:
        return ot_permute_source(x0, x1, support) if self.coupling == "ot" else x0

    def masked_mean(self, err: Tensor, support: Tensor) -> Tensor:
        return zero_padded(err, support).sum() / (support.sum().clamp_min(1) * err.shape[-1])

    def fit(self, x: Tensor, support: Tensor, info: DataInfo, broadcast: Broadcast | None = None) -> None:
        """Fit each coordinate map's standardization once, on the real particles of ``x`` (rank 0's when
        ``broadcast`` is given)."""
        for cols, m in self.maps():
            if bool(m.fitted):
                continue
            mean, std = self._norm(cols, x, info)
            m.fit((x[..., cols] * std + mean)[support])
            if broadcast is not None:
                for buf in (m.loc, m.scale):
                    buf.copy_(broadcast(buf))
