"""Building blocks shared by the point-cloud components (generators, critics, encoders, decoders, velocities).

Conventions: a jet is ``x`` (B, P, F) in the normalized training space plus a boolean ``mask`` (B, P) of real
particles. Every block reads only real slots: inputs are zeroed in padded slots on entry (``torch.where``, so
inf/NaN there cannot leak), pooling is masked, and per-particle maps never mix particles. Outputs are zero in
padded slots.

* `DataPrior` — what a generator takes from the training data (``GenerativeModel.data_info``): the
  multiplicity histogram, to draw masks, and the normalized ptrel floor ``-mean/std``, so generated ptrel is
  physical (>= 0) by construction: ptrel' = floor + softplus(raw).
* `EPiCLayer` — equivariant point cloud layer (EPiC-GAN, Buhmann et al. 2023): a global vector updated from
  masked mean/sum pools, broadcast back to every particle.
* `MPLayer` — MPGAN's fully connected message passing with arbitrary edge/node widths (fe, fn), built on
  `sparsegen.nn.MessagePassingBlock`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.info import DataInfo
from sparsegen.nn.points import MessagePassingBlock, mlp

PTREL = 2  # index of ptrel in [etarel, phirel, ptrel]


def zero_padded(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` with padded slots set to exactly 0 (robust to inf/NaN there)."""
    return torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))


def prefix_mask(counts: Tensor, num_particles: int) -> Tensor:
    """(B,) multiplicities → (B, P) boolean prefix mask (the first n slots are real)."""
    return torch.arange(num_particles, device=counts.device)[None, :] < counts[:, None]


def multiplicity_fraction(mask: Tensor) -> Tensor:
    """(B, 1) float n / P: the condition every point network gets (constant within a jet)."""
    return mask.sum(1, keepdim=True).to(torch.get_default_dtype()) / mask.shape[1]


def masked_mean_sum(h: Tensor, mask: Tensor) -> Tensor:
    """[mean_i h_i, Σ_i h_i / P] over real particles, (B, P, H) → (B, 2H).

    One batched matmul ``m (B,1,P) @ h (B,P,H)``: padded slots are multiplied by 0, so only finite values
    there are needed (every block zeroes its input on entry).
    """
    m = mask.to(h.dtype)
    total = torch.bmm(m[:, None, :], h)[:, 0]
    n = m.sum(1, keepdim=True)
    return torch.cat([total / n.clamp_min(1.0), total / mask.shape[1]], dim=1)


def with_multiplicity(x: Tensor, mask: Tensor) -> Tensor:
    """Append n / P as one more per-particle feature: (B, P, F) → (B, P, F + 1), padded slots zero."""
    frac = multiplicity_fraction(mask).to(x.dtype)[:, None, :].expand(-1, x.shape[1], 1)
    return zero_padded(torch.cat([x, frac], dim=-1), mask)


class DataPrior(nn.Module):
    """Training-data facts a generator needs (filled by ``set_data_info`` from ``GenerativeModel.data_info``).

    Buffers (not saved: ``data_info`` is in every checkpoint and is handed over again on load):
    ``probs`` (P+1,) multiplicity probabilities (default: always P particles), ``ptrel_floor`` () the
    normalized value of ptrel = 0, i.e. ``-mean_ptrel / std_ptrel`` (default 0: identity normalizer).
    """

    def __init__(self, num_particles: int) -> None:
        super().__init__()
        if num_particles < 1:
            raise ValueError(f"num_particles must be >= 1, got {num_particles}")
        self.num_particles = num_particles
        probs = torch.zeros(num_particles + 1)
        probs[-1] = 1.0
        self.register_buffer("probs", probs, persistent=False)
        self.register_buffer("ptrel_floor", torch.zeros(()), persistent=False)

    def set_data_info(self, info: DataInfo) -> None:
        """Copy the multiplicity histogram and the ptrel floor from a model's ``data_info``."""
        if info.num_particles != self.num_particles:
            raise SparsegenInputError(
                "config",
                f"the network was built for num_particles={self.num_particles} "
                f"but the data has {info.num_particles} particles per jet",
            )
        hist = info.multiplicity
        if hist is not None:
            probs = torch.zeros(self.num_particles + 1, dtype=torch.float64)
            values = torch.as_tensor(hist, dtype=torch.float64)[: self.num_particles + 1]
            probs[: len(values)] = values
            probs[0] = 0.0  # an empty jet is not a jet
            if probs.sum() > 0:
                self.probs.copy_((probs / probs.sum()).to(self.probs.dtype))
        norm = info.normalizer
        if norm is not None:
            mean, std = float(norm["mean"][PTREL]), float(norm["std"][PTREL])
            self.ptrel_floor.fill_(-mean / std if std > 0 else 0.0)

    def sample_counts(
        self, n: int, device: torch.device | str, generator: torch.Generator | None = None
    ) -> Tensor:
        """(n,) multiplicities drawn from the training histogram (seeded by ``generator``)."""
        probs = self.probs.to(device)
        return torch.multinomial(probs, n, replacement=True, generator=generator)

    def sample_mask(
        self, n: int, device: torch.device | str, generator: torch.Generator | None = None
    ) -> Tensor:
        """(n, P) prefix masks with multiplicities from the training histogram."""
        return prefix_mask(self.sample_counts(n, device, generator), self.num_particles)

    def physical(self, raw: Tensor) -> Tensor:
        """Raw (…, 3) head output → features with ptrel' = floor + softplus(raw_ptrel) (physical ptrel >
        0)."""
        pt = self.ptrel_floor.to(raw.dtype) + F.softplus(raw[..., PTREL:PTREL + 1])
        return torch.cat([raw[..., :PTREL], pt, raw[..., PTREL + 1:]], dim=-1)


class EPiCLayer(nn.Module):
    """Equivariant point cloud layer: global attention by pooling (EPiC-GAN, Buhmann et al. 2023).

    .. math::
        g' = g + \\phi_g\\big(g \\,\\Vert\\, \\tfrac1n\\textstyle\\sum_i h_i \\,\\Vert\\, \\tfrac1P\\sum_i h_i
              \\,\\Vert\\, c\\big),\\qquad
        h'_i = h_i + W_2\\,\\sigma\\big(W_1 h_i + U g' + b\\big)

    sums over real particles only; ``c`` an optional per-jet condition (B, C). The per-particle update is a
    residual two-layer MLP whose first layer is split into a particle term and a per-jet term, so the global
    vector is never copied to every particle; the residual add is fused into the second matmul.
    ``film=True`` makes the per-jet term a FiLM modulation (Perez et al. 2018),
    σ((1 + γ(g', c)) ⊙ W_1 h_i + β(g', c)): the jet's context can scale particle features, not only shift
    them (γ starts at 0, so the layer starts as the additive one).
    (B, P, H), (B, G), mask → (B, P, H), (B, G). Padded slots are read only through the masked pools, so they
    need only be finite: they carry finite values through a stack of layers, and networks zero their outputs.
    """

    def __init__(
        self, hidden: int, global_dim: int, cond_dim: int = 0, global_hidden: int | None = None,
        film: bool = False,
    ) -> None:
        super().__init__()
        gh = global_hidden or max(hidden, global_dim)
        self.phi_g = mlp([global_dim + 2 * hidden + cond_dim, gh, global_dim])
        self.local_in = nn.Linear(hidden, hidden, bias=False)
        self.film = film
        self.global_in = nn.Linear(global_dim + cond_dim, 2 * hidden if film else hidden)
        if film:
            with torch.no_grad():
                self.global_in.weight[:hidden].zero_()
                self.global_in.bias[:hidden].zero_()
        self.local_out = nn.Linear(hidden, hidden, bias=False)
        self.act = nn.LeakyReLU(0.2)

    def forward(
        self, h: Tensor, g: Tensor, mask: Tensor, cond: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        pooled = masked_mean_sum(h, mask)
        gc = g if cond is None else torch.cat([g, cond], dim=1)
        g = g + self.phi_g(torch.cat([gc, pooled], dim=1))
        gc = g if cond is None else torch.cat([g, cond], dim=1)
        a = F.linear(h, self.local_in.weight)
        jet = self.global_in(gc)[:, None, :]
        if self.film:
            gamma, beta = jet.chunk(2, dim=-1)
            a = a * (1.0 + gamma) + beta
        else:
            a += jet
        a = F.leaky_relu_(a, self.act.negative_slope)
        hidden = h.shape[-1]
        h = torch.addmm(h.reshape(-1, hidden), a.reshape(-1, hidden), self.local_out.weight.t()).view_as(h)
        return h, g


class ParticleAttention(nn.Module):
    """Pre-norm multi-head self-attention among a jet's real particles, residual:
    h'_i = h_i + W_o Σ_j softmax_j(q_i · k_j / √d) v_j over real j, (q, k, v) = W (LayerNorm h).

    Where an `EPiCLayer` tells a particle only a pooled summary of the jet, attention tells it where each
    other particle is, so particles can gather into the tight collinear clusters of real jets. Cost
    O(P²) per head (`F.scaled_dot_product_attention`); W_o starts at 0 (the block starts as the identity).
    """

    def __init__(self, hidden: int, heads: int = 4) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"attention heads ({heads}) must divide hidden ({hidden})")
        self.heads = heads
        self.norm = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        b, p, d = h.shape
        q, k, v = self.qkv(self.norm(h)).view(b, p, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        keys = None if bool(mask.all()) else (mask | ~mask.any(1, keepdim=True))[:, None, None, :]
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keys)
        return h + self.out(a.transpose(1, 2).reshape(b, p, d))


class MPLayer(MessagePassingBlock):
    """MPGAN message passing with per-layer widths: edge MLP ``f_e`` = fe, node MLP ``f_n`` = fn.

    .. math::
        m_{ij} = f_e(h_i \\Vert h_j \\Vert \\lVert h_i - h_j\\rVert),\\quad
        h'_i = f_n\\big(h_i \\,\\Vert\\, \\square_{j\\ne i} m_{ij}\\big)

    fully connected over the real particles of a jet (□ = masked mean or sum). MPGAN (Kansal et al. 2021)
    uses fe = [96, 160, 192], fn = [256, 256], 32 features per particle and 2 iterations. The math and the
    memory-saving split of the first edge layer are `MessagePassingBlock`'s; only the widths differ.
    """

    def __init__(self, in_features: int, out_features: int, fe: Sequence[int] = (96, 160, 192),
                 fn: Sequence[int] = (256, 256), aggr: Literal["sum", "mean"] = "mean") -> None:
        fe, fn = list(fe), list(fn)
        if not fe:
            raise ValueError("fe needs at least one edge layer width")
        super().__init__(in_features, out_features, hidden=fe[0], edge_layers=1, node_layers=2, aggr=aggr)
        self.edge_rest = mlp(fe, final_act=True) if len(fe) > 1 else nn.Identity()
        self.node = mlp([in_features + fe[-1], *fn, out_features])


class FourierTime(nn.Module):
    """t ∈ [0, 1] (B,) → [t, sin(2π f_k t), cos(2π f_k t)]_k (B, 2K + 1), f_k geometric in [1, max_freq]."""

    def __init__(self, num_freqs: int = 8, max_freq: float = 64.0) -> None:
        super().__init__()
        freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), num_freqs)) * 2 * math.pi
        self.register_buffer("freqs", freqs, persistent=False)
        self.dim = 2 * num_freqs + 1

    def forward(self, t: Tensor) -> Tensor:
        arg = t[:, None] * self.freqs.to(t.dtype)
        return torch.cat([t[:, None], torch.sin(arg), torch.cos(arg)], dim=1)
