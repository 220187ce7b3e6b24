"""Sparsity-aware metrics: what dense summaries (mass, pT, EFPs) miss.

A jet image is ~95% empty pixels. A generator can match the jet mass and pT while filling the empty
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

from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from sparsegen.core.defaults import EXTENT, NPIX
from sparsegen.core.kinematics import as_particles, tau_ratios
from sparsegen.metrics.distances import NUM_BATCHES, NUM_EVAL_SAMPLES, w1

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


def occupancy(images: Any, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Fraction of pixels above ``threshold`` per image (N,)."""
    imgs = as_images(images)
    return (imgs > threshold).reshape(len(imgs), -1).mean(1)


def occupancy_map(images: Any, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Probability that each pixel is active (H, W)."""
    return (as_images(images) > threshold).mean(0)


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


def _active_log_intensities(
    images: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat log10 intensities of active pixels, with per-image offsets and counts."""
    flat = images.reshape(len(images), -1)
    active = flat > max(threshold, 0.0)
    counts = active.sum(1)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.log10(flat[active].astype(np.float64)), offsets, counts


def _gather(values: np.ndarray, offsets: np.ndarray, counts: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Concatenate the values of images ``idx`` (with repeats) without copying the images."""
    c = counts[idx]
    total = int(c.sum())
    if total == 0:
        return np.empty(0)
    starts = np.repeat(offsets[idx] - np.concatenate([[0], np.cumsum(c)[:-1]]), c)
    return values[starts + np.arange(total)]


def w1_pixel_intensity(real_images: Any, gen_images: Any, threshold: float = DEFAULT_THRESHOLD,
                       num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                       seed: int = 42) -> tuple[float, float]:
    """W1 of log10(intensity) over the active pixels of resampled images (inf if one side has none)."""
    r = _active_log_intensities(as_images(real_images), threshold)
    g = _active_log_intensities(as_images(gen_images), threshold)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(num_batches):
        vr = _gather(*r, rng.choice(len(r[1]), size=num_eval_samples))
        vg = _gather(*g, rng.choice(len(g[1]), size=num_eval_samples))
        vals.append(wasserstein_distance(vr, vg) if len(vr) and len(vg) else np.inf)
    return float(np.mean(vals)), float(np.std(vals))


def occupancy_map_difference(real_images: Any, gen_images: Any, threshold: float = DEFAULT_THRESHOLD,
                             num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                             seed: int = 42) -> tuple[float, float]:
    """Mean over pixels of |P_real(active) - P_gen(active)|, on resampled batches: (mean, std)."""
    ar = as_images(real_images) > threshold
    ag = as_images(gen_images) > threshold
    if ar.shape[1:] != ag.shape[1:]:
        raise ValueError(f"image shapes differ: {ar.shape[1:]} vs {ag.shape[1:]}")
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(num_batches):
        mr = ar[rng.choice(len(ar), size=num_eval_samples)].mean(0)
        mg = ag[rng.choice(len(ag), size=num_eval_samples)].mean(0)
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
