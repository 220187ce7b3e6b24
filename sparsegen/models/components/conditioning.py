"""`ConditionEmbedding`: the one way a network reads a jet's condition vector.

Every conditional network (flow-matching velocities, the EPiC GAN's generator and critic, the image GAN's
generator and critic, the image VAE's encoder and decoder) embeds the normalized condition vector c (B, C)
of `sparsegen.data.conditions` with this module, e = MLP(c) (B, D), and then uses e where it uses its
other per-jet inputs (the global context, the latent code, the pooled features). With ``cond_dim = 0`` the
network is unconditional: the embedding has width 0 and adds nothing, so unconditional networks compute
exactly what they computed before conditioning existed.

*No condition* (classifier-free guidance, Ho & Salimans 2022): a row of c that is all NaN (`drop_condition`)
embeds to e = 0, the "unconditional" input a model trained with condition dropout learns to read; no extra
parameters, so every checkpoint keeps its weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sparsegen.nn.points import mlp


class ConditionEmbedding(nn.Module):
    """c (B, cond_dim) → e (B, dim) by a two-layer MLP; width 0 (no parameters) when ``cond_dim == 0``."""

    def __init__(self, cond_dim: int, dim: int = 16) -> None:
        super().__init__()
        if cond_dim < 0 or dim < 1:
            raise ValueError(f"need cond_dim >= 0 and dim >= 1, got {cond_dim}, {dim}")
        self.cond_dim = cond_dim
        self.dim = dim if cond_dim else 0
        self.net = mlp([cond_dim, dim, dim]) if cond_dim else None

    def forward(self, cond: Tensor | None, batch_size: int, like: Tensor) -> Tensor:
        """(B, dim) embedding (an empty (B, 0) tensor for an unconditional network)."""
        if self.net is None:
            return like.new_zeros(batch_size, 0)
        if cond is None:
            raise ValueError(f"this network is conditional: pass cond (B, {self.cond_dim})")
        if cond.shape != (batch_size, self.cond_dim):
            raise ValueError(f"cond must have shape ({batch_size}, {self.cond_dim}), got {tuple(cond.shape)}")
        cond = cond.to(like.dtype)
        dropped = torch.isnan(cond).all(dim=1, keepdim=True)
        return self.net(torch.nan_to_num(cond)).masked_fill(dropped, 0.0)


def drop_condition(cond: Tensor, rows: Tensor) -> Tensor:
    """``cond`` with the rows where ``rows`` (B,) is True replaced by "no condition" (all NaN)."""
    return cond.masked_fill(rows[:, None], float("nan"))


def with_condition(x: Tensor, embedding: Tensor) -> Tensor:
    """[x ‖ e] along the last axis (x itself when the embedding has width 0)."""
    return x if embedding.shape[-1] == 0 else torch.cat([x, embedding], dim=-1)
