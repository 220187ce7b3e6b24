"""Image GAN networks: generators (``sample_noise(n) -> z``, ``forward(z) -> (B, 1, H, W)``) and critics
(``forward(images) -> (B,)``), dense and sparse-aware, all in the data's network space (`image_parts`).

Generator heads (``head``):

* ``"relu"``: v = max(a, 0) — negative pre-activations are exact zeros (LAGAN's output, here in the
  transformed space where it cannot explode: a pixel's value is a log-intensity, not a pT);
* ``"linear"``: v = a, the transformed intensity itself (CaloScore's linear output); values below the
  pixel threshold become exact zeros when the sample is turned back into ptrel;
* ``"softplus"`` (sparse-aware generator only): v = mask · softplus(a).

``energy_conserving=True`` (needs ``head="linear"``): the head emits log pixel *shares*; a jet's
intensities are x = total · softmax(shares) (over the pixels its occupancy mask keeps, for the sparse-aware
generator), so the image sums to a generated total by construction. ``total="quantiles"``: the total is
the training pixel-sum distribution's inverse CDF at Φ(z₀), z₀ the first noise coordinate — the marginal
is the data's exactly and the network, which sees z₀, can tie the jet's shape to it. ``total="learned"``:
total = s_max · σ(w · h), bounded by the largest training pixel sum s_max. Totals are a little above 1:
the scalar pT sum of a jet's constituents exceeds the jet pT.

``pixel_noise=True`` adds per-pixel Gaussian noise with a learned per-pixel amplitude to the intensity
channel (StyleGAN's noise inputs; started at the training spread of each pixel's intensity), so the
intensity spectrum has its width from the first step instead of waiting for the trunk to learn it.

The sparse-aware generator multiplies by a binary occupancy mask (straight-through Gumbel-sigmoid: a
Bernoulli sample in the forward pass, the sigmoid's gradient in the backward pass), so empty pixels are
exactly zero. ``floor_quantile`` = q > 0 (with energy conservation) keeps every kept pixel at or above the
training pixel spectrum's q-quantile x_q, then restores the jet's sum: ``floor_mode="cut"`` drops a pixel
below x_q (a jet's largest pixel is always above it), ``"lift"`` (occupancy mask only) adds x_q to every
kept pixel. Without it a GAN removes unwanted pixels by fading them, not with its mask, and its spectrum
piles up barely-active pixels just above the read-out threshold (a decade too soft); with the cut the mask
has to do it (gluon, 10 CPU-min: spectrum W1 0.6 -> 0.057 decades; lifting only moves the pile-up to x_q).
In the dense generator the cut is LAGAN's threshold (pixels below 1e-3 of the scale zeroed), placed at the
spectrum quantile (gluon, 10 CPU-min: spectrum W1 1.12 -> 0.33 decades, W1M 5.1 -> 4.7 x1e-3). Critics see
the image through a conv stack (dense, or submanifold sparse convs that touch active pixels only plus a
coarse density path), CaloGAN-style global features (soft occupancy, total intensity) and ProGAN's
minibatch standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    PixelBias,
    SparseConvStack,
    UpsamplingTrunk,
    inverse_softplus,
    logit,
    minibatch_std,
    straight_through_bernoulli,
)
from sparsegen.models.spec import Component

HEADS = ("relu", "linear", "softplus")


def check_head(owner: str, head: str, energy_conserving: bool, allowed: Sequence[str]) -> None:
    """One config error for an unknown head or energy conservation with a head that is not linear."""
    if head not in allowed:
        raise SparsegenInputError("config", f"{owner}: unknown head '{head}' (one of {', '.join(allowed)})")
    if energy_conserving and head != "linear":
        raise SparsegenInputError("config", f"{owner}: energy_conserving needs head 'linear' "
                                            f"(the head emits log pixel shares), got head '{head}'")


def check_floor(owner: str, quantile: float, mode: str, energy_conserving: bool, has_mask: bool) -> None:
    """One config error for a floor quantile outside [0, 1), an unknown mode, a floor without energy
    conservation, or ``lift`` without an occupancy mask (it would light every pixel)."""
    if not 0.0 <= quantile < 1.0:
        raise SparsegenInputError("config", f"{owner}: floor_quantile must be in [0, 1), got {quantile}")
    if mode not in ("lift", "cut"):
        raise SparsegenInputError("config", f"{owner}: floor_mode must be 'lift' or 'cut', got '{mode}'")
    if quantile > 0 and not energy_conserving:
        raise SparsegenInputError("config", f"{owner}: floor_quantile needs energy_conserving (it acts on "
                                            "the conserved intensities)")
    if quantile > 0 and mode == "lift" and not has_mask:
        raise SparsegenInputError("config", f"{owner}: floor_mode 'lift' needs an occupancy mask (it would "
                                            "light every pixel); use 'cut'")


class ImageGenerator(DataSpaceMixin, Component):
    """What the dense and sparse-aware generators share: noise, the upsampling trunk, per-pixel biases, the
    heads and the energy-conserving output (see the module docstring)."""

    latent_dim: int
    has_mask = False  # an occupancy mask decides which pixels are kept (the sparse-aware generator)

    def _build(self, latent_dim: int, npix: int | None, channels: Sequence[int], head: str,
               energy_conserving: bool, allowed: Sequence[str], out_channels: int, pixel_bias: bool,
               total: str, pixel_noise: bool, cond_dim: int | None = None, cond_embed: int = 16,
               floor_quantile: float = 0.0, floor_mode: str = "cut") -> None:
        check_head(type(self).__name__, head, energy_conserving, allowed)
        check_floor(type(self).__name__, floor_quantile, floor_mode, energy_conserving, self.has_mask)
        if total not in ("learned", "quantiles"):
            raise SparsegenInputError("config", f"{type(self).__name__}: total must be 'learned' or "
                                                f"'quantiles', got '{total}'")
        self.total_kind = total
        self.floor_quantile = float(floor_quantile)
        self.floor_mode = floor_mode
        self.npix = int(linked_setting("npix", npix))
        self.latent_dim = latent_dim
        self.head_kind = head
        self.energy_conserving = energy_conserving
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.cond = ConditionEmbedding(self.cond_dim, cond_embed)  # joins the noise: [z ‖ e(c)]
        self.trunk = UpsamplingTrunk(latent_dim + self.cond.dim, self.npix, channels)
        self.head = nn.Conv2d(self.trunk.out_channels, out_channels, 3, padding=1)
        self.pixel_bias = PixelBias(self.npix, out_channels) if pixel_bias else None
        self.pixel_noise = PixelBias(self.npix, 1) if pixel_noise else None  # log σ of the intensity noise
        if self.pixel_noise is not None:
            nn.init.constant_(self.pixel_noise.bias, -1.0)
        self.total = nn.Linear(self.trunk.flat_dim, 1) if energy_conserving and total == "learned" else None
        self.init_space()

    def sample_noise(self, n: int, device: torch.device | str = "cpu",
                     generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.latent_dim, device=device, generator=generator)

    def heads(self, z: Tensor, generator: torch.Generator | None = None,
              cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(head output + per-pixel bias (+ per-pixel noise on the intensity channel) (B, C, H, W), the
        trunk's flat 4×4 start for the total); a conditional generator reads [z ‖ e(cond)]."""
        h, h0 = self.trunk(with_condition(z, self.cond(cond, len(z), z)))
        out = self.head(h)
        if self.pixel_bias is not None:
            out = self.pixel_bias(out)
        if self.pixel_noise is not None:
            eps = torch.randn(out[:, -1:].shape, device=out.device, dtype=out.dtype, generator=generator)
            out = torch.cat([out[:, :-1], out[:, -1:] + torch.exp(self.pixel_noise.bias) * eps], 1)
        return out, h0

    @torch.no_grad()
    def init_from_data(self, info: DataInfo) -> None:
        """Energy conservation: start the generated pixel sum at the training median; per-pixel biases:
        start at the training maps (`start_maps`)."""
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
        the intensity channel (log intensity with energy conservation, else the network value; the softplus
        head's pre-activation: divided by the softplus slope)."""
        v = value.clamp_min(max(self.space.v_threshold, 1e-3))
        if self.energy_conserving:
            step = 1e-3
            slope = (torch.log(self.active_intensity(v + step))
                     - torch.log(self.active_intensity(v - step))) / (2 * step)
            return std * slope
        if self.head_kind == "softplus":
            return std / torch.sigmoid(inverse_softplus(v))
        return std

    def active_intensity(self, value: Tensor) -> Tensor:
        """Intensity [ptrel] of a pixel with network value ``value`` (at least the threshold)."""
        return self.space.to_ptrel(value.clamp_min(self.space.v_threshold)).clamp_min(1e-12)

    def max_total(self) -> float:
        return 1.02 * self.space.sum_max

    def jet_total(self, z: Tensor, h0: Tensor) -> Tensor:
        """(B, 1) pixel sums [ptrel] of the generated jets (see ``total`` in the module docstring)."""
        if self.total is not None:
            return self.max_total() * torch.sigmoid(self.total(h0))
        q = self.space.sum_quantiles
        if q is None:
            return torch.ones(z.shape[0], 1, device=z.device, dtype=z.dtype)
        pos = (torch.special.ndtr(z[:, :1]) * (len(q) - 1)).clamp(0, len(q) - 1 - 1e-6)
        lo = pos.floor().long()
        q = q.to(z.device)
        return q[lo] + (pos - lo) * (q[lo + 1] - q[lo])

    def conserve(self, log_shares: Tensor, z: Tensor, h0: Tensor, mask: Tensor | None = None) -> Tensor:
        """Network-space image whose intensities are total · softmax(log_shares) over the pixels the mask
        keeps (all pixels without a mask; see the module docstring)."""
        flat = log_shares.flatten(1)
        w = torch.exp(flat - flat.max(1, keepdim=True).values.detach())
        kept = w if mask is None else w * mask.flatten(1)
        total = self.jet_total(z, h0)
        x = total * w / kept.sum(1, keepdim=True).clamp_min(1e-12)
        if self.floor_quantile > 0:
            x_q = self.space.spectrum_quantile(self.floor_quantile)
            if self.floor_mode == "lift":  # every kept pixel holds at least the spectrum floor (mask only)
                x = x + x_q
            else:  # "cut": a (kept) pixel below the floor is dropped; the jet's largest pixel never is
                keep = (x >= x_q).to(x.dtype).view_as(log_shares)
                mask = keep if mask is None else mask * keep
            x = x * total / (x * mask.flatten(1)).sum(1, keepdim=True).clamp_min(1e-12)
        v = self.space.from_ptrel(x.view_as(log_shares))
        # the mask multiplies the *transformed* value: the same image, but the straight-through gradient of
        # a pixel's mask is the O(1) value it would hold, not the log transform's 1/floor slope at zero
        return v if mask is None else mask * v


class DCGANGenerator(ImageGenerator):
    """Dense DCGAN-style generator: one output channel through the chosen head (module docstring)."""

    def __init__(self, latent_dim: int = 64, npix: int | None = None,
                 channels: Sequence[int] = (128, 64, 32, 16),
                 head: str = "relu", energy_conserving: bool = False, pixel_bias: bool = True,
                 total: str = "quantiles", pixel_noise: bool = False, floor_quantile: float = 0.0,
                 floor_mode: str = "cut", cond_dim: int | None = None, cond_embed: int = 16) -> None:
        super().__init__()
        self._build(latent_dim, npix, channels, head, energy_conserving, ("relu", "linear"), 1, pixel_bias,
                    total, pixel_noise, cond_dim, cond_embed, floor_quantile, floor_mode)

    def start_maps(self, occupancy: Tensor, value: Tensor) -> list[Tensor]:
        """The average training image: in network space, or its log intensity (energy conservation)."""
        if self.energy_conserving:
            return [torch.log(occupancy * self.active_intensity(value) + 1e-12)]
        return [occupancy * value]

    def forward(self, z: Tensor, generator: torch.Generator | None = None,
                cond: Tensor | None = None) -> Tensor:
        a, h0 = self.heads(z, generator, cond)
        if self.energy_conserving:
            return self.conserve(a, z, h0)
        return F.relu(a) if self.head_kind == "relu" else a


class SparseAwareGenerator(ImageGenerator):
    """Two heads on a shared trunk: occupancy logits and intensity; output = binary mask · intensity.

    The mask is a straight-through Bernoulli sample of σ(occupancy logits), so empty pixels are exactly
    zero while gradients reach both heads. Occupancy logits start at the training occupancy (per pixel with
    ``pixel_bias``, else its mean through ``occupancy_bias``), intensities at the training active values.
    """

    has_mask = True

    def __init__(self, latent_dim: int = 64, npix: int | None = None,
                 channels: Sequence[int] = (128, 64, 32, 16),
                 temperature: float = 1.0, occupancy_bias: float = -3.0, head: str = "softplus",
                 energy_conserving: bool = False, pixel_bias: bool = True, total: str = "quantiles",
                 pixel_noise: bool = False, floor_quantile: float = 0.0, floor_mode: str = "cut",
                 cond_dim: int | None = None, cond_embed: int = 16) -> None:
        super().__init__()
        self._build(latent_dim, npix, channels, head, energy_conserving, ("softplus", "linear"), 2,
                    pixel_bias, total, pixel_noise, cond_dim, cond_embed, floor_quantile, floor_mode)
        self.temperature = temperature
        with torch.no_grad():
            self.head.bias[0] = occupancy_bias

    @torch.no_grad()
    def init_from_data(self, info: DataInfo) -> None:
        super().init_from_data(info)
        if self.pixel_bias is None and info.occupancy:
            self.head.bias[0] = logit(min(max(float(info.occupancy), 1e-4), 0.5))

    def start_maps(self, occupancy: Tensor, value: Tensor) -> list[Tensor]:
        occ = torch.log(occupancy.clamp(1e-4, 1 - 1e-4) / (1 - occupancy.clamp(1e-4, 1 - 1e-4)))
        v = value.clamp_min(self.space.v_threshold if self.space.v_threshold > 0 else 1e-3)
        if self.energy_conserving:
            return [occ, torch.log(self.active_intensity(value))]
        return [occ, inverse_softplus(v) if self.head_kind == "softplus" else v]

    def forward(self, z: Tensor, generator: torch.Generator | None = None,
                cond: Tensor | None = None) -> Tensor:
        a, h0 = self.heads(z, generator, cond)
        mask = straight_through_bernoulli(a[:, :1], self.temperature, generator)
        if self.energy_conserving:
            return self.conserve(a[:, 1:], z, h0, mask)
        return mask * (F.softplus(a[:, 1:]) if self.head_kind == "softplus" else a[:, 1:])


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

    def forward(self, parts: list[Tensor], images: Tensor, space, cond: Tensor | None = None) -> Tensor:
        if self.globals is not None:
            parts = [*parts, self.globals(images, space)]
        h = with_condition(torch.cat(parts, 1), self.cond(cond, len(images), images))
        if self.minibatch:
            h = torch.cat([h, minibatch_std(h)], 1)
        return self.fc(h).squeeze(1)


class DenseCritic(DataSpaceMixin, Component):
    """CNN critic without batch norm (WGAN-GP): `DenseConvStack` + `CriticHead`."""

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
    straight-through mask, the generator's occupancy head). The conv path still touches only active
    pixels; the density path costs one pooling of the dense image.
    """

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (16, 32, 64),
                 global_features: bool = True, minibatch_std: bool = True, density_cells: int = 8,
                 top_pixels: int = 0, cond_dim: int | None = None, cond_embed: int = 16) -> None:
        super().__init__()
        self.npix = int(linked_setting("npix", npix))
        self.cond_dim = int(linked_setting("cond_dim", cond_dim))
        self.stack = SparseConvStack(self.npix, channels, bias=False)
        if density_cells and self.npix % density_cells:
            raise ValueError(f"density_cells ({density_cells}) must divide npix ({self.npix})")
        self.density_cells = density_cells
        self.density_pool = self.npix // density_cells if density_cells else 0
        self.head = CriticHead(self.stack.out_dim, density_cells**2, global_features, minibatch_std,
                               top_pixels, cond_dim=self.cond_dim, cond_embed=cond_embed)
        self.init_space()

    def forward(self, images: Tensor, cond: Tensor | None = None) -> Tensor:
        parts = [self.stack(images)]
        if self.density_cells:
            # cell means × cell side: a cell with a few active pixels gives O(1)
            parts.append(F.avg_pool2d(images, self.density_pool).flatten(1) * self.density_pool)
        return self.head(parts, images, self.space, cond)
