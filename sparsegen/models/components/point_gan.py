"""Point-cloud GAN components: generators and critics for jets as particle sets (B, P, 3) + mask (B, P).

Conventions (shared with the image networks, `image_gan`; a point sample is the tuple ``(x, mask)``):

* generators: ``sample_noise(n, device, generator, counts=None) -> noise`` and ``forward(noise, generator,
  cond=None) -> (x, mask)``. The noise carries the mask: the multiplicity n of each jet is given
  (``counts``) or drawn from the training histogram (``DataPrior``), the first n slots are real, and every
  padded slot of ``x`` is exactly 0. ptrel comes
  out as ``floor + softplus(raw)`` in normalized space, floor = ``-mean/std`` of the training ptrel, so
  un-normalized ptrel is strictly positive (``to_jets``' clip at 0 never fires).
* critics: ``forward((x, mask), cond=None) -> (B,)``. They never read padded slots, are invariant to particle
  order, and get n / P as an extra per-particle feature (mean pooling alone cannot see the multiplicity).
* the EPiC generator and critic are conditional when ``cond_dim > 0`` (linked from the data's
  ``conditions``): the embedded condition (`ConditionEmbedding`) joins n / P in their per-jet context.

Generators: `MPGenerator` (MPGAN: per-particle Gaussian noise, fully connected message passing),
`EPiCGenerator` (EPiC-GAN: per-particle and global noise, EPiC layers). Critics: `MPCritic`,
`PointNetCritic` (PyG-based `sparsegen.nn.PointNetEncoder`), `EPiCCritic` (Deep Sets with global context).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import torch
from torch import Tensor, nn

from sparsegen.data.info import linked_setting
from sparsegen.models.components.conditioning import ConditionEmbedding, with_condition
from sparsegen.models.components.point_parts import (
    DataPrior,
    EPiCLayer,
    MPLayer,
    masked_mean_sum,
    multiplicity_fraction,
    with_multiplicity,
    zero_padded,
)
from sparsegen.models.spec import Component
from sparsegen.nn.points import PointNetEncoder, mlp

PointSample = tuple[Tensor, Tensor]


class _PointGenerator(Component):
    """Shared parts: the data prior (multiplicity, ptrel floor) and the noise layout."""

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    num_particles: int
    latent_dim: int
    global_noise_dim: int = 0
    prior: DataPrior

    def sample_noise(
        self,
        n: int,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
        counts: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """(z (n, P, latent) per-particle N(0, 1), [z_global (n, G),] mask (n, P)): the mask from ``counts``
        (n,) when given, else from the training multiplicity prior."""
        if counts is None:
            mask = self.prior.sample_mask(n, device, generator)
        else:
            mask = torch.arange(self.num_particles, device=device)[None, :] < counts.to(device)[:, None]
        z = torch.randn(n, self.num_particles, self.latent_dim, device=device, generator=generator)
        if self.global_noise_dim:
            zg = torch.randn(n, self.global_noise_dim, device=device, generator=generator)
            return z, zg, mask
        return z, mask

    def _output(self, raw: Tensor, mask: Tensor) -> PointSample:
        return zero_padded(self.prior.physical(raw), mask), mask


class MPGenerator(_PointGenerator):
    """MPGAN-style generator: per-particle noise → ``mp_iters`` fully connected message-passing layers → 3
    features.

    Node features start as z_i ~ N(0, 1)^latent (plus n / P); each iteration is an `MPLayer` (edge MLP fe,
    node MLP fn, masked mean aggregation over the other real particles) to ``hidden`` features, LeakyReLU in
    between; a linear head gives [etarel, phirel, ptrel] (ptrel via the softplus floor). Published MPGAN
    size: ``latent_dim=32, hidden=32, fe=[96, 160, 192], fn=[256, 256], mp_iters=2``.
    Noise ((B, P, latent), mask (B, P)) → ((B, P, 3), mask); equivariant to permutations of the real slots.
    """

    def __init__(self, num_particles: int | None = None, latent_dim: int = 32, hidden: int = 32,
                 fe: Sequence[int] = (96, 160, 192), fn: Sequence[int] = (256, 256), mp_iters: int = 2,
                 aggr: Literal["sum", "mean"] = "mean", features: int = 3) -> None:
        super().__init__()
        num_particles = int(linked_setting("num_particles", num_particles))
        if mp_iters < 1:
            raise ValueError(f"mp_iters must be >= 1, got {mp_iters}")
        self.num_particles, self.latent_dim = num_particles, latent_dim
        self.prior = DataPrior(num_particles)
        dims = [latent_dim + 1] + [hidden] * mp_iters
        self.layers = nn.ModuleList(MPLayer(a, b, fe, fn, aggr) for a, b in pairwise(dims))
        self.act = nn.LeakyReLU(0.2)
        self.head = nn.Linear(hidden, features)

    def forward(self, noise: tuple[Tensor, Tensor], generator: torch.Generator | None = None) -> PointSample:
        z, mask = noise
        h = with_multiplicity(z, mask)
        for layer in self.layers:
            h = self.act(layer(h, mask))
        return self._output(self.head(h), mask)


class EPiCGenerator(_PointGenerator):
    """EPiC-GAN generator: per-particle noise z_i and a global noise vector, ``num_layers`` `EPiCLayer`s.

    h_i = W z_i, g = φ(z_g ‖ n/P); each layer exchanges information only through the masked mean/sum pools
    and the global vector (cost linear in P, unlike message passing's P²). Head as in `MPGenerator`.
    Noise ((B, P, latent), (B, G), mask (B, P)) → ((B, P, 3), mask).
    """

    def __init__(self, num_particles: int | None = None, latent_dim: int = 16, global_noise_dim: int = 16,
                 hidden: int = 64, global_dim: int = 16, num_layers: int = 4, features: int = 3,
                 cond_dim: int | None = None, cond_embed: int = 16) -> None:
        super().__init__()
        num_particles = int(linked_setting("num_particles", num_particles))
        self.num_particles, self.latent_dim, self.global_noise_dim = (
            num_particles,
            latent_dim,
            global_noise_dim,
        )
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.cond = ConditionEmbedding(self.cond_dim, cond_embed)
        self.prior = DataPrior(num_particles)
        self.local_in = nn.Linear(latent_dim, hidden)
        self.global_in = mlp([global_noise_dim + 1 + self.cond.dim, global_dim, global_dim])
        self.layers = nn.ModuleList(EPiCLayer(hidden, global_dim, cond_dim=1 + self.cond.dim)
                                    for _ in range(num_layers))
        self.head = nn.Linear(hidden, features)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, noise: tuple[Tensor, Tensor, Tensor], generator: torch.Generator | None = None,
                cond: Tensor | None = None) -> PointSample:
        z, zg, mask = noise
        c = with_condition(multiplicity_fraction(mask).to(z.dtype), self.cond(cond, len(z), z))
        h = zero_padded(self.act(self.local_in(z)), mask)
        g = self.global_in(torch.cat([zg, c], dim=1))
        for layer in self.layers:
            h, g = layer(h, g, mask, c)
        return self._output(self.head(h), mask)


# ----------------------------------------------------------------------------------------------- critics
class MPCritic(Component):
    """MPGAN-style critic: [x_i ‖ n/P] → ``mp_iters`` `MPLayer`s → masked mean → MLP → score (B,).

    Invariant to permutations of the real particles; padded slots are never read.
    """

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    def __init__(self, features: int = 3, hidden: int = 32, fe: Sequence[int] = (96, 160, 192),
                 fn: Sequence[int] = (256, 256), mp_iters: int = 2, head: Sequence[int] = (64,),
                 aggr: Literal["sum", "mean"] = "mean") -> None:
        super().__init__()
        dims = [features + 1] + [hidden] * mp_iters
        self.layers = nn.ModuleList(MPLayer(a, b, fe, fn, aggr) for a, b in pairwise(dims))
        self.act = nn.LeakyReLU(0.2)
        self.head = mlp([2 * hidden + 1, *head, 1])

    def forward(self, sample: PointSample) -> Tensor:
        x, mask = sample
        h = with_multiplicity(x, mask)
        for layer in self.layers:
            h = zero_padded(self.act(layer(h, mask)), mask)
        pooled = torch.cat([masked_mean_sum(h, mask), multiplicity_fraction(mask).to(h.dtype)], dim=1)
        return self.head(pooled).squeeze(1)


class PointNetCritic(Component):
    """PointNet / Deep Sets critic on `sparsegen.nn.PointNetEncoder` (PyG pooling over the real particles).

    score = ρ(⊕_i φ([x_i ‖ n/P])), ⊕ = mean, sum or max. (x (B, P, F), mask) → (B,).
    """

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    def __init__(self, features: int = 3, hidden: Sequence[int] = (64, 128, 128), head: Sequence[int] = (64,),
                 pool: Literal["sum", "mean", "max"] = "mean") -> None:
        super().__init__()
        self.pointnet = PointNetEncoder(features + 1, 1, hidden=hidden, head_hidden=head, pool=pool)

    def forward(self, sample: PointSample) -> Tensor:
        x, mask = sample
        return self.pointnet(with_multiplicity(x, mask), mask).squeeze(1)


class EPiCCritic(Component):
    """EPiC-GAN critic: ``num_layers`` `EPiCLayer`s, then [mean ‖ sum/P ‖ g ‖ n/P] → MLP → score (B,)."""

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    def __init__(self, features: int = 3, hidden: int = 64, global_dim: int = 16, num_layers: int = 3,
                 head: Sequence[int] = (64,), cond_dim: int | None = None, cond_embed: int = 16) -> None:
        super().__init__()
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.cond = ConditionEmbedding(self.cond_dim, cond_embed)
        c_dim = 1 + self.cond.dim
        self.local_in = nn.Linear(features + 1, hidden)
        self.global_in = mlp([2 * hidden + c_dim, global_dim, global_dim])
        self.layers = nn.ModuleList(EPiCLayer(hidden, global_dim, cond_dim=c_dim) for _ in range(num_layers))
        self.head = mlp([2 * hidden + global_dim + c_dim, *head, 1])
        self.act = nn.LeakyReLU(0.2)

    def forward(self, sample: PointSample, cond: Tensor | None = None) -> Tensor:
        x, mask = sample
        c = with_condition(multiplicity_fraction(mask).to(x.dtype), self.cond(cond, len(x), x))
        h = zero_padded(self.act(self.local_in(with_multiplicity(x, mask))), mask)
        g = self.global_in(torch.cat([masked_mean_sum(h, mask), c], dim=1))
        for layer in self.layers:
            h, g = layer(h, g, mask, c)
        return self.head(torch.cat([masked_mean_sum(h, mask), g, c], dim=1)).squeeze(1)
