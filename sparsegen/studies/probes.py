"""What the sparse-input and sparse-coding studies train: labelled jet images, a small training loop and
the sparse-input study's probe networks.

Jets come from the generation cache (`load_or_generate`, the same files the generative study uses), are
pixelized (the default image size and extent, `sparsegen.core.defaults`; centred/rotated/flipped) and split
per class into train/val/test (`SPLIT`, seeded). Intensities are divided by one scale (the mean
active-pixel intensity of the training set) so the networks see O(1) values; ``scale`` turns predictions
back into ptrel.

The probe networks (`ConvEncoder`, `ConvDecoder`, `Autoencoder`) are small CNNs whose every ingredient
(residual skips, the output head) the sparse-input study switches one at a time; the sparse-conv encoder
wraps the models' own `SparseEncoder` (`SparseConvEncoder`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.core.defaults import EXTENT, NPIX, NUM_PARTICLES
from sparsegen.data.cache import load_or_generate
from sparsegen.data.normalization import Normalizer
from sparsegen.metrics.classifier import auc_standard_error, roc_auc

SPLIT = (0.6, 0.15, 0.25)
CACHE_JETS = 10_000  # full-scale studies read the same cache files as the generative study


@dataclass
class ImageSplits:
    """Scaled images (N, 1, H, W) and integer labels per split; ``scale`` converts back to ptrel."""

    x: dict[str, Tensor]
    y: dict[str, Tensor]
    scale: float
    extent: float

    def __len__(self) -> int:
        return sum(len(v) for v in self.y.values())


def load_image_splits(groups: Mapping[int, Sequence[str]], per_label: int, seed: int, quick: bool,
                      npix: int = NPIX, extent: float = EXTENT, progress: bool = False,
                      num_particles: int = NUM_PARTICLES) -> ImageSplits:
    """``groups``: label → jet types (e.g. {0: ["g", "q"], 1: ["t"]}); ``per_label`` jets per label, shared
    evenly by its jet types, each type split into train/val/test (`SPLIT`); images of up to
    ``num_particles`` constituents."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "val": [], "test": []}
    for label, types in groups.items():
        n = per_label // len(types)
        for t in types:
            source = n if quick else max(n, CACHE_JETS)
            jets = load_or_generate(t, source, num_particles=num_particles, seed=seed,
                                    workers=1 if quick else 2, progress=progress)
            if len(jets) < n:
                raise ValueError(f"{t}: the cache holds {len(jets)} jets, {n} requested")
            jets = jets[np.sort(rng.permutation(len(jets))[:n])]
            images = jets.to_images(npix, extent)[:, None].astype(np.float32)
            cuts = np.cumsum([round(f * n) for f in SPLIT[:2]])
            for name, chunk in zip(("train", "val", "test"), np.split(images, cuts)):
                parts[name].append((chunk, np.full(len(chunk), label, np.int64)))
    x = {k: np.concatenate([c for c, _ in v]) for k, v in parts.items()}
    y = {k: np.concatenate([lab for _, lab in v]) for k, v in parts.items()}
    active = x["train"][x["train"] > 0]
    scale = float(active.mean()) if active.size else 1.0
    return ImageSplits({k: torch.from_numpy(v / scale) for k, v in x.items()},
                       {k: torch.from_numpy(v) for k, v in y.items()}, scale, extent)


def make_optimizer(name: str, params, lr: float | None = None) -> torch.optim.Optimizer:
    """``adam`` (lr 1e-3) or ``sgd`` (momentum 0.9, lr 1e-2)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr or 1e-3)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr or 1e-2, momentum=0.9)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def train_epochs(model: nn.Module, step: Callable[[Tensor, Tensor], Tensor], optimizer: torch.optim.Optimizer,
                 x: Tensor, y: Tensor, epochs: int, batch_size: int, seed: int,
                 on_epoch: Callable[[int, float], dict[str, float]], max_batches: int | None = None,
                 grad_clip: float = 10.0) -> list[dict[str, float]]:
    """Shuffled mini-batch training (seeded); ``on_epoch(epoch, mean train loss)`` returns that epoch's
    validation numbers. A non-finite loss stops training (recorded as ``diverged``)."""
    gen = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        losses, start = [], time.perf_counter()
        for b, i in enumerate(range(0, len(x), batch_size)):
            if max_batches is not None and b >= max_batches:
                break
            idx = order[i:i + batch_size]
            loss = step(x[idx], y[idx])
            if not torch.isfinite(loss):
                history.append({"epoch": epoch + 1, "train_loss": math.nan, "diverged": 1.0})
                return history
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            losses.append(float(loss.detach()))
        model.eval()
        with torch.no_grad():
            row = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "epoch_s": time.perf_counter() - start,
            }
            row |= on_epoch(epoch + 1, row["train_loss"])
        history.append(row)
    return history


@torch.no_grad()
def predict(fn: Callable[[Tensor], Tensor], x: Tensor, batch_size: int = 512) -> Tensor:
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def auc_and_accuracy(labels: Tensor, logits: Tensor) -> tuple[float, float]:
    """ROC AUC and accuracy at logit 0 of a binary classifier."""
    y, s = labels.numpy(), logits.float().numpy()
    if not np.isfinite(s).all():
        return math.nan, math.nan
    return roc_auc(y, s), float(((s > 0) == (y == 1)).mean())


def auc_error(auc: float, labels: Tensor) -> float:
    """Hanley-McNeil standard error of an AUC measured on ``labels``."""
    n_pos = int((labels == 1).sum())
    return auc_standard_error(auc, n_pos, len(labels) - n_pos) if math.isfinite(auc) else math.nan


def epochs_to_reach(
    values: Sequence[float], fraction: float = 0.98, higher_is_better: bool = True
) -> int | None:
    """First epoch (1-based) whose value is within ``fraction`` of the final one."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None
    final = vals[-1]
    for i, v in enumerate(values, 1):
        if (
            v is not None
            and math.isfinite(v)
            and (v >= fraction * final if higher_is_better else v <= final / fraction)
        ):
            return i
    return None


def budget_scale(s, per: str, optimizer: str = "") -> str:
    """The budget of a probe study (``s``: its settings), for `harness.budget`."""
    if s.quick:
        return f"quick (2 epochs of 2 batches, 200 jets per {per}, for the tests)"
    return f"{s.epochs} epochs, batch {s.batch_size}{optimizer}"


# ----------------------------------------------------------------------------- probe networks
class ConvBlock(nn.Module):
    """3×3 conv → LeakyReLU → 3×3 conv, added to its input when ``skip`` (a residual block), then
    LeakyReLU."""

    def __init__(self, channels: int, skip: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(channels, channels, 3, padding=1))
        self.skip = skip

    def forward(self, h: Tensor) -> Tensor:
        out = self.body(h)
        return F.leaky_relu(h + out if self.skip else out, 0.2)


class ConvEncoder(nn.Module):
    """[Conv(4, s=2) + LeakyReLU + `ConvBlock`]* → flatten → Linear → (B, latent)."""

    def __init__(self, npix: int = NPIX, channels: tuple[int, ...] = (16, 32, 64), latent: int = 32,
                 skip: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2), ConvBlock(c, skip)]
            c_in = c
        self.conv = nn.Sequential(*layers)
        side = npix // 2 ** len(channels)
        self.fc = nn.Linear(c_in * side * side, latent)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x).flatten(1))


class SparseConvEncoder(nn.Module):
    """`sparsegen.models.components.SparseEncoder` (submanifold sparse convs) → Linear → (B, latent)."""

    def __init__(self, npix: int = NPIX, channels: tuple[int, ...] = (16, 32, 64), latent: int = 32) -> None:
        super().__init__()
        from sparsegen.models.components import SparseEncoder

        self.body = SparseEncoder(npix, channels, out_dim=128)
        self.fc = nn.Linear(128, latent)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.body(x))


class ConvDecoder(nn.Module):
    """Linear → (C, s, s) → [ConvTranspose(4, s=2) + LeakyReLU + `ConvBlock`]* → 3×3 conv: the output head's
    *pre-activation* (1 channel; 3 for the hurdle output: occupancy logit, μ and log σ of log-intensity)."""

    def __init__(self, npix: int = NPIX, channels: tuple[int, ...] = (64, 32, 16), latent: int = 32,
                 skip: bool = False, out_channels: int = 1) -> None:
        super().__init__()
        self.side, self.c0 = npix // 2 ** len(channels), channels[0]
        self.fc = nn.Linear(latent, channels[0] * self.side ** 2)
        layers: list[nn.Module] = []
        c_in = channels[0]
        for c in channels:
            layers += [nn.ConvTranspose2d(c_in, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                       ConvBlock(c, skip)]
            c_in = c
        self.up = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, out_channels, 3, padding=1)
        with torch.no_grad():  # every variant starts with a live output (positive pre-activations), not a
            self.head.bias.fill_(0.1)  # random-sign bias that leaves some ReLU runs dead from step 0

    @torch.no_grad()
    def start_at(self, biases: Sequence[float]) -> None:
        """Output biases per channel (`start_biases`: the training data's mean pixel, read by the head)."""
        self.head.bias.copy_(torch.as_tensor(biases, dtype=self.head.bias.dtype))

    def forward(self, z: Tensor) -> Tensor:
        h = F.leaky_relu(self.fc(z), 0.2).view(-1, self.c0, self.side, self.side)
        return self.head(self.up(h))


class Autoencoder(nn.Module):
    """Encoder → `ConvDecoder`; ``forward`` gives the head's pre-activation, `Autoencoder.reconstruct` the
    image (scaled intensities) that output stands for."""

    def __init__(self, encoder: nn.Module, decoder: ConvDecoder, output: str, space: Normalizer) -> None:
        super().__init__()
        self.encoder, self.decoder, self.output, self.space = encoder, decoder, output, space

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))

    def activate(self, raw: Tensor) -> Tensor:
        return F.relu(raw) if self.output == "relu" else F.softplus(raw)

    def reconstruct(self, raw: Tensor) -> Tensor:
        """Scaled intensities. The hurdle output: its expected number of active pixels k = round(Σ σ(logit))
        per image, at the k most probable pixels, each at the inverse log transform of μ (a "most likely
        image" thresholded at σ > ½ is empty whenever no single pixel is more likely on than off, which is
        every pixel of an uncertain model at jet-image occupancies)."""
        if self.output == "hurdle":
            p = torch.sigmoid(raw[:, :1]).flatten(1)
            k = p.sum(1, keepdim=True).round().long()
            rank = p.argsort(1, descending=True).argsort(1)
            keep = (rank < k).view_as(raw[:, :1])
            return torch.where(keep, self.space.images_inverse(raw[:, 1:2]), torch.zeros_like(raw[:, 1:2]))
        return self.activate(raw)
