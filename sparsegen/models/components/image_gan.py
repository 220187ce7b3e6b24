"""Image GAN networks: generators (``sample_noise(n) -> z``, ``forward(z) -> (B, 1, H, W)``) and critics
(``forward(images) -> (B,)``), dense and sparse-aware, all in the data's network space (`image_parts`).

A generator is an upsampling trunk with per-pixel biases and, optionally, per-pixel noise, followed by its
output stage (`image_output`): ``output=`` one head (`ReLUHead`, `LinearHead`, `SoftplusHead`,
`EnergyConservingHead` with an optional `PixelFloor`) and, for the sparse-aware generator, ``mask=`` an
`OccupancyMask`, so empty pixels are exactly zero. The older keyword flags (``head``, ``energy_conserving``,
``total``, ``floor_quantile``, ``floor_mode``; ``temperature``, ``occupancy_bias``) still build the same
stage (`image_output.head_from_flags`), so configs and checkpoints that state them keep working.

``pixel_noise=True`` adds per-pixel Gaussian noise with a learned per-pixel amplitude to the intensity
channel (StyleGAN's noise inputs; started at the training spread of each pixel's intensity), so the
intensity spectrum has its width from the first step instead of waiting for the trunk to learn it.

``trunk_pixels`` (below the data's npix) makes a generator's cost follow the pixels it lights: the trunk and
output stage run on that coarser grid and `CellRefiner` (`image_refine`) splits each active coarse cell over
its fine pixels, so nothing dense grows with npix but the final scatter.

Critics see the image through a conv stack (dense, or submanifold sparse convs that touch active pixels
only plus a coarse density path), CaloGAN-style global features (soft occupancy, total intensity) and
ProGAN's minibatch standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.info import DataInfo, linked_setting
from sparsegen.models.components.conditioning import ConditionEmbedding, with_condition
from sparsegen.models.components.image_output import (
    ImageHead,
    OccupancyMask,
    active_intensity,
    check_output,
    head_from_flags,
)
from sparsegen.models.components.image_parts import (
    DataSpaceMixin,
    DenseConvStack,
    GlobalFeatures,
    ImageSpace,
    PixelBias,
    SparseConvStack,
    UpsamplingTrunk,
    logit,
    minibatch_std,
    trunk_grid,
)
from sparsegen.models.components.image_refine import CellRefiner
from sparsegen.models.spec import Component
from sparsegen.nn import SparseImage


def one_form(owner: str, part: str, component: Any, flags: dict[str, Any]) -> None:
    """One config error when both a component and the older flags that describe it are given."""
    given = [k for k, v in flags.items() if v is not None]
    if component is not None and given:
        raise SparsegenInputError("config", f"{owner}: give {part} or the flags {', '.join(given)}, not both")


class ImageGenerator(DataSpaceMixin, Component):
    """What the dense and sparse-aware generators share: noise, the upsampling trunk, per-pixel biases and
    noise, and the output stage (see the module docstring)."""

    latent_dim: int
    output: ImageHead
    has_mask = False  # an occupancy mask decides which pixels are kept (the sparse-aware generator)
    heads_taken: tuple[str, ...] = ()
    default_head = "relu"

    def _output(self, output: ImageHead | None, head: str | None, energy_conserving: bool | None,
                total: str | None, floor_quantile: float | None, floor_mode: str | None) -> ImageHead:
        """The output stage: ``output``, or the one the older flags describe (the one place they map)."""
        owner = type(self).__name__
        one_form(owner, "output", output, {"head": head, "energy_conserving": energy_conserving,
                                           "total": total, "floor_quantile": floor_quantile,
                                           "floor_mode": floor_mode})
        if output is None:
            output = head_from_flags(
                owner, self.default_head if head is None else head, bool(energy_conserving),
                "quantiles" if total is None else total, 0.0 if floor_quantile is None else floor_quantile,
                "cut" if floor_mode is None else floor_mode, self.heads_taken)
        check_output(owner, output, self.heads_taken, self.has_mask)
        return output

    def _build(self, latent_dim: int, npix: int | None, channels: Sequence[int], output: ImageHead,
               out_channels: int, pixel_bias: bool, pixel_noise: bool, cond_dim: int | None,
               cond_embed: int, trunk_pixels: int | None = None, refine_hidden: int = 64) -> None:
        self.npix = int(linked_setting("npix", npix))
        self.trunk_pixels = trunk_grid(type(self).__name__, self.npix, trunk_pixels)
        self.latent_dim = latent_dim
        self.output = output
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.cond = ConditionEmbedding(self.cond_dim, cond_embed)  # joins the noise: [z ‖ e(c)]
        self.trunk = UpsamplingTrunk(latent_dim + self.cond.dim, self.trunk_pixels, channels)
        self.head = nn.Conv2d(self.trunk.out_channels, out_channels, 3, padding=1)
        self.pixel_bias = PixelBias(self.trunk_pixels, out_channels) if pixel_bias else None
        self.pixel_noise = PixelBias(self.trunk_pixels, 1) if pixel_noise else None  # log σ of the noise
        factor = self.npix // self.trunk_pixels
        self.refiner = (CellRefiner(factor, self.trunk.out_channels, refine_hidden) if factor > 1 else None)
        if self.pixel_noise is not None:
            nn.init.constant_(self.pixel_noise.bias, -1.0)
        self.total = nn.Linear(self.trunk.flat_dim, 1) if output.learned_total else None
        self.init_space()

    def sample_noise(self, n: int, device: torch.device | str = "cpu",
                     generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.latent_dim, device=device, generator=generator)

    def set_data_info(self, info: DataInfo) -> None:
        """The data as seen on the trunk's grid (its pooled statistics when that is coarser)."""
        self.space = ImageSpace(info.at_npix(self.trunk_pixels))

    def refine(self, image: Tensor, h: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The trunk-grid image on the data's grid (`CellRefiner`; itself when the two grids agree)."""
        return image if self.refiner is None else self.refiner(image, h, self.space, generator)

    def heads(self, z: Tensor, generator: torch.Generator | None = None,
              cond: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(head output + per-pixel bias (+ per-pixel noise on the intensity channel) (B, C, H, W), the
        trunk's flat 4×4 start for the total, the trunk's feature map); a conditional generator reads
        [z ‖ e(cond)]."""
        h, h0 = self.trunk(with_condition(z, self.cond(cond, len(z), z)))
        out = self.head(h)
        if self.pixel_bias is not None:
            out = self.pixel_bias(out)
        if self.pixel_noise is not None:
            eps = torch.randn(out[:, -1:].shape, device=out.device, dtype=out.dtype, generator=generator)
            out = torch.cat([out[:, :-1], out[:, -1:] + torch.exp(self.pixel_noise.bias) * eps], 1)
        return out, h0, h

    @torch.no_grad()
    def init_from_data(self, info: DataInfo) -> None:
        """Energy conservation: start the generated pixel sum at the training median; per-pixel biases:
        start at the training maps (`start_maps`) of the trunk's grid."""
        self.set_data_info(info)
        if self.total is not None:
            self.total.bias.fill_(logit(self.space.sum_median / self.max_total()))
        if self.pixel_bias is not None and self.space.occupancy_map is not None:
            self.head.bias.zero_()
            for channel, values in enumerate(self.start_maps(self.space.occupancy_map, self.space.value_map)):
                self.pixel_bias.set_(channel, values)
        if self.pixel_noise is not None and self.space.value_std_map is not None:
            self.pixel_noise.set_(0, torch.log(
                self.noise_scale(self.space.value_map, self.space.value_std_map).clamp_min(1e-3)))

    def start_maps(self, occupancy: Tensor, value: Tensor) -> list[Tensor]:
        """Per-channel initial pixel biases from the training occupancy and active-value maps."""
        raise NotImplementedError

    def noise_scale(self, value: Tensor, std: Tensor) -> Tensor:
        """Initial noise amplitude per pixel: the training spread of an active pixel's value, in the units of
        the intensity channel's pre-activation (`ImageHead.noise_scale`)."""
        v = value.clamp_min(max(self.space.v_threshold, 1e-3))
        return self.output.noise_scale(v, std, self.space)

    def active_intensity(self, value: Tensor) -> Tensor:
        """Intensity [ptrel] of a pixel with network value ``value`` (at least the threshold)."""
        return active_intensity(self.space, value)

    def max_total(self) -> float:
        return 1.02 * self.space.sum_max

    def jet_total(self, z: Tensor, h0: Tensor) -> Tensor:
        """(B, 1) pixel sums [ptrel] of the generated jets (``total`` of `EnergyConservingHead`)."""
        if self.total is not None:
            return self.max_total() * torch.sigmoid(self.total(h0))
        q = self.space.sum_quantiles
        if q is None:
            return torch.ones(z.shape[0], 1, device=z.device, dtype=z.dtype)
        pos = (torch.special.ndtr(z[:, :1]) * (len(q) - 1)).clamp(0, len(q) - 1 - 1e-6)
        lo = pos.floor().long()
        q = q.to(z.device)
        return q[lo] + (pos - lo) * (q[lo + 1] - q[lo])

    def output_image(self, a: Tensor, z: Tensor, h0: Tensor, mask: Tensor | None = None) -> Tensor:
        """The output stage on the intensity pre-activations ``a``."""
        total = self.jet_total(z, h0) if self.output.conserves else None
        return self.output.image(a, self.space, total, mask)


class DCGANGenerator(ImageGenerator):
    """Dense DCGAN-style generator: one output channel through its head (module docstring)."""

    sparsity = "dense"  # as the studies record this part: not sparse-aware

    heads_taken = ("relu", "linear")
    default_head = "relu"

    def __init__(self, latent_dim: int = 64, npix: int | None = None,
                 channels: Sequence[int] = (128, 64, 32, 16), output: ImageHead | None = None,
                 pixel_bias: bool = True, pixel_noise: bool = False, cond_dim: int | None = None,
                 cond_embed: int = 16, head: str | None = None, energy_conserving: bool | None = None,
                 total: str | None = None, floor_quantile: float | None = None,
                 floor_mode: str | None = None, trunk_pixels: int | None = None,
                 refine_hidden: int = 64) -> None:
        super().__init__()
        stage = self._output(output, head, energy_conserving, total, floor_quantile, floor_mode)
        self._build(latent_dim, npix, channels, stage, 1, pixel_bias, pixel_noise, cond_dim, cond_embed,
                    trunk_pixels, refine_hidden)

    def start_maps(self, occupancy: Tensor, value: Tensor) -> list[Tensor]:
        """The average training image: in network space, or its log intensity (energy conservation)."""
        if self.output.conserves:
            return [torch.log(occupancy * self.active_intensity(value) + 1e-12)]
        return [occupancy * value]

    def forward(self, z: Tensor, generator: torch.Generator | None = None,
                cond: Tensor | None = None) -> Tensor:
        a, h0, h = self.heads(z, generator, cond)
        return self.refine(self.output_image(a, z, h0), h, generator)


class SparseAwareGenerator(ImageGenerator):
    """Two heads on a shared trunk: occupancy logits and intensity; output = binary mask · intensity.

    The mask (`OccupancyMask`) is a straight-through Bernoulli sample of σ(occupancy logits), so empty pixels
    are exactly zero while gradients reach both heads. Occupancy logits start at the training occupancy (per
    pixel with ``pixel_bias``, else its mean; without data at the mask's ``bias``), intensities at the
    training active values.
    """

    sparsity = "sparse"  # as the studies record this part: sparse-aware

    has_mask = True
    heads_taken = ("softplus", "linear")
    default_head = "softplus"

    def __init__(self, latent_dim: int = 64, npix: int | None = None,
                 channels: Sequence[int] = (128, 64, 32, 16), output: ImageHead | None = None,
                 mask: OccupancyMask | None = None, pixel_bias: bool = True, pixel_noise: bool = False,
                 cond_dim: int | None = None, cond_embed: int = 16, head: str | None = None,
                 energy_conserving: bool | None = None, total: str | None = None,
                 floor_quantile: float | None = None, floor_mode: str | None = None,
                 temperature: float | None = None, occupancy_bias: float | None = None,
                 trunk_pixels: int | None = None, refine_hidden: int = 64) -> None:
        super().__init__()
        stage = self._output(output, head, energy_conserving, total, floor_quantile, floor_mode)
        one_form(type(self).__name__, "mask", mask, {"temperature": temperature,
                                                     "occupancy_bias": occupancy_bias})
        if mask is None:
            mask = OccupancyMask(1.0 if temperature is None else temperature,
                                 -3.0 if occupancy_bias is None else occupancy_bias)
        self._build(latent_dim, npix, channels, stage, 2, pixel_bias, pixel_noise, cond_dim, cond_embed,
                    trunk_pixels, refine_hidden)
        self.mask = mask
        with torch.no_grad():
            self.head.bias[0] = mask.bias

    @torch.no_grad()
    def init_from_data(self, info: DataInfo) -> None:
        super().init_from_data(info)
        occupancy = info.at_npix(self.trunk_pixels).occupancy
        if self.pixel_bias is None and occupancy:
            self.head.bias[0] = logit(min(max(float(occupancy), 1e-4), 0.5))

    def start_maps(self, occupancy: Tensor, value: Tensor) -> list[Tensor]:
        occ = torch.log(occupancy.clamp(1e-4, 1 - 1e-4) / (1 - occupancy.clamp(1e-4, 1 - 1e-4)))
        v = value.clamp_min(self.space.v_threshold if self.space.v_threshold > 0 else 1e-3)
        if self.output.conserves:
            return [occ, torch.log(self.active_intensity(value))]
        return [occ, self.output.pre_activation(v)]

    def forward(self, z: Tensor, generator: torch.Generator | None = None,
                cond: Tensor | None = None) -> Tensor:
        a, h0, h = self.heads(z, generator, cond)
        mask = self.mask(a[:, :1], generator)
        return self.refine(self.output_image(a[:, 1:], z, h0, mask), h, generator)


class CriticHead(nn.Module):
    """[conv features, global features, embedded condition, minibatch std] → MLP → (B,) scores."""

    def __init__(self, conv_dim: int, extra_dim: int, global_features: bool, minibatch: bool,
                 top_pixels: int = 0, hidden: int = 128, cond_dim: int = 0, cond_embed: int = 16) -> None:
        super().__init__()
        self.globals = GlobalFeatures(top_pixels) if global_features else None
        self.minibatch = minibatch
        self.cond = ConditionEmbedding(cond_dim, cond_embed)
        n_in = (conv_dim + extra_dim + (self.globals.num_features if self.globals is not None else 0)
                + self.cond.dim + int(minibatch))
        self.fc = nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, parts: list[Tensor], images: Tensor | SparseImage, space,
                cond: Tensor | None = None) -> Tensor:
        if self.globals is not None:
            parts = [*parts, self.globals(images, space)]
        h = torch.cat(parts, 1)
        h = with_condition(h, self.cond(cond, len(h), h))
        if self.minibatch:
            h = torch.cat([h, minibatch_std(h)], 1)
        return self.fc(h).squeeze(1)


class DenseCritic(DataSpaceMixin, Component):
    """CNN critic without batch norm (WGAN-GP): `DenseConvStack` + `CriticHead`."""

    sparsity = "dense"  # as the studies record this part: not sparse-aware

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (32, 64, 128),
                 global_features: bool = True, minibatch_std: bool = True, top_pixels: int = 0,
                 cond_dim: int | None = None, cond_embed: int = 16) -> None:
        super().__init__()
        self.npix = int(linked_setting("npix", npix))
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.stack = DenseConvStack(self.npix, channels)
        self.head = CriticHead(self.stack.out_dim, 0, global_features, minibatch_std, top_pixels,
                               cond_dim=self.cond_dim, cond_embed=cond_embed)
        self.init_space()

    def forward(self, images: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.head([self.stack(images)], images, self.space, cond)


class SparseCritic(DataSpaceMixin, Component):
    """Critic built from submanifold / strided sparse convolutions (`SparseConvStack`) + `CriticHead`.

    A purely sparse critic has exactly zero gradient at empty pixels, so it can tell a generator to
    dim or remove pixels but never *where to add* them (measured: a sparse-conv-only critic does not
    train the GAN). ``density_cells`` > 0 adds a coarse differentiable density path — the image
    average-pooled to ``density_cells``² cells — whose gradient reaches every pixel (and, through the
    straight-through mask, the generator's occupancy head).

    Its cost follows the active pixels: the image becomes a `SparseImage` once, and the convs, the global
    features and the fixed ``grid``² last level (`SparseConvStack`) are computed from the active sites, so
    only that scan of the dense input and the density pooling grow with npix.
    """

    sparsity = "sparse"  # as the studies record this part: sparse-aware

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (16, 32, 64),
                 global_features: bool = True, minibatch_std: bool = True, density_cells: int = 8,
                 top_pixels: int = 0, cond_dim: int | None = None, cond_embed: int = 16,
                 grid: int | None = 4) -> None:
        super().__init__()
        self.npix = int(linked_setting("npix", npix))
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.stack = SparseConvStack(self.npix, channels, bias=False, grid=grid)
        if density_cells and self.npix % density_cells:
            raise ValueError(f"density_cells ({density_cells}) must divide npix ({self.npix})")
        self.density_cells = density_cells
        self.density_pool = self.npix // density_cells if density_cells else 0
        self.head = CriticHead(self.stack.out_dim, density_cells**2, global_features, minibatch_std,
                               top_pixels, cond_dim=self.cond_dim, cond_embed=cond_embed)
        self.init_space()

    def forward(self, images: Tensor, cond: Tensor | None = None) -> Tensor:
        sites = SparseImage.from_dense(images, threshold=0.0)
        parts = [self.stack(sites)]
        if self.density_cells:
            # cell means × cell side: a cell with a few active pixels gives O(1); pooled from the dense image
            # so that its gradient reaches the empty pixels too (one pass over the grid, the only other one)
            parts.append(F.avg_pool2d(images, self.density_pool).flatten(1) * self.density_pool)
        return self.head(parts, sites, self.space, cond)
