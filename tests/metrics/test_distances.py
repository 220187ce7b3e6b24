"""W1 / FPD / KPD: JetNet's analytic checks, scipy agreement, and the ordering physicists rely on."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg
from scipy.stats import wasserstein_distance

from sparsegen.core.jets import Jets
from sparsegen.metrics.distances import (
    fpd,
    fpd_batch_sizes,
    fpd_kpd_features,
    frechet_distance,
    kpd,
    mmd_poly_unbiased,
    w1,
    w1_batches,
    w1efp,
    w1m,
    w1p,
    w1p_features,
)

SMALL_FPD = {"min_samples": 1_000, "max_samples": 2_000, "num_batches": 5, "num_points": 5}
SMALL_W1 = {"num_eval_samples": 5_000, "num_batches": 5}


# ----------------------------------------------------------------------------- JetNet's analytic checks
def test_fpd_zeros_ones_twos() -> None:
    zeros, ones, twos = np.zeros((50_000, 2)), np.ones((50_000, 2)), np.full((50_000, 2), 2.0)
    val, err = fpd(zeros, zeros, **SMALL_FPD)
    assert val == pytest.approx(0, abs=0.01) and err < 1e-3
    val, err = fpd(zeros, ones, **SMALL_FPD)
    assert val == pytest.approx(2, rel=0.01) and err < 1e-3
    # real 2s are normalised to 1s by max |real|; generated 0s stay 0: FD = 2 (one per feature)
    val, err = fpd(twos, zeros, **SMALL_FPD)
    assert val == pytest.approx(2, rel=0.01) and err < 1e-3


def test_kpd_zeros_ones() -> None:
    zeros, ones = np.zeros((50_000, 2)), np.ones((50_000, 2))
    assert kpd(zeros, zeros, batch_size=1_000) == pytest.approx((0, 0))
    # k(0,0) = 1, k(1,1) = (2/2 + 1)^4 = 16, k(0,1) = 1: MMD^2 = 1 + 16 - 2 = 15
    assert kpd(zeros, ones, batch_size=1_000) == pytest.approx((15, 0))
    assert kpd(np.full((1000, 2), 2.0), zeros[:1000], batch_size=500) == pytest.approx((15, 0))


# ----------------------------------------------------------------------------- agreement with references
def test_w1_equals_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=3000), rng.exponential(size=2000)
    vals = w1_batches(a, b, num_eval_samples=1500, num_batches=3, seed=7)[:, 0]
    draw = np.random.default_rng(7)
    expected = []
    for _ in range(3):
        ia, ib = draw.choice(len(a), size=1500), draw.choice(len(b), size=1500)
        expected.append(wasserstein_distance(a[ia], b[ib]))
    np.testing.assert_allclose(vals, expected, rtol=1e-12)
    assert w1(a, b, 1500, 3, seed=7) == pytest.approx((np.mean(expected), np.std(expected)))
    # constant samples: W1 = |difference|, no spread
    assert w1(np.zeros(100), np.full(100, 0.25), 500, 4) == pytest.approx((0.25, 0.0))


def test_frechet_distance_matches_sqrtm() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(500, 6)), rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    mu1, mu2 = a.mean(0), b.mean(0) + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_mmd_matches_full_matrices() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 4)), rng.normal(0.2, 1.0, size=(250, 4))

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b.T / 4 + 1) ** 4

    kxx, kyy = k(x, x), k(y, y)
    expected = ((kxx.sum() - np.trace(kxx)) / (300 * 299) + (kyy.sum() - np.trace(kyy)) / (250 * 249)
                - 2 * k(x, y).mean())
    assert mmd_poly_unbiased(x, y, block=64) == pytest.approx(expected, rel=1e-10)


def test_fpd_batch_sizes() -> None:
    full = fpd_batch_sizes(60_000, 80_000)
    # JetNet truncates 1 / linspace(...) to int32, so the largest size is 49,999
    assert full[0] == 20_000 and full[-1] in (49_999, 50_000) and len(full) == 10
    np.testing.assert_allclose(np.diff(1 / full), np.diff(1 / full)[0], rtol=1e-3)  # even in 1/N
    capped = fpd_batch_sizes(5_000, 8_000)
    assert capped[0] == 2_000 and capped[-1] in (4_999, 5_000)


def test_w1p_drops_masked_particles(real_jets) -> None:
    jets = real_jets[:300]
    garbage = jets.particles.copy()
    garbage[~jets.mask] = 5.0  # junk in padded slots must not matter when the mask is given
    a = w1p_features(jets.particles, jets.particles, jets.mask, jets.mask, **SMALL_W1, seed=0)
    b = w1p_features(jets.particles, garbage, jets.mask, jets.mask, **SMALL_W1, seed=0)
    np.testing.assert_allclose(a[0], b[0])
    shifted = jets.particles.copy()
    shifted[..., 0] += 0.1 * jets.mask
    means, _ = w1p_features(jets, shifted, None, jets.mask, **SMALL_W1, seed=0)
    assert means[0] == pytest.approx(0.1, rel=0.05) and means[1] < 0.02


def test_seeded() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4000, 3)), rng.normal(0.1, 1, size=(4000, 3))
    assert fpd(a, b, **SMALL_FPD, seed=1) == fpd(a, b, **SMALL_FPD, seed=1)
    assert kpd(a, b, batch_size=500, seed=1) == kpd(a, b, batch_size=500, seed=1)
    assert w1(a[:, 0], b[:, 0], seed=4) == w1(a[:, 0], b[:, 0], seed=4)
    assert w1(a[:, 0], b[:, 0], 1000, seed=4) != w1(a[:, 0], b[:, 0], 1000, seed=5)


# ----------------------------------------------------------------------------- physics ordering
def _scaled(jets: Jets, pt_factor: float = 1.0, eta_smear: float = 0.0, seed: int = 0) -> Jets:
    x = jets.particles.copy()
    x[..., 2] *= pt_factor
    x[..., 0] += np.random.default_rng(seed).normal(0, eta_smear, x[..., 0].shape) * (eta_smear > 0)
    x[~jets.mask] = 0
    return Jets.from_particles(x, jets.mask, pt=jets.pt)


def test_ordering_w1m_w1p_w1efp(real_jets, real_jets_2) -> None:
    truth = w1m(real_jets, real_jets_2, **SMALL_W1)[0]
    scaled = w1m(real_jets, _scaled(real_jets_2, pt_factor=1.1), **SMALL_W1)[0]
    smeared = w1m(real_jets, _scaled(real_jets_2, eta_smear=0.1), **SMALL_W1)[0]
    assert scaled > 5 * truth and smeared > 5 * truth
    assert w1p(real_jets, _scaled(real_jets_2, eta_smear=0.1), **SMALL_W1)[0] > \
        5 * w1p(real_jets, real_jets_2, **SMALL_W1)[0]
    assert w1efp(real_jets, _scaled(real_jets_2, pt_factor=1.1), **SMALL_W1)[0] > \
        5 * w1efp(real_jets, real_jets_2, **SMALL_W1)[0]


def test_ordering_fpd_kpd(real_jets, real_jets_2) -> None:
    fr, fg = fpd_kpd_features(real_jets), fpd_kpd_features(real_jets_2)
    fs = fpd_kpd_features(_scaled(real_jets_2, eta_smear=0.1))
    fp = fpd_kpd_features(_scaled(real_jets_2, pt_factor=1.1))
    sizes = {**SMALL_FPD, "min_samples": 2_000, "max_samples": 5_000}
    truth, err = fpd(fr, fg, **sizes)
    assert truth < 0.005 and err < 0.005
    assert fpd(fr, fs, **sizes)[0] > 10 * max(truth, 1e-4)
    assert fpd(fr, fp, **sizes)[0] > 10 * max(truth, 1e-4)
    k_truth = kpd(fr, fg, batch_size=1000)[0]
    assert kpd(fr, fs, batch_size=1000)[0] > 10 * max(k_truth, 1e-5)
    assert kpd(fr, fp, batch_size=1000)[0] > 10 * max(k_truth, 1e-5)


def test_one_dimensional_features() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=3000), rng.normal(0.5, 1.0, size=3000)
    val, _ = fpd(a, b, min_samples=500, max_samples=1500, num_batches=3, num_points=3, normalise=False)
    assert val == pytest.approx(0.25, abs=0.06)  # (mu1 - mu2)^2 for equal variances
    assert kpd(a, b, batch_size=500)[0] > 10 * abs(kpd(a, rng.normal(size=3000), batch_size=500)[0])


def test_fpd_fit_matches_curve_fit_and_survives_huge_scales() -> None:
    """The intercept fit equals JetNet's bounded curve_fit where that converges, and stays right at FD ~
    1e14."""
    from scipy.optimize import curve_fit

    from sparsegen.metrics.distances import _intercept_fit

    n_inv = 1 / np.array([5000.0, 7000, 9000, 11000, 13000])
    vals = 0.02 + 40.0 * n_inv + np.array([1e-4, -2e-4, 5e-5, 1e-4, -5e-5])
    params, cov = curve_fit(lambda x, a, b: a + b * x, n_inv, vals, bounds=([0, 0], [np.inf, np.inf]))
    a, err = _intercept_fit(n_inv, vals)
    assert a == pytest.approx(params[0], rel=1e-6) and err == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-4)
    a_big, err_big = _intercept_fit(n_inv, vals * 1e16)  # curve_fit returns its start (1, 1) here
    assert a_big == pytest.approx(a * 1e16, rel=1e-6) and err_big == pytest.approx(err * 1e16, rel=1e-4)
    falling = 0.5 - 1000.0 * n_inv  # FD decreasing with 1/N: the slope bound is active
    assert _intercept_fit(n_inv, falling)[0] == pytest.approx(falling.mean(), rel=1e-9)
