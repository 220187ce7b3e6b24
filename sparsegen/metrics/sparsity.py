"""Sparsity-aware metrics: what dense summaries (mass, pT, EFPs) miss.

A jet image is mostly empty pixels. A generator can match the jet mass and pT while filling the empty
pixels with small positive noise; these metrics see that. All of them work on images and, through
``Jets.to_images`` (constituent-level preprocessing, then pixelization), on point clouds alike.

* ``w1_multiplicity``: W1 of the number of particles (active pixels for image models) per jet.
* ``w1_occupancy``: W1 of the per-image fraction of pixels above ``threshold`` (CaloChallenge-style: one
  threshold applied to real and generated images alike, a read-out threshold in units of the jet pT).
* ``w1_pixel_intensity``: W1 of log10 of the active-pixel intensities (the intensity spectrum);
  ``zero_fraction`` is the fraction of pixels that are exactly zero (no threshold: any noise shows).
* ``occupancy_map_difference``: mean over pixels of |P_real(active) - P_gen(active)|.
* ``w1_tau21`` / ``w1_tau32``: W1 of N-subjettiness ratios (substructure, sensitive to soft radiation).

W1 metrics use the JetNet resampling scheme of :mod:`sparsegen.metrics.distances` (``num_batches``
draws of ``num_eval_samples`` with replacement; value = mean, error = std).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsegen.core.defaults import EXTENT, NPIX
from sparsegen.core.kinematics import as_particles, tau_ratios
from sparsegen.metrics.distances import NUM_BATCHES, NUM_EVAL_SAMPLES, w1
from sparsegen.metrics.resampling import SortedSample, draw_counts, resampled_w1

# Read-out threshold on pixel intensity (ptrel units, i.e. 10 MeV for a 1 TeV jet): pixels above it are
# "active". Below any physical particle in JetNet-like samples, above float round-off of empty outputs.
DEFAULT_THRESHOLD = 1e-5


def as_images(jets: Any, npix: int = NPIX, extent: float = EXTENT) -> np.ndarray:
    """(N, H, W) float32 images: arrays pass through, `Jets` use their ``images`` if set, else pixelize."""
    if hasattr(jets, "particles"):
        if getattr(jets, "images", None) is not None:
            return np.asarray(jets.images, dtype=np.float32)
        return jets.to_images(npix=npix, extent=extent, preprocess=True)
    images = jets.detach().cpu().numpy() if hasattr(jets, "detach") else np.asarray(jets)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {images.shape}")
    return images.astype(np.float32, copy=False)


@dataclass(frozen=True)
class ActivePixels:
    """The pixels of (N, H, W) images above ``threshold`` as flat lists: one scan serves every image metric.

    The image functions below accept it in place of images (with the same threshold).
    """

    shape: tuple[int, int, int]
    threshold: float
    image: np.ndarray  # (A,) image of each active pixel
    pixel: np.ndarray  # (A,) its flat pixel index
    value: np.ndarray  # (A,) its intensity

    @classmethod
    def of(cls, images: Any, threshold: float = DEFAULT_THRESHOLD) -> ActivePixels:
        """The active pixels of images (an `ActivePixels` at this ``threshold`` passes through)."""
        if isinstance(images, ActivePixels):
            if images.threshold != threshold:
                raise ValueError(f"active pixels at threshold {images.threshold}, asked for {threshold}")
            return images
        imgs = as_images(images)
        flat = imgs.reshape(len(imgs), -1)
        image, pixel = np.nonzero(flat > threshold)
        return cls(imgs.shape, threshold, image, pixel, flat[image, pixel])

    @property
    def num_images(self) -> int:
        return self.shape[0]

    def occupancy(self) -> np.ndarray:
        """Fraction of active pixels per image (N,)."""
        return np.bincount(self.image, minlength=self.num_images) / (self.shape[1] * self.shape[2])

    def mean_map(self, counts: np.ndarray | None = None) -> np.ndarray:
        """Probability that each pixel is active (H, W) over the images, or over a draw that picks image i
        ``counts[i]`` times (as ``maps[idx].mean(0)``; exact: integer sums in float64)."""
        weights = None if counts is None else counts[self.image].astype(np.float64)
        total = self.num_images if counts is None else counts.sum()
        hits = np.bincount(self.pixel, weights=weights, minlength=self.shape[1] * self.shape[2])
        return (hits / total).reshape(self.shape[1:])


def occupancy(images: Any, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Fraction of pixels above ``threshold`` per image (N,)."""
    return ActivePixels.of(images, threshold).occupancy()


def occupancy_map(images: Any, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Probability that each pixel is active (H, W)."""
    return ActivePixels.of(images, threshold).mean_map()


def zero_fraction(images: Any) -> float:
    """Fraction of pixels that are exactly zero."""
    return float((as_images(images) == 0).mean())


def w1_multiplicity(real: Any, gen: Any, mask_real: Any = None, mask_gen: Any = None,
                    num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                    seed: int = 42) -> tuple[float, float]:
    """W1 of the particle multiplicity per jet."""
    nr = as_particles(real, mask_real)[1].sum(1)
    ng = as_particles(gen, mask_gen)[1].sum(1)
    return w1(nr, ng, num_eval_samples, num_batches, seed)


def w1_occupancy(real_images: Any, gen_images: Any, threshold: float = DEFAULT_THRESHOLD,
                 num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                 seed: int = 42) -> tuple[float, float]:
    """W1 of the per-image occupancy (fraction of pixels above ``threshold``)."""
    return w1(occupancy(real_images, threshold), occupancy(gen_images, threshold), num_eval_samples,
              num_batches, seed)


def _log_intensities(active: ActivePixels) -> tuple[np.ndarray, np.ndarray]:
    """log10 of the active intensities (those above zero, for a negative threshold) and their images."""
    keep = active.value > 0 if active.threshold < 0 else slice(None)
    return np.log10(active.value[keep].astype(np.float64)), active.image[keep]


def w1_pixel_intensity(real_images: Any, gen_images: Any, threshold: float = DEFAULT_THRESHOLD,
                       num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                       seed: int = 42) -> tuple[float, float]:
    """W1 of log10(intensity) over the active pixels of resampled images (inf if one side has none)."""
    real, gen = ActivePixels.of(real_images, threshold), ActivePixels.of(gen_images, threshold)
    rng = np.random.default_rng(seed)
    draws = [(draw_counts(rng, real.num_images, num_eval_samples),
              draw_counts(rng, gen.num_images, num_eval_samples)) for _ in range(num_batches)]
    vals = resampled_w1(SortedSample.of(*_log_intensities(real), real.num_images),
                        SortedSample.of(*_log_intensities(gen), gen.num_images), draws)
    return float(np.mean(vals)), float(np.std(vals))


def occupancy_map_difference(real_images: Any, gen_images: Any, threshold: float = DEFAULT_THRESHOLD,
                             num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                             seed: int = 42) -> tuple[float, float]:
    """Mean over pixels of |P_real(active) - P_gen(active)|, on resampled batches: (mean, std)."""
    real, gen = ActivePixels.of(real_images, threshold), ActivePixels.of(gen_images, threshold)
    if real.shape[1:] != gen.shape[1:]:
        raise ValueError(f"image shapes differ: {real.shape[1:]} vs {gen.shape[1:]}")
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(num_batches):
        mr = real.mean_map(draw_counts(rng, real.num_images, num_eval_samples))
        mg = gen.mean_map(draw_counts(rng, gen.num_images, num_eval_samples))
        vals.append(np.abs(mr - mg).mean())
    return float(np.mean(vals)), float(np.std(vals))


def w1_tau21(real: Any, gen: Any, mask_real: Any = None, mask_gen: Any = None,
             num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
             seed: int = 42) -> tuple[float, float]:
    """W1 of tau21 = tau2 / tau1 (beta=1, R0=0.8, exclusive-kT axes)."""
    return w1(
        tau_ratios(real, mask_real)[0], tau_ratios(gen, mask_gen)[0], num_eval_samples, num_batches, seed
    )


def w1_tau32(real: Any, gen: Any, mask_real: Any = None, mask_gen: Any = None,
             num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
             seed: int = 42) -> tuple[float, float]:
    """W1 of tau32 = tau3 / tau2 (beta=1, R0=0.8, exclusive-kT axes)."""
    return w1(
        tau_ratios(real, mask_real)[1], tau_ratios(gen, mask_gen)[1], num_eval_samples, num_batches, seed
    )
