"""Building blocks shared by the image generators, critics, encoders and decoders.

Image networks work in the data's *network space*: v = (T(x) - T(0)) / scale of the pixel intensities
x = pixel pT / jet pT (`sparsegen.data.normalization`). Empty pixels are exactly 0 there for every
transform, active ones positive. `ImageSpace` is what a network knows about that space (taken from the
model's `DataInfo` through ``set_data_info``): the differentiable map to and from ptrel, where the pixel
threshold sits, and the training occupancy and pixel sums that scale the critics' global features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.info import DataInfo
from sparsegen.data.normalization import Normalizer
from sparsegen.nn import SparseConv2d, SparseImage, SparseLeakyReLU, SubmanifoldConv2d


def num_upsamplings(npix: int, start: int = 4) -> int:
    n = math.log2(npix / start)
    if n < 0 or n != int(n):
        raise ValueError(f"npix must be {start} times a power of two, got {npix}")
    return int(n)


def trunk_grid(owner: str, npix: int, trunk_pixels: int | None) -> int:
    """The grid side a generator's or decoder's trunk works on: ``trunk_pixels`` (at most npix, dividing it)
    or npix; a finer data grid is reached by `image_refine.CellRefiner`."""
    grid = min(int(trunk_pixels), npix) if trunk_pixels else npix
    if npix % grid:
        raise SparsegenInputError("config", f"{owner}: trunk_pixels {grid} must divide npix {npix}")
    return grid


def logit(p: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return math.log(p / (1.0 - p))


class ImageSpace:
    """The data's network space as a network needs it (see the module docstring).

    Without data info (a network built in Python and never fitted) it is the identity map with the
    default threshold 0, occupancy 5 % and pixel sums around 1.
    """

    def __init__(self, info: DataInfo | None = None) -> None:
        self.normalizer = info.get_normalizer() if info is not None else Normalizer.identity()
        self.v_threshold = (
            self.normalizer.value_of(self.normalizer.threshold) if self.normalizer.threshold > 0 else 0.0
        )
        occ = info.occupancy if info is not None and info.occupancy else 0.05
        self.occupancy = float(occ)
        q = info.pixel_sum_quantiles if info is not None and info.pixel_sum_quantiles else None
        self.sum_median = float(q[50]) if q else 1.0
        self.sum_spread = max(float(q[84] - q[16]) / 2, 1e-3) if q else 0.05
        self.sum_max = float(q[-1]) if q else 1.0
        self.sum_quantiles = torch.tensor(q, dtype=torch.float32) if q else None
        pq = getattr(info, "pixel_value_quantiles", None) if info is not None else None
        self.value_quantiles = [float(x) for x in pq] if pq else None
        maps = info is not None and info.occupancy_map is not None and info.value_map is not None
        self.occupancy_map = torch.tensor(info.occupancy_map, dtype=torch.float32) if maps else None
        self.value_map = torch.tensor(info.value_map, dtype=torch.float32) if maps else None
        std = info.value_std_map if info is not None else None
        self.value_std_map = torch.tensor(std, dtype=torch.float32) if std is not None else None

    def spectrum_quantile(self, level: float) -> float:
        """The training active-pixel intensity [ptrel] at quantile ``level`` in [0, 1] (linear between the
        stored percentiles; the pixel threshold without a stored spectrum)."""
        if self.value_quantiles is None:
            return float(self.normalizer.threshold)
        q = self.value_quantiles
        return float(np.interp(level, np.linspace(0.0, 1.0, len(q)), q))

    def to_ptrel(self, v: Tensor) -> Tensor:
        """Network values → intensities [ptrel] (differentiable, no threshold)."""
        return self.normalizer.intensities(v)

    def from_ptrel(self, x: Tensor) -> Tensor:
        """Intensities [ptrel] → network values (differentiable, no threshold)."""
        return self.normalizer.transform_images(x)


class DataSpaceMixin:
    """``set_data_info`` stores the `ImageSpace` (called by the model when fitting and when loading)."""

    space: ImageSpace

    def init_space(self) -> None:
        self.space = ImageSpace()

    def set_data_info(self, info: DataInfo) -> None:
        self.space = ImageSpace(info)


def inverse_softplus(v: Tensor) -> Tensor:
    """a with softplus(a) = v (v > 0)."""
    return v + torch.log(-torch.expm1(-v))


class PixelBias(nn.Module):
    """A learned per-pixel offset (1, C, H, W) added to a head's output: the cheapest form of LAGAN's locally
    connected layers (a jet image is centred and rotated, so *where* a pixel sits matters). Generators start
    it from the training maps (`ImageSpace.occupancy_map`, ``value_map``), so a short run begins at the
    average jet rather than at a uniform blur."""

    def __init__(self, npix: int, channels: int = 1) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, npix, npix))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias

    @torch.no_grad()
    def set_(self, channel: int, values: Tensor) -> None:
        if values.shape != self.bias.shape[2:]:
            raise ValueError(
                f"pixel map of shape {tuple(values.shape)} for a {tuple(self.bias.shape[2:])} bias"
            )
        self.bias[0, channel] = values


class UpsamplingTrunk(nn.Module):
    """z (B, latent) → Linear → (C0, 4, 4) → [ConvTranspose(4, s=2) + BatchNorm + LeakyReLU]*
    → (C_last, npix, npix).

    ``channels`` are the widths from the 4×4 start to the full image; npix = 4·2^n needs n + 1 of them. The
    finest widths are kept when fewer are needed (npix 16 with 4 widths uses the last 3) and the first is
    repeated when more are, so one config serves every image size its data config states.
    """

    def __init__(self, latent_dim: int, npix: int, channels: Sequence[int]) -> None:
        super().__init__()
        n_up = num_upsamplings(npix)
        chans = list(channels)
        if not chans:
            raise ValueError("channels must not be empty")
        chans = ([chans[0]] * max(0, n_up + 1 - len(chans)) + chans)[-(n_up + 1):]
        self.c0 = chans[0]
        self.fc = nn.Linear(latent_dim, chans[0] * 16)
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2)]
        self.up = nn.Sequential(*layers)
        self.out_channels = chans[-1]
        self.flat_dim = chans[0] * 16

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(feature map (B, C_last, npix, npix), the 4×4 start flattened (B, 16·C0) for global heads)."""
        h0 = F.leaky_relu(self.fc(z), 0.2)
        return self.up(h0.view(-1, self.c0, 4, 4)), h0


def straight_through_bernoulli(logits: Tensor, temperature: float = 1.0,
                               generator: torch.Generator | None = None,
                               stochastic: bool = True) -> Tensor:
    """Binary mask: forward = 1[σ((logits + logistic noise)/τ) > ½] (a Bernoulli(σ(logits)) sample when
    stochastic), backward = gradient of the relaxed sigmoid (Gumbel-sigmoid straight-through)."""
    if stochastic:
        u = torch.rand(logits.shape, device=logits.device, dtype=logits.dtype,
                       generator=generator).clamp(1e-6, 1 - 1e-6)
        logits = logits + torch.log(u) - torch.log1p(-u)
    soft = torch.sigmoid(logits / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + soft - soft.detach()


class GlobalFeatures(nn.Module):
    """CaloGAN-style jet-level features of (B, 1, H, W) network-space images, standardized with the training
    data's values so they are O(1):

    * soft occupancy: mean over pixels of tanh(relu(v) / v_thr) (≈ 1 at active pixels, 0 at empty ones),
      relative to the training occupancy;
    * total intensity: the pixel sum in ptrel (what energy conservation is about), relative to the
      training pixel-sum median and spread;
    * ``top_pixels`` = K > 0: the K largest values of the image, sorted — the image's intensity spectrum
      and, through where the zeros start, its multiplicity (what the pixel-spectrum and multiplicity
      metrics compare, seen per jet).

    All are continuous in v: a critic feature without a gradient (such as the hard fraction of non-zero
    pixels) is invisible to the gradient penalty, so a WGAN critic can weight it without bound — its
    Wasserstein estimate then explodes. Returns (B, 2 + K).

    Every feature is zero at an empty pixel, so a `SparseImage` gives the same features from its active
    sites alone (`site_values`): a sparse network never pays for the empty grid here.
    """

    def __init__(self, top_pixels: int = 0) -> None:
        super().__init__()
        self.top_pixels = top_pixels
        self.num_features = 2 + top_pixels

    def forward(self, images: Tensor | SparseImage, space: ImageSpace) -> Tensor:
        if isinstance(images, SparseImage):
            v, num_pixels = F.relu(site_values(images)), images.spatial_shape[1] * images.spatial_shape[2]
        else:
            v = F.relu(images.flatten(1))
            num_pixels = v.shape[1]
        scale = space.v_threshold if space.v_threshold > 0 else 1e-3
        soft_occ = torch.tanh(v / scale).sum(1, keepdim=True) / num_pixels
        total = space.to_ptrel(v).sum(1, keepdim=True)
        parts = [soft_occ / space.occupancy - 1.0, (total - space.sum_median) / (4 * space.sum_spread)]
        if self.top_pixels:
            top = v.topk(min(self.top_pixels, v.shape[1]), dim=1).values
            parts.append(F.pad(top, (0, self.top_pixels - top.shape[1])))
        return torch.cat(parts, 1)


def site_values(x: SparseImage) -> Tensor:
    """(B, K) the first channel of each image's active sites, zero-padded to the batch's largest count K."""
    b = x.batch_size
    idx = x.batch_index
    counts = torch.bincount(idx, minlength=b)
    k = max(int(counts.max()) if len(idx) else 0, 1)
    start = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(idx), device=idx.device) - start[idx]
    out = x.features.new_zeros(b * k).index_put((idx * k + slot,), x.features[:, 0])
    return out.view(b, k)


def minibatch_std(h: Tensor) -> Tensor:
    """(B, 1): the mean over features of the batch standard deviation of ``h`` (B, F), the same for every
    sample (ProGAN's minibatch statistic: a batch of near-identical samples, i.e. mode collapse, shows)."""
    std = torch.sqrt(h.var(0, unbiased=False) + 1e-8)  # the epsilon keeps the gradient finite at std = 0
    return std.mean().expand(h.shape[0], 1)


def flat_dim(npix: int, channels: Sequence[int]) -> int:
    """Features of a conv stack's flattened output: last channels × (npix / 2^stages)²."""
    side = npix // 2 ** len(channels)
    if side < 1:
        raise ValueError(f"too many downsamplings ({len(channels)}) for npix={npix}")
    return channels[-1] * side * side


class SparseConvStack(nn.Module):
    """images → SparseImage → [SubmanifoldConv(3) + LeakyReLU + SparseConv(2, s=2) + LeakyReLU]* → dense
    (B, C_last, G, G) → flatten.

    Only active pixels (v ≠ 0) are ever touched; the coarse last grid is made dense so the head still knows
    *where* activity sits (a jet's core is at the centre). ``grid`` = G fixes that last grid whatever the
    image size: the last level's sites are summed into G×G equal cells (nothing is pooled when npix / 2^n ≤ G,
    as at 32² with three levels and G = 4), so the head's width — and the cost of everything after the convs —
    does not grow with npix; ``grid=None`` keeps npix / 2^n. A sum, not a mean: it stays continuous when a
    site turns on. ``bias=False`` (critics): with biases a site's
    features jump from 0 to the bias the moment it turns active, so the output depends on *which* pixels
    are active with no gradient for the penalty to see; without them (LeakyReLU is positively homogeneous)
    the stack is continuous at v → 0. Gradients w.r.t. the dense input flow through
    ``from_dense`` at active sites and are exactly zero elsewhere — for WGAN-GP interpolates, whose active
    sites are the union of the real and generated ones, the penalty's gradient norm is taken over that union.
    """

    def __init__(self, npix: int, channels: Sequence[int] = (16, 32, 64), in_channels: int = 1,
                 bias: bool = True, grid: int | None = None) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            blocks += [SubmanifoldConv2d(c_in, c, 3, bias=bias), SparseLeakyReLU(0.2),
                       SparseConv2d(c, c, 2, stride=2, bias=bias), SparseLeakyReLU(0.2)]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        side = npix // 2 ** len(channels)
        self.grid = grid if grid is not None and side > grid else None  # coarser already: nothing to pool
        if self.grid is not None and (grid < 1 or side % grid):
            raise ValueError(f"grid ({grid}) must divide the last level's side npix / 2^{len(channels)} = "
                             f"{side}")
        self.out_dim = flat_dim(npix, channels) if self.grid is None else channels[-1] * self.grid**2

    def forward(self, images: Tensor | SparseImage) -> Tensor:
        x = images if isinstance(images, SparseImage) else SparseImage.from_dense(images, threshold=0.0)
        h = self.blocks(x)
        if self.grid is None:
            return h.to_dense().flatten(1)
        b, side, _ = h.spatial_shape
        g = self.grid
        cell = (h.batch_index * g + h.coords[:, 1] * g // side) * g + h.coords[:, 2] * g // side
        pooled = h.features.new_zeros(b * g * g, h.num_channels).index_add(0, cell, h.features)
        return pooled.view(b, g, g, -1).permute(0, 3, 1, 2).flatten(1)


class DenseConvStack(nn.Module):
    """[Conv(4, s=2) (+ BatchNorm) + LeakyReLU]* → flatten: the dense twin of `SparseConvStack`."""

    def __init__(self, npix: int, channels: Sequence[int] = (32, 64, 128), batch_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1)]
            layers += [nn.BatchNorm2d(c)] if batch_norm else []
            layers += [nn.LeakyReLU(0.2)]
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.out_dim = flat_dim(npix, channels)

    def forward(self, images: Tensor) -> Tensor:
        return self.conv(images).flatten(1)
