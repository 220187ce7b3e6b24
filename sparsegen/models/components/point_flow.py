"""Velocity networks for flow matching on particle sets: ``v_θ(x_t, t | n, c)``.

Interface: ``forward(x (B, P, F), mask (B, P), t (B,), cond (B, C) | None) -> v (B, P, F)``, equivariant
to permutations of the real particles, zero in padded slots, never reading them. The per-jet context is
the time t (Fourier features), the multiplicity n / P and, for a conditional model (``cond_dim > 0``,
linked from the data's ``conditions``), the embedded jet condition (`ConditionEmbedding`: class, pT, ...).

* `EPiCVelocity` — EPiC layers (EPiC-FM, Buhmann et al. 2023): cost linear in P, the fast choice.
* `TransformerVelocity` — a transformer encoder with key padding masks (PC-JeDi-like), condition added
  to every particle embedding; cost quadratic in P.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sparsegen.data.info import linked_setting
from sparsegen.models.components.conditioning import ConditionEmbedding, with_condition
from sparsegen.models.components.point_parts import (
    EPiCLayer,
    FourierTime,
    ParticleAttention,
    multiplicity_fraction,
    zero_padded,
)
from sparsegen.models.spec import Component
from sparsegen.nn.points import mlp


def nearest_offsets(x: Tensor, mask: Tensor, k: int) -> Tensor:
    """Where each particle's nearest neighbours are: (B, P, F) → (B, P, k (F + 1)).

    For every real particle i, its k nearest other real particles j in (η, φ) of the current state, nearest
    first, each as [x_j − x_i ‖ 1] (missing neighbours, in jets with fewer than k + 1 particles, and padded
    slots are 0). A network that only pools globally sees other particles through a fixed-size summary and
    cannot tell a particle where its neighbour is; real jets are full of nearly collinear pairs (how close:
    docs/point_models.md, "The quickstart recipe per CPU-minute"), which these offsets make learnable.
    Equivariant under permutations of the slots; cost O(P²) distances, no learned pair function.
    """
    b, p, f = x.shape
    k = min(k, p - 1)
    if k < 1:
        return x.new_zeros(b, p, 0)
    pos = zero_padded(x, mask)
    dist = torch.cdist(pos[..., :2], pos[..., :2])
    pair = mask[:, :, None] & mask[:, None, :] & ~torch.eye(p, dtype=torch.bool, device=x.device)
    dist = dist.masked_fill(~pair, float("inf"))
    near, idx = dist.topk(k, dim=-1, largest=False)
    neighbours = torch.gather(pos[:, None].expand(b, p, p, f), 2, idx[..., None].expand(b, p, k, f))
    valid = torch.isfinite(near)[..., None].to(x.dtype)
    out = torch.cat([neighbours - pos[:, :, None, :], torch.ones_like(valid)], dim=-1) * valid
    return out.reshape(b, p, k * (f + 1))


class _Context(nn.Module):
    """(t, mask, cond) → per-jet context [Fourier(t) ‖ n/P ‖ e(cond)] (B, C)."""

    def __init__(self, cond_dim: int, cond_embed: int, time_freqs: int) -> None:
        super().__init__()
        self.time = FourierTime(time_freqs)
        self.cond = ConditionEmbedding(cond_dim, cond_embed)
        self.dim = self.time.dim + 1 + self.cond.dim

    def forward(self, t: Tensor, mask: Tensor, cond: Tensor | None, like: Tensor) -> Tensor:
        base = torch.cat([self.time(t.to(like.dtype)), multiplicity_fraction(mask).to(like.dtype)], dim=1)
        return with_condition(base, self.cond(cond, len(t), like))


class EPiCVelocity(Component):
    """v_θ = W_out h^{(L)}, h^{(0)}_i = σ(W_in x_i), g^{(0)} = φ(c), L `EPiCLayer`s conditioned on c.

    c = [Fourier(t) ‖ n/P ‖ e(condition)] enters the global update and, through it, every particle
    (``film=True``: as a FiLM scale and shift of every layer's particle features, `EPiCLayer`).
    ``attention=k``: a `ParticleAttention` block after each of the first k layers, so a particle sees
    where the others are, not only their pooled summary.
    The output layer starts at zero, so the untrained field is v = 0.
    """

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    def __init__(self, features: int = 3, hidden: int = 64, global_dim: int = 16, num_layers: int = 3,
                 cond_dim: int | None = None, cond_embed: int = 16, time_freqs: int = 8,
                 neighbours: int = 0, film: bool = False, attention: int = 0, heads: int = 4) -> None:
        super().__init__()
        if neighbours < 0:
            raise ValueError(f"neighbours must be >= 0, got {neighbours}")
        if not 0 <= attention <= num_layers:
            raise ValueError(f"attention must be in [0, num_layers={num_layers}], got {attention}")
        self.features, self.cond_dim = features, int(linked_setting("cond_dim", cond_dim))
        self.neighbours = neighbours
        self.cond = _Context(self.cond_dim, cond_embed, time_freqs)
        self.local_in = nn.Linear(features + neighbours * (features + 1), hidden)
        self.global_in = mlp([self.cond.dim, global_dim, global_dim])
        self.layers = nn.ModuleList(
            EPiCLayer(hidden, global_dim, cond_dim=self.cond.dim, film=film) for _ in range(num_layers)
        )
        self.attention = nn.ModuleList(ParticleAttention(hidden, heads) for _ in range(attention))
        self.out = nn.Linear(hidden, features)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor, mask: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        c = self.cond(t, mask, cond, x)
        x = zero_padded(x, mask)
        if self.neighbours:
            x = torch.cat([x, nearest_offsets(x, mask, self.neighbours)], dim=-1)
        h = self.act(self.local_in(x))
        g = self.global_in(c)
        for i, layer in enumerate(self.layers):
            h, g = layer(h, g, mask, c)
            if i < len(self.attention):
                h = self.attention[i](h, mask)
        return zero_padded(self.out(h), mask)


class TransformerVelocity(Component):
    """Transformer encoder over the real particles (``src_key_padding_mask`` hides padded slots).

    h_i = W_in x_i + W_c c; ``num_layers`` pre-norm encoder layers; v_i = W_out h_i (zero-initialized).
    """

    sparsity = "points"  # as the studies record this part: sparse by construction (only real particles)

    def __init__(
        self,
        features: int = 3,
        hidden: int = 64,
        heads: int = 4,
        num_layers: int = 3,
        ff_mult: int = 2,
        cond_dim: int | None = None,
        cond_embed: int = 16,
        time_freqs: int = 8,
    ) -> None:
        super().__init__()
        self.features, self.cond_dim = features, int(linked_setting("cond_dim", cond_dim))
        self.cond = _Context(self.cond_dim, cond_embed, time_freqs)
        self.local_in = nn.Linear(features, hidden)
        self.cond_in = mlp([self.cond.dim, hidden, hidden])
        layer = nn.TransformerEncoderLayer(hidden, heads, ff_mult * hidden, dropout=0.0, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.out = nn.Linear(hidden, features)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, mask: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        c = self.cond(t, mask, cond, x)
        h = self.local_in(zero_padded(x, mask)) + self.cond_in(c)[:, None, :]
        empty = ~mask.any(1)
        keys = mask.clone()
        keys[empty, 0] = True  # an all-padded jet would make attention NaN; its output is zeroed anyway
        h = self.encoder(h, src_key_padding_mask=~keys)
        return zero_padded(self.out(h), mask)
