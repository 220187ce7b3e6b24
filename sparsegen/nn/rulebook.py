"""Rulebooks for sparse convolutions: which active input row feeds which output row, per kernel offset.

Sites are addressed by a linear key ``key = (b * H + y) * W + x`` (int64). Active sites are stored sorted
by key, so a coordinate lookup is a ``torch.searchsorted`` over the M sorted keys: O(Q log M) time and
O(M) memory for Q queries, independent of the grid size B×H×W. For small grids (B·H·W at most
``DENSE_TABLE_MAX`` entries) a dense key → row table is used instead (one gather per query).

A :class:`Rulebook` lists, for every kernel offset ``k = ky * kernel_size + kx``, the pairs
``(in_row, out_row)`` such that output site ``o`` reads input site ``i`` through weight ``W[k]``:
nn.Conv2d's cross-correlation ``out[o] = sum_k W[k]^T in[o * stride - padding + (ky, kx)]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

#: Largest B·H·W for which a dense key → row lookup table is used (int32, 1 MiB).
DENSE_TABLE_MAX = 1 << 18


@dataclass(frozen=True)
class Rulebook:
    """Gather/scatter pairs of a sparse convolution, grouped by kernel offset.

    Attributes:
        in_rows: (P,) int64 input rows, offsets in increasing order.
        out_rows: (P,) int64 output rows, aligned with ``in_rows``.
        counts: pairs per kernel offset (K,), ``sum(counts) == P``.
        num_in: number of input rows M_in.
        num_out: number of output rows M_out.
        identity_offset: for submanifold rulebooks the centre offset, whose pairs are (i, i) for every
            row and are *not* stored in ``in_rows``/``out_rows`` (the conv applies it as a plain matmul).
        offsets: (K',) the kernel offsets with at least one stored pair.
        in_table, out_table: (K', L) the same pairs as a padded table, one row per offset in ``offsets``
            (L = the largest count); padding points one past the end (row ``num_in`` / ``num_out``), a
            zero row when gathering and a discarded row when scattering. This lets the conv run all
            offsets as one ``bmm`` instead of one small matmul per offset.
    """

    in_rows: Tensor
    out_rows: Tensor
    counts: tuple[int, ...]
    num_in: int
    num_out: int
    identity_offset: int | None = None
    offsets: Tensor = field(init=False, repr=False)
    in_table: Tensor = field(init=False, repr=False)
    out_table: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        dev = self.in_rows.device
        used = [k for k, c in enumerate(self.counts) if c > 0]
        width = max((self.counts[k] for k in used), default=0)
        in_t = torch.full((len(used), width), self.num_in, dtype=torch.long, device=dev)
        out_t = torch.full((len(used), width), self.num_out, dtype=torch.long, device=dev)
        if used:
            counts = torch.tensor([self.counts[k] for k in used], device=dev)
            row = torch.repeat_interleave(torch.arange(len(used), device=dev), counts)
            start = torch.cumsum(counts, 0) - counts
            col = torch.arange(self.in_rows.numel(), device=dev) - start[row]
            in_t[row, col] = self.in_rows
            out_t[row, col] = self.out_rows
        object.__setattr__(self, "offsets", torch.tensor(used, dtype=torch.long, device=dev))
        object.__setattr__(self, "in_table", in_t)
        object.__setattr__(self, "out_table", out_t)

    @property
    def num_pairs(self) -> int:
        """Number of (in, out) pairs including the implicit identity pairs."""
        return int(self.in_rows.numel()) + (self.num_in if self.identity_offset is not None else 0)


def linear_keys(coords: Tensor, spatial_shape: tuple[int, int, int]) -> Tensor:
    """Linear keys ``(b * H + y) * W + x`` of (M, 3) int64 coordinates."""
    _, h, w = spatial_shape
    return (coords[:, 0] * h + coords[:, 1]) * w + coords[:, 2]


def keys_to_coords(keys: Tensor, spatial_shape: tuple[int, int, int]) -> Tensor:
    """Inverse of :func:`linear_keys`: (M,) keys → (M, 3) coordinates (batch, y, x)."""
    _, h, w = spatial_shape
    x = keys % w
    yb = keys // w
    return torch.stack([yb // h, yb % h, x], dim=1)


class KeyLookup:
    """Map linear keys to row numbers in a sorted key array (-1 where absent)."""

    def __init__(self, sorted_keys: Tensor, num_sites: int) -> None:
        self.keys = sorted_keys
        self.table: Tensor | None = None
        if 0 < num_sites <= DENSE_TABLE_MAX:
            table = torch.full((num_sites,), -1, dtype=torch.int32, device=sorted_keys.device)
            table[sorted_keys] = torch.arange(
                sorted_keys.numel(), dtype=torch.int32, device=sorted_keys.device
            )
            self.table = table

    def __call__(self, query: Tensor) -> Tensor:
        """Rows of ``query`` keys (any shape); negative queries (out of bounds) map to -1."""
        m = self.keys.numel()
        if m == 0:
            return torch.full_like(query, -1)
        valid = query >= 0
        if self.table is not None:
            rows = self.table[query.clamp_min(0)].long()
            return torch.where(valid, rows, -1)
        pos = torch.searchsorted(self.keys, query).clamp_max(m - 1)
        found = valid & (self.keys[pos] == query)
        return torch.where(found, pos, -1)


def kernel_offsets(kernel_size: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """(K,) row and column kernel indices (ky, kx) for k = ky * kernel_size + kx."""
    r = torch.arange(kernel_size, device=device)
    return r.repeat_interleave(kernel_size), r.repeat(kernel_size)


def _pairs_from_table(rows: Tensor, cols: Tensor) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Flatten a (K, M) table of partner rows (-1 = none) into offset-grouped pairs."""
    valid = rows >= 0
    counts = tuple(int(c) for c in valid.sum(1).tolist())
    return rows[valid], cols.expand_as(rows)[valid], counts


def submanifold_rulebook(
    coords: Tensor, keys: Tensor, lookup: KeyLookup, spatial_shape: tuple[int, int, int], kernel_size: int
) -> Rulebook:
    """Rulebook of a submanifold conv: outputs = inputs; input site = output site + (ky - p, kx - p), p = k
    // 2.

    Only half of the offsets are looked up: if input i feeds output o through displacement δ, then o
    feeds i through −δ (offset K−1−k), so the second half of the pairs is the first half swapped. The
    centre offset (δ = 0) pairs every site with itself and is left implicit.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"submanifold convolution needs an odd kernel size, got {kernel_size}")
    _, h, w = spatial_shape
    m = coords.shape[0]
    p = kernel_size // 2
    centre = (kernel_size * kernel_size) // 2
    ky, kx = kernel_offsets(kernel_size, coords.device)
    dy, dx = (ky[:centre] - p)[:, None], (kx[:centre] - p)[:, None]
    ny = coords[None, :, 1] + dy
    nx = coords[None, :, 2] + dx
    inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
    query = torch.where(inside, keys[None, :] + dy * w + dx, -1)
    in_half, out_half, counts_half = _pairs_from_table(
        lookup(query), torch.arange(m, device=coords.device)[None, :]
    )
    in_groups, out_groups = in_half.split(counts_half), out_half.split(counts_half)
    # offsets 0..centre-1 as found, centre implicit, centre+1..K-1 mirror centre-1..0 with roles swapped
    in_rows = torch.cat([in_half, *reversed(out_groups)]) if m and centre else in_half
    out_rows = torch.cat([out_half, *reversed(in_groups)]) if m and centre else out_half
    counts = (*counts_half, 0, *reversed(counts_half))
    return Rulebook(in_rows, out_rows, counts, m, m, identity_offset=centre)


def strided_rulebook(
    coords: Tensor, spatial_shape: tuple[int, int, int], kernel_size: int, stride: int, padding: int
) -> tuple[Tensor, tuple[int, int, int], Rulebook]:
    """Output sites and rulebook of a (strided) sparse conv.

    Output site ``o`` (shape ``H_out = (H + 2p - k) // s + 1`` as nn.Conv2d) is active when any active
    input lies in its window: input ``i`` feeds ``o`` through offset (ky, kx) iff
    ``i_y = o_y * s - p + ky`` and ``i_x = o_x * s - p + kx``.
    Returns (out_coords sorted by key, out spatial shape, rulebook).
    """
    b, h, w = spatial_shape
    ho = (h + 2 * padding - kernel_size) // stride + 1
    wo = (w + 2 * padding - kernel_size) // stride + 1
    if ho <= 0 or wo <= 0:
        raise ValueError(f"kernel {kernel_size} / stride {stride} / padding {padding} too large for {h}x{w}")
    out_shape = (b, ho, wo)
    m = coords.shape[0]
    ky, kx = kernel_offsets(kernel_size, coords.device)
    ty = coords[None, :, 1] + padding - ky[:, None]
    tx = coords[None, :, 2] + padding - kx[:, None]
    oy, ox = torch.div(ty, stride, rounding_mode="floor"), torch.div(tx, stride, rounding_mode="floor")
    ok = (ty % stride == 0) & (tx % stride == 0) & (oy >= 0) & (oy < ho) & (ox >= 0) & (ox < wo)
    cand = torch.where(ok, (coords[None, :, 0] * ho + oy) * wo + ox, -1)
    out_keys, inverse = torch.unique(cand[ok], sorted=True, return_inverse=True)
    out_rows_table = torch.full_like(cand, -1)
    out_rows_table[ok] = inverse
    valid = out_rows_table >= 0
    counts = tuple(int(c) for c in valid.sum(1).tolist())
    in_rows = torch.arange(m, device=coords.device)[None, :].expand_as(cand)[valid]
    rb = Rulebook(in_rows, out_rows_table[valid], counts, m, int(out_keys.numel()))
    return keys_to_coords(out_keys, out_shape), out_shape, rb
