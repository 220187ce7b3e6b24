"""Point-cloud layers for jets as particle sets: dense batch-first (B, P, F) + mask (B, P) in and out.

Padded particles (mask False) are never read: inputs are zeroed there on entry, they are never
neighbours, never receive messages and are excluded from pooling, so outputs are invariant to
whatever is written in padded slots. Pooled outputs are invariant and per-particle outputs
equivariant to particle permutations.

torch-geometric is used for the kNN graph convolution (``EdgeConv``) and pooling over flattened
batches; kNN edges are built here with ``torch.cdist`` + ``topk`` (no pyg-lib/torch-cluster needed).
The fully connected message passing block stays dense: with all P² pairs connected, batched
(B, P, P, ·) tensors beat scatter over an edge list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn import EdgeConv, global_add_pool, global_max_pool, global_mean_pool
from torch_geometric.utils import to_dense_batch

__all__ = [
    "EdgeConvBlock",
    "MessagePassingBlock",
    "PointNetEncoder",
    "from_pyg",
    "knn_edges",
    "masked_pool",
    "mlp",
    "to_pyg",
]

Pool = Literal["sum", "mean", "max"]


def mlp(sizes: Sequence[int], act: type[nn.Module] | None = None, final_act: bool = False) -> nn.Sequential:
    """Linear layers ``sizes[0] → … → sizes[-1]`` with LeakyReLU(0.2) (or ``act()``) between them."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or final_act:
            layers.append(act() if act is not None else nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _check(x: Tensor, mask: Tensor) -> Tensor:
    if x.ndim != 3 or mask.shape != x.shape[:2]:
        raise ValueError(
            f"expected x (B, P, F) and mask (B, P), got {tuple(x.shape)} and {tuple(mask.shape)}"
        )
    return mask.bool()


def _zero_padded(x: Tensor, mask: Tensor) -> Tensor:
    """Zero padded slots (torch.where: robust to inf/NaN garbage, zero gradient there)."""
    return torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))


def to_pyg(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Dense (B, P, F) + mask → PyG ``(x_flat (N, F), batch (N,))`` with the real particles, row-major."""
    mask = _check(x, mask)
    b, p = mask.shape
    batch = torch.arange(b, device=x.device)[:, None].expand(b, p)[mask]
    return x[mask], batch


def from_pyg(
    x_flat: Tensor,
    batch: Tensor,
    mask: Tensor | None = None,
    batch_size: int | None = None,
    max_particles: int | None = None,
) -> tuple[Tensor, Tensor]:
    """PyG ``(x_flat, batch)`` → dense (B, P, F) with zeros in padded slots, and the mask (B, P).

    With ``mask`` (the one given to :func:`to_pyg`), rows go back to exactly those slots; otherwise
    ``torch_geometric.utils.to_dense_batch`` packs each sample's rows first (``batch`` sorted).
    """
    if mask is not None:
        mask = mask.bool()
        out = x_flat.new_zeros(*mask.shape, x_flat.shape[-1])
        return out.index_put(torch.nonzero(mask, as_tuple=True), x_flat), mask
    return to_dense_batch(x_flat, batch, batch_size=batch_size, max_num_nodes=max_particles)


@torch.no_grad()
def knn_edges(pos: Tensor, mask: Tensor, k: int, loop: bool = False) -> Tensor:
    """kNN graph over real particles, in :func:`to_pyg`'s flat numbering: (2, E) = (neighbour j, centre i).

    For each real particle i the k nearest real particles j (Euclidean in ``pos`` (B, P, D)) send to i;
    padded slots are neither sources nor targets. Jets with fewer than k+1 particles connect all.
    """
    mask = _check(pos, mask)
    b, p = mask.shape
    pos = _zero_padded(pos, mask)
    dist = torch.cdist(pos, pos)
    bad = ~(mask[:, None, :] & mask[:, :, None])
    if not loop:
        bad = bad | torch.eye(p, dtype=torch.bool, device=pos.device)
    dist = dist.masked_fill(bad, float("inf"))
    kk = min(k, p)
    d, nbr = dist.topk(kk, dim=-1, largest=False)
    keep = torch.isfinite(d)
    flat = torch.cumsum(mask.flatten(), 0).view(b, p) - 1
    centre = torch.arange(p, device=pos.device)[None, :, None].expand(b, p, kk)
    bi = torch.arange(b, device=pos.device)[:, None, None].expand(b, p, kk)
    src = flat[bi[keep], nbr[keep]]
    dst = flat[bi[keep], centre[keep]]
    return torch.stack([src, dst])


def masked_pool(x: Tensor, mask: Tensor, reduce: Pool = "mean") -> Tensor:
    """Pool (B, P, F) over real particles → (B, F) (PyG ``global_*_pool``; empty jets give zeros)."""
    x_flat, batch = to_pyg(x, mask)
    b = x.shape[0]
    if reduce == "sum":
        return global_add_pool(x_flat, batch, size=b)
    if reduce == "mean":
        return global_mean_pool(x_flat, batch, size=b)
    if reduce == "max":
        return global_max_pool(x_flat, batch, size=b)
    raise ValueError(f"reduce must be 'sum', 'mean' or 'max', got {reduce!r}")


class PointNetEncoder(nn.Module):
    """PointNet / Deep Sets encoder: :math:`z = \\rho(\\bigoplus_{i: m_i} \\phi(x_i))`.

    ``phi`` is a shared per-particle MLP (in → hidden…), ⊕ a masked sum/mean/max, ``rho`` an MLP to
    ``out_features``. Invariant to particle order and to padded slots. (B, P, F) + mask → (B, out).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (64, 64),
        head_hidden: Sequence[int] = (64,),
        pool: Pool = "max",
    ) -> None:
        super().__init__()
        if pool not in ("sum", "mean", "max"):
            raise ValueError(f"pool must be 'sum', 'mean' or 'max', got {pool!r}")
        self.phi = mlp([in_features, *hidden], final_act=True)
        self.rho = mlp([hidden[-1] if hidden else in_features, *head_hidden, out_features])
        self.pool = pool

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x_flat, batch = to_pyg(x, mask)
        h = self.phi(x_flat)
        pool = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}[self.pool]
        return self.rho(pool(h, batch, size=x.shape[0]))


class EdgeConvBlock(nn.Module):
    """EdgeConv (DGCNN / ParticleNet) on a kNN graph of real particles.

    .. math::
        \\mathbf{x}'_i = \\sigma\\Big(\\square_{j \\in \\mathcal{N}_k(i)}
            h_\\Theta(\\mathbf{x}_i \\,\\Vert\\, \\mathbf{x}_j - \\mathbf{x}_i) + W_s \\mathbf{x}_i\\Big)

    :math:`\\mathcal{N}_k(i)`: the k nearest real particles in ``pos`` (default: the features ``x``
    themselves, i.e. a dynamic graph); □ = mean or max (PyG ``EdgeConv``); ``W_s`` an optional linear
    shortcut. (B, P, F) + mask → (B, P, out) with zeros in padded slots.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        k: int = 16,
        hidden: Sequence[int] = (),
        aggr: Literal["mean", "max", "add"] = "mean",
        shortcut: bool = True,
    ) -> None:
        super().__init__()
        self.k = k
        self.conv = EdgeConv(mlp([2 * in_features, *hidden, out_features], final_act=True), aggr=aggr)
        self.shortcut = nn.Linear(in_features, out_features, bias=False) if shortcut else None
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor, mask: Tensor, pos: Tensor | None = None) -> Tensor:
        mask = _check(x, mask)
        edges = knn_edges(x if pos is None else pos, mask, self.k)
        x_flat, batch = to_pyg(x, mask)
        h = self.conv(x_flat, edges)
        if self.shortcut is not None:
            h = self.act(h + self.shortcut(x_flat))
        return from_pyg(h, batch, mask)[0]


class MessagePassingBlock(nn.Module):
    """Fully connected message passing (MPGAN, Kansal et al. 2021).

    .. math::
        \\mathbf{m}_{ij} = f_e(\\mathbf{h}_i \\Vert \\mathbf{h}_j \\Vert \\lVert \\mathbf{x}_i -
        \\mathbf{x}_j \\rVert),\\quad
        \\mathbf{h}'_i = f_n\\Big(\\mathbf{h}_i \\,\\Big\\Vert\\, \\square_{j \\ne i,\\, m_j}
        \\mathbf{m}_{ij}\\Big)

    over all real pairs (i, j) of a jet; □ = masked sum or mean; ``x`` = ``pos`` (default: ``h``).
    The first edge layer is split as :math:`W_a h_i + W_b h_j + w_d d_{ij}` so only (B, P, P, hidden)
    is materialised. (B, P, F) + mask → (B, P, out) with zeros in padded slots.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 64,
        edge_layers: int = 2,
        node_layers: int = 2,
        aggr: Literal["sum", "mean"] = "sum",
        self_loops: bool = False,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        if aggr not in ("sum", "mean"):
            raise ValueError(f"aggr must be 'sum' or 'mean', got {aggr!r}")
        self.aggr = aggr
        self.self_loops = self_loops
        self.eps = eps
        self.edge_in = nn.Linear(2 * in_features + 1, hidden)
        self.edge_rest = mlp([hidden] * edge_layers, final_act=True) if edge_layers > 1 else nn.Identity()
        self.act = nn.LeakyReLU(0.2)
        self.node = mlp([in_features + hidden] + [hidden] * (node_layers - 1) + [out_features])

    def forward(self, h: Tensor, mask: Tensor, pos: Tensor | None = None) -> Tensor:
        mask = _check(h, mask)
        h = _zero_padded(h, mask)
        x = h if pos is None else _zero_padded(pos, mask)
        f = h.shape[-1]
        w = self.edge_in.weight
        a = h @ w[:, :f].T  # (B, P, H) receiver term
        b = h @ w[:, f:2 * f].T  # sender term
        d = torch.sqrt((x[:, :, None, :] - x[:, None, :, :]).pow(2).sum(-1) + self.eps)  # (B, P, P)
        e = self.act(a[:, :, None, :] + b[:, None, :, :] + d[..., None] * w[:, 2 * f] + self.edge_in.bias)
        e = self.edge_rest(e)
        pair = mask[:, :, None] & mask[:, None, :]
        if not self.self_loops:
            pair = pair & ~torch.eye(mask.shape[1], dtype=torch.bool, device=h.device)
        msg = torch.where(pair[..., None], e, torch.zeros((), dtype=e.dtype, device=e.device)).sum(2)
        if self.aggr == "mean":
            msg = msg / pair.sum(2, keepdim=True).clamp_min(1).to(msg.dtype)
        out = self.node(torch.cat([h, msg], dim=-1))
        return _zero_padded(out, mask)
