"""Point-cloud VAE components: set encoders and a set decoder with a multiplicity head.

* encoders: ``forward((x, mask)) -> (B, out_dim)``, invariant to particle order, padded slots never read;
  ``.out_dim``. `PointNetSetEncoder` wraps `sparsegen.nn.PointNetEncoder`; `EdgeConvSetEncoder` stacks
  `sparsegen.nn.EdgeConvBlock` (dynamic kNN graphs) before a masked mean/max pool.
* decoder: `PointSetDecoder` ``forward(z) -> (x̂ (B, P, 3), multiplicity logits (B, P + 1))`` — the raw
  output the permutation-invariant reconstruction losses (``recon: chamfer | hungarian`` in `VAE`) compare
  with the input set: the first n slots of x̂ against the n real particles, plus the cross entropy of the
  multiplicity head. ``to_sample(raw, generator) -> (x, mask)`` draws n from the head (or from the training
  histogram with ``multiplicity="data"``) and keeps the first n slots, padded slots exactly 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import torch
from torch import Tensor, nn

from sparsegen.data.info import linked_setting
from sparsegen.models.components.point_parts import (
    DataPrior,
    multiplicity_fraction,
    prefix_mask,
    with_multiplicity,
    zero_padded,
)
from sparsegen.models.spec import Component
from sparsegen.nn.points import EdgeConvBlock, PointNetEncoder, masked_pool, mlp

PointSample = tuple[Tensor, Tensor]


class PointNetSetEncoder(Component):
    """z = ρ(⊕_i φ([x_i ‖ n/P])) with `sparsegen.nn.PointNetEncoder` (PyG pooling). (x, mask) → (B, out_dim).

    For an l1 feature penalty on the per-particle features use ``l1_modules: [pointnet.phi]`` in `VAE`.
    """

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    def __init__(self, features: int = 3, out_dim: int = 128, hidden: Sequence[int] = (64, 128),
                 head: Sequence[int] = (128,), pool: Literal["sum", "mean", "max"] = "max") -> None:
        super().__init__()
        self.out_dim = out_dim
        self.pointnet = PointNetEncoder(features + 1, out_dim, hidden=hidden, head_hidden=head, pool=pool)

    def forward(self, sample: PointSample) -> Tensor:
        x, mask = sample
        return self.pointnet(with_multiplicity(x, mask), mask)


class EdgeConvSetEncoder(Component):
    """EdgeConv (DGCNN / ParticleNet) encoder: kNN EdgeConv blocks, then [mean ‖ max ‖ n/P] → MLP → (B,
    out_dim).

    The first block's graph is built in (etarel, phirel); later ones on the features (dynamic graph). The
    blocks live in ``taps``, so `VAE(l1_penalty=…)` finds them without ``l1_modules``.
    """

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    def __init__(self, features: int = 3, out_dim: int = 128, hidden: Sequence[int] = (32, 64), k: int = 8,
                 head: Sequence[int] = (128,)) -> None:
        super().__init__()
        self.out_dim = out_dim
        dims = [features + 1, *hidden]
        self.taps = nn.ModuleList(EdgeConvBlock(a, b, k=k) for a, b in pairwise(dims))
        self.head = mlp([2 * dims[-1] + 1, *head, out_dim])

    def forward(self, sample: PointSample) -> Tensor:
        x, mask = sample
        h = with_multiplicity(x, mask)
        pos = zero_padded(x[..., :2], mask)
        for i, block in enumerate(self.taps):
            h = block(h, mask, pos=pos if i == 0 else None)
        pooled = [
            masked_pool(h, mask, "mean"),
            masked_pool(h, mask, "max"),
            multiplicity_fraction(mask).to(h.dtype),
        ]
        return self.head(torch.cat(pooled, dim=1))


class PointSetDecoder(Component):
    """z (B, latent) → MLP → P particle slots (B, P, 3) and multiplicity logits (B, P + 1).

    Slot order is learned (slot 1 tends to the hardest particle), so "the first n slots" is a set of n
    particles; ptrel comes out above the physical floor (softplus, as in the GAN generators). n = 0 is
    never sampled. ``multiplicity``: "head" (the decoder's own prediction) or "data" (training histogram).
    """

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    def __init__(
        self,
        latent_dim: int = 32,
        num_particles: int | None = None,
        hidden: Sequence[int] = (256, 256),
        features: int = 3,
        multiplicity: Literal["head", "data"] = "head",
    ) -> None:
        super().__init__()
        num_particles = int(linked_setting("num_particles", num_particles))
        if multiplicity not in ("head", "data"):
            raise ValueError(f"multiplicity must be 'head' or 'data', got {multiplicity!r}")
        self.num_particles, self.features, self.multiplicity = num_particles, features, multiplicity
        self.prior = DataPrior(num_particles)
        self.trunk = mlp([latent_dim, *hidden], final_act=True)
        self.particles = nn.Linear(hidden[-1], num_particles * features)
        self.counts = nn.Linear(hidden[-1], num_particles + 1)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        h = self.trunk(z)
        x = self.particles(h).view(-1, self.num_particles, self.features)
        return self.prior.physical(x), self.counts(h)

    def to_sample(self, raw: tuple[Tensor, Tensor], generator: torch.Generator | None = None) -> PointSample:
        x, logits = raw
        if self.multiplicity == "data":
            counts = self.prior.sample_counts(x.shape[0], x.device, generator)
        else:
            logits = logits.clone()
            logits[:, 0] = float("-inf")
            counts = torch.multinomial(torch.softmax(logits.float(), dim=1), 1, generator=generator)[:, 0]
        mask = prefix_mask(counts, self.num_particles)
        return zero_padded(x, mask), mask


__all__ = ["EdgeConvSetEncoder", "PointNetSetEncoder", "PointSetDecoder"]
