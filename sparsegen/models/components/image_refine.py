"""`CellRefiner`: a generator's coarse image made fine at the cost of its active pixels, not of the grid.

A generator with ``trunk_pixels`` < ``npix`` runs its trunk and output stage at ``trunk_pixels`` (its coarse
image: every statistic of the data summed over r×r blocks, r = npix / trunk_pixels) and hands the coarse image
to a `CellRefiner`, which splits each *active* coarse cell's intensity over its r² fine pixels:

* per active cell, an MLP reads the trunk's features at that cell, the cell's log intensity, its position on
  the grid and fresh Gaussian noise, and gives r² occupancy logits and r² log shares;
* the fine pixels that light are a straight-through Bernoulli sample of the occupancy logits (forward: a
  sample, backward: the sigmoid's gradient), the most likely one always on, so a cell never vanishes;
* the cell's intensity x is split over its lit pixels by a softmax of their shares: the fine pixels sum to x
  exactly, so the jet's pixel sum (and, to the block size, its mass) is the coarse image's, and pixels the
  split leaves below the read-out threshold are dropped.

Only the M active cells (a few per cent of a 32² grid) reach the MLP; the fine image is made by one scatter
into an empty grid. Everything after the trunk therefore costs O(M r²), and the step's cost stays close to
that of the coarse model as npix grows (bench/resolution_cost.py, docs/results.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sparsegen.models.components.image_parts import ImageSpace, straight_through_bernoulli


class CellRefiner(nn.Module):
    """Coarse (B, 1, h, w) network-space image + trunk features (B, C, h, w) → fine (B, 1, h·r, w·r)."""

    def __init__(self, factor: int, features: int, hidden: int = 64, noise_dim: int = 8) -> None:
        super().__init__()
        if factor < 2:
            raise ValueError(f"a refinement needs factor >= 2, got {factor}")
        self.factor = factor
        self.noise_dim = noise_dim
        r2 = factor * factor
        self.mlp = nn.Sequential(
            nn.Linear(features + 3 + noise_dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 2 * r2))
        with torch.no_grad():  # start with one lit fine pixel per cell, the intensity spread evenly
            self.mlp[-1].weight.mul_(0.1)
            self.mlp[-1].bias.zero_()
            self.mlp[-1].bias[:r2] = -3.0

    def split(self, features: Tensor, x: Tensor, cells: Tensor, shape: tuple[int, int],
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(occupancy logits, log shares), each (M, r²), of M cells with trunk features (M, C), intensity x
        (M,) [ptrel] at grid positions ``cells`` (M, 2) on an (h, w) grid."""
        h, w = shape
        pos = (cells.to(x.dtype) + 0.5) / torch.tensor([h, w], device=x.device, dtype=x.dtype) * 2 - 1
        noise = torch.randn(len(x), self.noise_dim, device=x.device, dtype=x.dtype, generator=generator)
        out = self.mlp(torch.cat([features, torch.log(x.clamp_min(1e-12))[:, None], pos, noise], 1))
        return out.chunk(2, dim=1)

    def forward(self, coarse: Tensor, features: Tensor, space: ImageSpace,
                generator: torch.Generator | None = None) -> Tensor:
        b, _, h, w = coarse.shape
        r = self.factor
        sites = (coarse[:, 0].detach() > 0).nonzero()  # (M, 3) batch, y, x
        bi, yi, xi = sites.unbind(1)
        x = space.to_ptrel(coarse[bi, 0, yi, xi]).clamp_min(1e-12)  # (M,) the cell's intensity [ptrel]
        occ_logits, shares = self.split(features[bi, :, yi, xi], x, sites[:, 1:], (h, w), generator)
        lit = straight_through_bernoulli(occ_logits, generator=generator)
        first = nn.functional.one_hot(occ_logits.argmax(1), r * r).to(lit.dtype)
        lit = torch.maximum(lit, first)  # the likeliest fine pixel is always lit
        weights = lit * torch.exp(shares - shares.max(1, keepdim=True).values.detach())
        fine = x[:, None] * weights / weights.sum(1, keepdim=True)  # (M, r²) [ptrel], sums to x
        keep = (fine.detach() >= space.normalizer.threshold) & (lit.detach() > 0)
        v = torch.where(keep, space.from_ptrel(fine.clamp_min(1e-12)), torch.zeros_like(fine))
        dy, dx = (torch.arange(r * r, device=x.device) // r), (torch.arange(r * r, device=x.device) % r)
        rows = (yi[:, None] * r + dy) * (w * r) + xi[:, None] * r + dx  # (M, r²) fine pixel index
        flat = v.new_zeros(b, h * r * w * r).index_put((bi[:, None].expand_as(rows), rows), v)
        return flat.view(b, 1, h * r, w * r)

    def coarsen(self, images: Tensor, space: ImageSpace) -> tuple[Tensor, Tensor, Tensor]:
        """Fine network-space images (B, 1, H, W) → (their coarse image (B, 1, H/r, W/r) in network space,
        the active cells (M, 3), each active cell's fine intensities (M, r²) [ptrel]); ptrel is computed for
        the active cells only."""
        b, _, hh, ww = images.shape
        r = self.factor
        h, w = hh // r, ww // r
        blocks = images[:, 0].reshape(b, h, r, w, r).transpose(2, 3).reshape(b, h, w, r * r)
        cells = (blocks > 0).any(-1).nonzero()
        bi, yi, xi = cells.unbind(1)
        fine_v = blocks[bi, yi, xi]
        fine = torch.where(fine_v > 0, space.to_ptrel(fine_v), torch.zeros_like(fine_v))
        coarse = images.new_zeros(b, 1, h, w)
        coarse[bi, 0, yi, xi] = space.from_ptrel(fine.sum(1))
        return coarse, cells, fine

    def nll(self, features: Tensor, cells: Tensor, fine: Tensor, shape: tuple[int, int]) -> Tensor:
        """Mean over cells of −log p(split | cell): the lit pattern's Bernoulli cross entropy plus the
        cross entropy of the fine shares under the softmax over the lit pixels (a VAE decoder's loss)."""
        x = fine.sum(1)
        occ_logits, shares = self.split(features, x, cells[:, 1:], shape)
        lit = (fine > 0).to(fine.dtype)
        bce = nn.functional.binary_cross_entropy_with_logits(occ_logits, lit, reduction="none").sum(1)
        log_p = torch.log_softmax(shares.masked_fill(lit == 0, float("-inf")), 1)
        log_p = torch.where(lit > 0, log_p, torch.zeros_like(log_p))  # no -inf · 0 in either pass
        share_ce = -(fine / x[:, None] * log_p).sum(1)
        return (bce + share_ce).mean()
