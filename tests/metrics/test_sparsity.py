"""Sparsity-aware metrics: they must see a generator that fills empty pixels with small noise."""

from __future__ import annotations

import numpy as np
import pytest

from sparsegen.core.jets import Jets
from sparsegen.metrics.distances import w1m
from sparsegen.metrics.sparsity import (
    ActivePixels,
    as_images,
    occupancy,
    occupancy_map,
    occupancy_map_difference,
    w1_multiplicity,
    w1_occupancy,
    w1_pixel_intensity,
    w1_tau21,
    w1_tau32,
    zero_fraction,
)

SMALL = {"num_eval_samples": 3_000, "num_batches": 3}


def test_occupancy_and_zero_fraction() -> None:
    images = np.zeros((2, 4, 4), np.float32)
    images[0, 0, :2] = [0.5, 1e-7]  # 1e-7 is below the default threshold: not active, but not zero either
    images[1, 1, 1] = 0.2
    np.testing.assert_allclose(occupancy(images), [1 / 16, 1 / 16])
    np.testing.assert_allclose(occupancy(images, threshold=0.0), [2 / 16, 1 / 16])
    assert zero_fraction(images) == pytest.approx(29 / 32)
    assert occupancy_map(images)[0, 0] == 0.5 and occupancy_map(images)[1, 1] == 0.5


def test_as_images_paths(real_jets) -> None:
    jets = real_jets[:10]
    pix = as_images(jets)
    np.testing.assert_array_equal(pix, jets.to_images())
    with_images = Jets.from_images(pix, pt=1000.0)
    assert as_images(with_images) is with_images.images or np.array_equal(as_images(with_images), pix)
    assert as_images(pix[:, None]).shape == (10, 32, 32)


def _naive_image_metrics(real: np.ndarray, gen: np.ndarray, threshold: float, num: int, batches: int,
                         seed: int) -> tuple[list[float], list[float]]:
    """The direct computation: gather every draw, scipy's W1 of its log intensities, mean active maps."""
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(seed)
    intensity = []
    for _ in range(batches):
        dr, dg = real[rng.choice(len(real), size=num)], gen[rng.choice(len(gen), size=num)]
        vr, vg = (np.log10(d[d > max(threshold, 0)].astype(np.float64)) for d in (dr, dg))
        intensity.append(wasserstein_distance(vr, vg))
    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(batches):
        mr = (real[rng.choice(len(real), size=num)] > threshold).mean(0)
        mg = (gen[rng.choice(len(gen), size=num)] > threshold).mean(0)
        maps.append(np.abs(mr - mg).mean())
    return intensity, maps


@pytest.mark.parametrize("threshold", [1e-5, 0.0, -1.0])
def test_image_metrics_equal_the_direct_computation(threshold: float) -> None:
    """Sort-once W1 and count-weighted maps give scipy's numbers on the gathered draws (the same draws)."""
    rng = np.random.default_rng(0)
    real = np.where(rng.random((300, 6, 6)) < 0.3, rng.random((300, 6, 6)), 0.0).astype(np.float32)
    gen = np.where(rng.random((200, 6, 6)) < 0.4, 0.9 * rng.random((200, 6, 6)), 0.0).astype(np.float32)
    intensity, maps = _naive_image_metrics(real, gen, threshold, 700, 4, seed=3)
    kw = {"threshold": threshold, "num_eval_samples": 700, "num_batches": 4, "seed": 3}
    expected = (np.mean(intensity), np.std(intensity))
    assert w1_pixel_intensity(real, gen, **kw) == pytest.approx(expected, rel=1e-12)
    assert occupancy_map_difference(real, gen, **kw) == (np.mean(maps), np.std(maps))  # integer sums: exact
    active = ActivePixels.of(real, threshold)
    np.testing.assert_array_equal(occupancy(active, threshold), (real > threshold).reshape(300, -1).mean(1))
    np.testing.assert_array_equal(occupancy_map(active, threshold), (real > threshold).mean(0))
    with pytest.raises(ValueError, match="threshold"):
        occupancy(active, threshold + 1.0)


def _noisy(images: np.ndarray, amplitude: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, amplitude, images.shape).astype(np.float32)
    return np.where(images > 0, images, noise)


def test_noise_in_empty_pixels_is_detected(real_jets, real_jets_2) -> None:
    real_img, other_img = real_jets.to_images(), real_jets_2.to_images()
    noisy_img = _noisy(other_img, 1e-4)
    clean = Jets.from_images(other_img, pt=1000.0)
    noisy = Jets.from_images(noisy_img, pt=1000.0)
    # mass on the 30 hardest particles barely moves (the JetNet convention for particle-level metrics)
    m_clean = w1m(real_jets, clean.hardest(30), **SMALL)[0]
    m_noisy = w1m(real_jets, noisy.hardest(30), **SMALL)[0]
    assert abs(m_noisy - m_clean) < 0.25 * m_clean + 1e-3
    # the sparsity metrics light up
    occ_truth, occ_noisy = (
        w1_occupancy(real_img, other_img, **SMALL)[0],
        w1_occupancy(real_img, noisy_img, **SMALL)[0],
    )
    assert occ_noisy > 0.5 and occ_noisy > 100 * occ_truth
    pix_truth = w1_pixel_intensity(real_img, other_img, **SMALL)[0]
    pix_noisy = w1_pixel_intensity(real_img, noisy_img, **SMALL)[0]
    assert pix_noisy > 20 * pix_truth
    map_truth = occupancy_map_difference(real_img, other_img, **SMALL)[0]
    assert occupancy_map_difference(real_img, noisy_img, **SMALL)[0] > 10 * map_truth
    mult_truth = w1_multiplicity(real_jets, Jets.from_images(real_img[:2500], pt=1000.0), **SMALL)[0]
    assert w1_multiplicity(real_jets, noisy, **SMALL)[0] > 20 * mult_truth
    assert zero_fraction(real_img) > 0.9 and zero_fraction(noisy_img) < 0.01


def test_tau_metrics_see_substructure(make_jets, real_jets, real_jets_2) -> None:
    one_prong = make_jets(3000, seed=9, two_prong_fraction=0.0)
    truth21, truth32 = (
        w1_tau21(real_jets, real_jets_2, **SMALL)[0],
        w1_tau32(real_jets, real_jets_2, **SMALL)[0],
    )
    assert w1_tau21(real_jets, one_prong, **SMALL)[0] > 5 * truth21
    assert w1_tau32(real_jets, one_prong, **SMALL)[0] > 2 * truth32
