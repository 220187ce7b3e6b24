"""Image VAE networks: encoders (``forward(images) -> (B, out_dim)``) and the decoder (``forward(z) -> raw``,
``to_sample(raw, generator) -> images``), all in the data's network space (`image_parts`).

Every encoder (dense CNN, submanifold sparse convs, layered ISTA) pairs with every decoder output, so an
encoder's effect is measured apart from the reconstruction loss. Decoder outputs (``output``):

* ``"relu"``: one channel through ReLU (exact zeros where the pre-activation is negative);
* ``"softplus"``: one channel through softplus — an output that cannot die (a ReLU output whose
  pre-activations all turn negative has zero gradient for good); pixels below the data's threshold
  become exact zeros when a sample is turned back into ptrel;
* ``"linear"``: the transformed intensity itself (same threshold rule);
* ``"hurdle"``: three channels [occupancy logit, mean μ and log σ of the active pixel's value] for
  `hurdle_loss`; samples draw occupancy ~ Bernoulli(σ(logit)) and value ~ N(μ, σ²) (with the log
  transform: a log-normal intensity).

``energy_conserving=True``: a sample's intensities are rescaled so that the jet's pixel sum is drawn from
the training pixel-sum distribution (inverse CDF; independent per-pixel noise otherwise makes the sum of a
jet — and with it its mass — wander: a log-normal core pixel alone moves it by tens of per cent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.info import DataInfo, linked_setting
from sparsegen.models.components.conditioning import ConditionEmbedding, with_condition
from sparsegen.models.components.image_parts import (
    DataSpaceMixin,
    DenseConvStack,
    GlobalFeatures,
    ImageSpace,
    PixelBias,
    SparseConvStack,
    UpsamplingTrunk,
    inverse_softplus,
    logit,
    trunk_grid,
)
from sparsegen.models.components.image_refine import CellRefiner
from sparsegen.models.spec import Component
from sparsegen.nn import LayeredISTA, SparseImage
from sparsegen.nn.losses import reconstruction_loss

OUTPUTS = ("relu", "softplus", "linear", "hurdle")


class ImageEncoder(DataSpaceMixin, Component):
    """What the encoders share: a feature stack, optional global features (occupancy, pixel sum), an MLP."""

    def _finish(self, npix: int, flat_dim: int, out_dim: int, global_features: bool,
                cond_dim: int | None = None, cond_embed: int = 16) -> None:
        self.npix = npix
        self.globals = GlobalFeatures() if global_features else None
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.cond = ConditionEmbedding(self.cond_dim, cond_embed)  # joins the pooled features
        n_in = flat_dim + (self.globals.num_features if self.globals is not None else 0) + self.cond.dim
        self.fc = nn.Sequential(nn.Linear(n_in, out_dim), nn.LeakyReLU(0.2))
        self.out_dim = out_dim
        self.init_space()

    def features(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def inputs(self, images: Tensor) -> Tensor | SparseImage:
        """What the feature stack and the global features read (a sparse encoder: the active sites)."""
        return images

    def forward(self, images: Tensor, cond: Tensor | None = None) -> Tensor:
        x = self.inputs(images)
        h = [self.features(x)]
        if self.globals is not None:
            h.append(self.globals(x, self.space))
        return self.fc(with_condition(torch.cat(h, 1), self.cond(cond, len(images), images)))


class DenseEncoder(ImageEncoder):
    """CNN encoder: [Conv(4, s=2) + BatchNorm + LeakyReLU]* → flatten → MLP → (B, out_dim)."""

    sparsity = "dense"  # as the studies record this part: not sparse-aware

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (32, 64, 128), out_dim: int = 256,
                 global_features: bool = True, cond_dim: int | None = None, cond_embed: int = 16) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.stack = DenseConvStack(npix, channels, batch_norm=True)
        self._finish(npix, self.stack.out_dim, out_dim, global_features, cond_dim, cond_embed)

    def features(self, images: Tensor) -> Tensor:
        return self.stack(images)


class SparseEncoder(ImageEncoder):
    """Sparse-convolution encoder (`SparseConvStack`: only active pixels are touched) → MLP → (B, out_dim)."""

    sparsity = "sparse"  # as the studies record this part: sparse-aware

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (16, 32, 64), out_dim: int = 256,
                 global_features: bool = True, cond_dim: int | None = None, cond_embed: int = 16,
                 grid: int | None = 4) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.stack = SparseConvStack(npix, channels, grid=grid)  # a fixed last grid: cost follows the sites
        self._finish(npix, self.stack.out_dim, out_dim, global_features, cond_dim, cond_embed)

    def inputs(self, images: Tensor) -> SparseImage:
        return SparseImage.from_dense(images, threshold=0.0)

    def features(self, images: SparseImage) -> Tensor:
        return self.stack(images)


class ISTAEncoder(ImageEncoder):
    """Deep-sparse-coding encoder: `LayeredISTA` (unrolled ISTA per layer, learned convolutional
    dictionaries and thresholds, stride-2 layers) → flatten → MLP → (B, out_dim)."""

    sparsity = "ista"  # as the studies record this part: sparse-aware (sparse coding)

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (1, 16, 32, 64), n_iter: int = 2,
                 lam: float = 0.05, out_dim: int = 256, global_features: bool = True,
                 cond_dim: int | None = None, cond_embed: int = 16) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        # 10 power iterations per forward estimate each layer's step 1/L (L ≈ ‖D‖², with a 5 % margin)
        self.ista = LayeredISTA(list(channels), kernel_sizes=3, strides=2, n_iter=n_iter, lam=lam,
                                power_iters=10)
        with torch.no_grad():
            flat = self.ista(torch.zeros(1, channels[0], npix, npix)).numel()
        self._finish(npix, flat, out_dim, global_features, cond_dim, cond_embed)

    def features(self, images: Tensor) -> Tensor:
        return self.ista(images).flatten(1)


class Refinable(NamedTuple):
    """A refining decoder's output: the raw output on the trunk's grid and the trunk's feature map."""

    raw: Tensor
    features: Tensor


class DenseDecoder(DataSpaceMixin, Component):
    """z → `UpsamplingTrunk` → output head (+ a per-pixel bias started at the training maps, `PixelBias`);
    see the module docstring for ``output``.

    ``trunk_pixels`` below the data's npix: the trunk and head work on that coarser grid and a `CellRefiner`
    splits each active coarse cell over its fine pixels, so the decoder's cost follows the active pixels.
    The reconstruction loss is then factorized, −log p(x) = −log p(coarse x) − log p(split | coarse x): the
    ``recon`` loss of the sum-pooled target plus the refiner's split loss at the target's active cells
    (`reconstruction_loss`); ``forward`` returns a `Refinable`."""

    sparsity = "dense"  # as the studies record this part: not sparse-aware
    output_sparsity = {"hurdle": "hurdle"}  # the ``output`` that makes it sparse-aware (the studies' record)

    def __init__(self, latent_dim: int = 32, npix: int | None = None,
                 channels: Sequence[int] = (128, 64, 32, 16), output: str = "softplus",
                 pixel_bias: bool = True, energy_conserving: bool = False,
                 cond_dim: int | None = None, cond_embed: int = 16, trunk_pixels: int | None = None,
                 refine_hidden: int = 64) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        self.trunk_pixels = trunk_grid("DenseDecoder", npix, trunk_pixels)
        if output not in OUTPUTS:
            raise SparsegenInputError(
                "config", f"DenseDecoder: unknown output '{output}' (one of {', '.join(OUTPUTS)})"
            )
        self.output = output
        self.energy_conserving = energy_conserving
        channels_out = 3 if output == "hurdle" else 1
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.cond = ConditionEmbedding(self.cond_dim, cond_embed)  # joins the latent code: [z ‖ e(c)]
        self.trunk = UpsamplingTrunk(latent_dim + self.cond.dim, self.trunk_pixels, channels)
        self.head = nn.Conv2d(self.trunk.out_channels, channels_out, 3, padding=1)
        self.pixel_bias = PixelBias(self.trunk_pixels, channels_out) if pixel_bias else None
        factor = npix // self.trunk_pixels
        self.refiner = (CellRefiner(factor, self.trunk.out_channels, refine_hidden, noise_dim=0)
                        if factor > 1 else None)
        if output == "hurdle":
            with torch.no_grad():
                self.head.bias[0] = -3.0  # start sparse
                self.head.bias[1] = 0.5  # a typical active value (O(1) in network space)
                self.head.bias[2] = -2.0  # log σ
        self.init_space()

    def set_data_info(self, info: DataInfo) -> None:
        """The data as seen on the trunk's grid (its pooled statistics when that is coarser)."""
        self.space = ImageSpace(info.at_npix(self.trunk_pixels))

    @torch.no_grad()
    def init_from_data(self, info: DataInfo) -> None:
        """Start at the training data of the trunk's grid: per-pixel biases from the occupancy and value maps
        (or, without them, the hurdle occupancy logit at the mean training occupancy)."""
        self.set_data_info(info)
        info = info.at_npix(self.trunk_pixels)
        occ_map, value_map = self.space.occupancy_map, self.space.value_map
        if self.pixel_bias is not None and occ_map is not None:
            self.head.bias.zero_()
            mean = occ_map * value_map
            if self.output == "hurdle":
                p = occ_map.clamp(1e-4, 1 - 1e-4)
                self.pixel_bias.set_(0, torch.log(p / (1 - p)))
                self.pixel_bias.set_(1, value_map.clamp_min(max(self.space.v_threshold, 1e-3)))
                self.head.bias[2] = -2.0
            else:
                self.pixel_bias.set_(
                    0, inverse_softplus(mean.clamp_min(1e-3)) if self.output == "softplus" else mean
                )
        elif self.output == "hurdle" and info.occupancy:
            self.head.bias[0] = logit(min(max(float(info.occupancy), 1e-4), 0.5))

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor | Refinable:
        h = self.trunk(with_condition(z, self.cond(cond, len(z), z)))[0]
        out = self.head(h)
        if self.pixel_bias is not None:
            out = self.pixel_bias(out)
        if self.output == "relu":
            out = F.relu(out)
        elif self.output == "softplus":
            out = F.softplus(out)
        return out if self.refiner is None else Refinable(out, h)

    def reconstruction_loss(self, out: Tensor | Refinable, x: Tensor, recon: str, **kwargs) -> Tensor:
        """The ``recon`` loss of ``out`` against the images ``x``; refining: factorized (class docstring)."""
        if self.refiner is None:
            return reconstruction_loss(recon, out, x, **kwargs)
        coarse, cells, fine = self.refiner.coarsen(x, self.space)
        bi, yi, xi = cells.unbind(1)
        split = self.refiner.nll(out.features[bi, :, yi, xi], cells, fine, coarse.shape[-2:])
        return reconstruction_loss(recon, out.raw, coarse, **kwargs) + split

    def to_sample(self, raw: Tensor | Refinable, generator: torch.Generator | None = None) -> Tensor:
        if isinstance(raw, Refinable):
            coarse = self.to_sample(raw.raw, generator)
            return self.refiner(coarse, raw.features, self.space, generator)
        if self.output == "hurdle":
            logits, mu, log_sigma = raw[:, :1], raw[:, 1:2], raw[:, 2:3].clamp(-6.0, 2.0)
            occ = (torch.rand(logits.shape, device=raw.device, generator=generator) < torch.sigmoid(logits))
            noise = torch.randn(mu.shape, device=raw.device, generator=generator)
            raw = occ.to(raw.dtype) * (mu + torch.exp(log_sigma) * noise)
        return self.conserve(raw, generator) if self.energy_conserving else raw

    def conserve(self, v: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Rescale each image's intensities [ptrel] to a pixel sum drawn from the training distribution."""
        q = self.space.sum_quantiles
        x = self.space.to_ptrel(F.relu(v)) * (v > self.space.v_threshold)
        if q is None:
            return v
        u = torch.rand(v.shape[0], device=v.device, generator=generator) * (len(q) - 1)
        lo = u.floor().long().clamp(max=len(q) - 2)
        q = q.to(v.device)
        total = q[lo] + (u - lo) * (q[lo + 1] - q[lo])
        x = x * (total / x.flatten(1).sum(1).clamp_min(1e-12))[:, None, None, None]
        return self.space.from_ptrel(x)
