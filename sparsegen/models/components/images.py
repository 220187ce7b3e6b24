"""Image components: generators, critics, encoders and decoders for (B, 1, H, W) jet images.

Conventions shared with the point components (``points.py``):

* generators: ``sample_noise(n, device, generator) -> noise`` and ``forward(noise) -> images``;
* critics: ``forward(images) -> (B,)`` scores;
* encoders: ``forward(images) -> (B, out_dim)`` features;
* decoders: ``forward(z) -> raw output`` (what the reconstruction loss sees) and
  ``to_sample(raw, generator) -> images`` (what ``sample()`` returns, with exact zeros).

Exact zeros: the dense generator ends in a ReLU (negative pre-activations become exact zeros, the usual
way CNN generators produce empty pixels); the sparse-aware generator multiplies an intensity head by a
binary occupancy mask (straight-through Gumbel-sigmoid, i.e. a Bernoulli sample in the forward pass and
the sigmoid's gradient in the backward pass).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.data.info import DataInfo, linked_setting
from sparsegen.models.spec import Component
from sparsegen.nn import (
    LayeredISTA,
    SparseConv2d,
    SparseImage,
    SparseLeakyReLU,
    SubmanifoldConv2d,
)


def _num_upsamplings(npix: int, start: int = 4) -> int:
    n = math.log2(npix / start)
    if n < 0 or n != int(n):
        raise ValueError(f"npix must be {start} times a power of two, got {npix}")
    return int(n)


class UpsamplingTrunk(nn.Module):
    """z (B, latent) → Linear → (C0, 4, 4) → [ConvTranspose(4, s=2) + BatchNorm + LeakyReLU]* → (C_last, npix, npix).

    ``channels`` are the widths from the 4×4 start to the full image; npix = 4·2^n needs n + 1 of them. The
    finest widths are kept when fewer are needed (npix 16 with 4 widths uses the last 3) and the first is
    repeated when more are, so one config serves every image size its data config states.
    """

    def __init__(self, latent_dim: int, npix: int, channels: Sequence[int]) -> None:
        super().__init__()
        n_up = _num_upsamplings(npix)
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

    def forward(self, z: Tensor) -> Tensor:
        h = F.leaky_relu(self.fc(z), 0.2).view(-1, self.c0, 4, 4)
        return self.up(h)


class _NoiseMixin:
    latent_dim: int

    def sample_noise(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.latent_dim, device=device, generator=generator)


class DCGANGenerator(_NoiseMixin, Component):
    """Dense DCGAN-style generator; ReLU output so empty pixels are exact zeros."""

    def __init__(self, latent_dim: int = 64, npix: int | None = None, channels: Sequence[int] = (128, 64, 32, 16)) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        self.latent_dim = latent_dim
        self.trunk = UpsamplingTrunk(latent_dim, npix, channels)
        self.head = nn.Conv2d(self.trunk.out_channels, 1, 3, padding=1)

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return F.relu(self.head(self.trunk(z)))


def straight_through_bernoulli(logits: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                               stochastic: bool = True) -> Tensor:
    """Binary mask: forward = 1[σ((logits + logistic noise)/τ) > ½] (a Bernoulli(σ(logits)) sample when
    stochastic), backward = gradient of the relaxed sigmoid (Gumbel-sigmoid straight-through)."""
    if stochastic:
        u = torch.rand(logits.shape, device=logits.device, dtype=logits.dtype, generator=generator).clamp(1e-6, 1 - 1e-6)
        logits = logits + torch.log(u) - torch.log1p(-u)
    soft = torch.sigmoid(logits / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + soft - soft.detach()


class SparseAwareGenerator(_NoiseMixin, Component):
    """Two heads on a shared trunk: occupancy logits and intensity (softplus); output = mask · intensity.

    The mask is a straight-through Bernoulli sample of σ(occupancy logits), so empty pixels are exactly
    zero while gradients reach both heads.
    """

    def __init__(self, latent_dim: int = 64, npix: int | None = None, channels: Sequence[int] = (128, 64, 32, 16),
                 temperature: float = 1.0, occupancy_bias: float = -3.0) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        self.latent_dim = latent_dim
        self.temperature = temperature
        self.trunk = UpsamplingTrunk(latent_dim, npix, channels)
        self.occupancy = nn.Conv2d(self.trunk.out_channels, 1, 3, padding=1)
        self.intensity = nn.Conv2d(self.trunk.out_channels, 1, 3, padding=1)
        nn.init.constant_(self.occupancy.bias, occupancy_bias)  # start sparse (σ(-3) ≈ 5 % occupancy)
        # 0 = unbounded softplus intensity; > 0 = max · sigmoid (set from the data: a pixel holds ptrel <= 1)
        self.register_buffer("max_intensity", torch.zeros(()))

    @torch.no_grad()
    def init_from_data(self, info: DataInfo) -> None:
        """Start at the training occupancy: occupancy bias = logit(mean fraction of non-zero pixels).
        (Other pixels' logits still vary with z through the weights, so the mean lands near, not at, it.)"""
        occ = info.occupancy
        if occ:
            occ = min(max(float(occ), 1e-4), 0.5)
            self.occupancy.bias.fill_(math.log(occ / (1.0 - occ)))
        scale = (info.normalizer or {}).get("image_scale")
        if scale:
            self.max_intensity.fill_(1.0 / float(scale))  # ptrel = 1 in normalized units

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        h = self.trunk(z)
        mask = straight_through_bernoulli(self.occupancy(h), self.temperature, generator)
        raw = self.intensity(h)
        intensity = self.max_intensity * torch.sigmoid(raw) if self.max_intensity > 0 else F.softplus(raw)
        return mask * intensity


def occupancy_fraction(images: Tensor) -> Tensor:
    """(B, 1) fraction of non-zero pixels (CaloGAN's sparsity feature; no gradient)."""
    return (images.detach() != 0).flatten(1).float().mean(1, keepdim=True)


class DenseCritic(Component):
    """CNN critic without batch norm (WGAN-GP): [Conv(4, s=2) + LeakyReLU]* → Linear, optional occupancy feature."""

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (32, 64, 128), occupancy_feature: bool = True) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = c
        self.conv = nn.Sequential(*layers)
        side = npix // 2 ** len(channels)
        if side < 1:
            raise ValueError(f"too many downsamplings ({len(channels)}) for npix={npix}")
        self.occupancy_feature = occupancy_feature
        self.fc = nn.Sequential(nn.Linear(c_in * side * side + int(occupancy_feature), 128), nn.LeakyReLU(0.2),
                                nn.Linear(128, 1))

    def forward(self, images: Tensor) -> Tensor:
        h = self.conv(images).flatten(1)
        if self.occupancy_feature:
            h = torch.cat([h, occupancy_fraction(images)], 1)
        return self.fc(h).squeeze(1)


class SparseConvStack(nn.Module):
    """images → SparseImage → [SubmanifoldConv(3) + LeakyReLU + SparseConv(2, s=2) + LeakyReLU]* → dense
    (B, C_last, npix/2^n, npix/2^n) → flatten.

    Only active pixels are ever touched; the coarse last grid is made dense so the head still knows *where*
    activity sits (a jet's core is at the centre). Gradients w.r.t. the dense input flow through
    ``from_dense`` at active sites and are exactly zero elsewhere — for WGAN-GP interpolates, whose active
    sites are the union of the real and generated ones, the penalty's gradient norm is taken over that union.
    """

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (16, 32, 64), in_channels: int = 1) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        blocks: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            blocks += [SubmanifoldConv2d(c_in, c, 3), SparseLeakyReLU(0.2), SparseConv2d(c, c, 2, stride=2),
                       SparseLeakyReLU(0.2)]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        side = npix // 2 ** len(channels)
        if side < 1:
            raise ValueError(f"too many downsamplings ({len(channels)}) for npix={npix}")
        self.out_dim = c_in * side * side

    def forward(self, images: Tensor) -> Tensor:
        return self.blocks(SparseImage.from_dense(images, threshold=0.0)).to_dense().flatten(1)


class SparseCritic(Component):
    """Critic built from submanifold / strided sparse convolutions (see `SparseConvStack`).

    A purely sparse critic has exactly zero gradient at empty pixels, so it can tell a generator to
    dim or remove pixels but never *where to add* them (measured: a sparse-conv-only critic does not
    train the GAN). ``density_cells`` > 0 adds a coarse differentiable density path — the image
    average-pooled to ``density_cells``² cells — whose gradient reaches every pixel (and, through the
    straight-through mask, the generator's occupancy head). The conv path still touches only active
    pixels; the density path costs one pooling of the dense image.
    """

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (16, 32, 64), occupancy_feature: bool = True,
                 density_cells: int = 8) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        self.stack = SparseConvStack(npix, channels)
        self.occupancy_feature = occupancy_feature
        if density_cells and npix % density_cells:
            raise ValueError(f"density_cells ({density_cells}) must divide npix ({npix})")
        self.density_cells = density_cells
        self.density_pool = npix // density_cells if density_cells else 0
        n_in = self.stack.out_dim + int(occupancy_feature) + density_cells**2
        self.fc = nn.Sequential(nn.Linear(n_in, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))

    def forward(self, images: Tensor) -> Tensor:
        h = [self.stack(images)]
        if self.occupancy_feature:
            h.append(occupancy_fraction(images) * 10.0)
        if self.density_cells:
            h.append(F.avg_pool2d(images, self.density_pool).flatten(1) * float(self.density_pool**2))
        return self.fc(torch.cat(h, 1)).squeeze(1)


# ------------------------------------------------------------------------------------------ VAE parts
class DenseEncoder(Component):
    """CNN encoder: [Conv(4, s=2) + BatchNorm + LeakyReLU]* → flatten → (B, out_dim)."""

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (32, 64, 128), out_dim: int = 256) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]
            c_in = c
        self.conv = nn.Sequential(*layers)
        side = npix // 2 ** len(channels)
        self.fc = nn.Sequential(nn.Linear(c_in * side * side, out_dim), nn.LeakyReLU(0.2))
        self.out_dim = out_dim

    def forward(self, images: Tensor) -> Tensor:
        return self.fc(self.conv(images).flatten(1))


class SparseEncoder(Component):
    """Sparse-convolution encoder (see `SparseConvStack`) → MLP → (B, out_dim)."""

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (16, 32, 64), out_dim: int = 256) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        self.stack = SparseConvStack(npix, channels)
        self.fc = nn.Sequential(nn.Linear(self.stack.out_dim + 1, out_dim), nn.LeakyReLU(0.2))
        self.out_dim = out_dim

    def forward(self, images: Tensor) -> Tensor:
        return self.fc(torch.cat([self.stack(images), occupancy_fraction(images) * 10.0], 1))


class ISTAEncoder(Component):
    """Deep-sparse-coding encoder: `LayeredISTA` (unrolled ISTA per layer, learned convolutional
    dictionaries and thresholds, stride-2 layers) → flatten → (B, out_dim)."""

    def __init__(self, npix: int | None = None, channels: Sequence[int] = (1, 16, 32, 64), n_iter: int = 2,
                 lam: float = 0.05, out_dim: int = 256) -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        # 10 power iterations per forward estimate each layer's step 1/L (L ≈ ‖D‖², with a 5 % margin)
        self.ista = LayeredISTA(list(channels), kernel_sizes=3, strides=2, n_iter=n_iter, lam=lam, power_iters=10)
        with torch.no_grad():
            flat = self.ista(torch.zeros(1, channels[0], npix, npix)).numel()
        self.fc = nn.Sequential(nn.Linear(flat, out_dim), nn.LeakyReLU(0.2))
        self.out_dim = out_dim

    def forward(self, images: Tensor) -> Tensor:
        return self.fc(self.ista(images).flatten(1))


class DenseDecoder(Component):
    """z → `UpsamplingTrunk` → output head.

    ``output="relu"``: one channel through ReLU (exact zeros) for the MSE-type losses;
    ``output="hurdle"``: two channels [occupancy logit, μ of log intensity] for `hurdle_loss`; samples
    draw occupancy ~ Bernoulli(σ(logit)) and intensity ~ LogNormal(μ, σ) with the loss's learned σ.
    """

    def __init__(self, latent_dim: int = 32, npix: int | None = None, channels: Sequence[int] = (128, 64, 32, 16),
                 output: Literal["relu", "hurdle"] = "relu") -> None:
        super().__init__()
        npix = int(linked_setting("npix", npix))
        self.npix = npix
        if output not in ("relu", "hurdle"):
            raise ValueError(f"output must be 'relu' or 'hurdle', got {output!r}")
        self.output = output
        self.trunk = UpsamplingTrunk(latent_dim, npix, channels)
        self.head = nn.Conv2d(self.trunk.out_channels, 2 if output == "hurdle" else 1, 3, padding=1)
        self.log_sigma = nn.Parameter(torch.zeros(())) if output == "hurdle" else None
        if output == "hurdle":
            with torch.no_grad():
                self.head.bias[0] = -3.0  # start sparse
                self.head.bias[1] = -4.0  # typical log(ptrel) of a pixel

    @torch.no_grad()
    def init_from_data(self, info: DataInfo) -> None:
        """Hurdle output: start the occupancy logit at the training occupancy."""
        occ = info.occupancy
        if self.output == "hurdle" and occ:
            occ = min(max(float(occ), 1e-4), 0.5)
            self.head.bias[0] = math.log(occ / (1.0 - occ))

    def forward(self, z: Tensor) -> Tensor:
        out = self.head(self.trunk(z))
        return out if self.output == "hurdle" else F.relu(out)

    def to_sample(self, raw: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.output == "relu":
            return raw
        logits, mu = raw[:, :1], raw[:, 1:2]
        occ = (torch.rand(logits.shape, device=raw.device, generator=generator) < torch.sigmoid(logits)).to(raw.dtype)
        sigma = torch.exp(self.log_sigma)
        intensity = torch.exp(mu + sigma * torch.randn(mu.shape, device=raw.device, generator=generator))
        return occ * intensity
