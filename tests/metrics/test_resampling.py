"""The fast resampling machinery computes the direct implementation's numbers on the very same draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from sparsegen.metrics import resampling as R
from sparsegen.metrics.distances import (
    frechet_distance,
    kpd,
    mmd_poly_unbiased,
    resampled_moments,
    w1_batches,
    w1p_batches,
)


def test_draw_counts_are_the_same_draw() -> None:
    idx = np.random.default_rng(4).choice(50, size=300)
    counts = R.draw_counts(np.random.default_rng(4), 50, 300)
    np.testing.assert_array_equal(counts, np.bincount(idx, minlength=50))


def test_resampled_w1_equals_scipy_with_groups_ties_and_unequal_sizes() -> None:
    rng = np.random.default_rng(0)
    u = rng.normal(size=900).round(2)  # many ties, within and across samples
    v = rng.exponential(size=500).round(2)
    gu, gv = rng.integers(0, 120, 900), rng.integers(0, 70, 500)  # groups of uneven size, some empty
    w1 = R.ResampledW1(R.SortedSample.of(u, gu, 120), R.SortedSample.of(v, gv, 70))
    for _ in range(5):
        iu, iv = rng.choice(120, 150), rng.choice(70, 80)
        cu, cv = np.bincount(iu, minlength=120), np.bincount(iv, minlength=70)
        drawn_u = np.concatenate([u[gu == g] for g in iu])
        drawn_v = np.concatenate([v[gv == g] for g in iv])
        assert w1(cu, cv) == pytest.approx(wasserstein_distance(drawn_u, drawn_v), rel=1e-12)
    assert w1(np.zeros(120, int), np.ones(70, int)) == np.inf  # a draw without values on one side
    empty = R.SortedSample.of(np.empty(0), np.empty(0, int), 3)
    assert R.ResampledW1(empty, empty)(np.ones(3, int), np.ones(3, int)) == np.inf


def test_w1p_equals_scipy_on_gathered_draws() -> None:
    rng = np.random.default_rng(1)
    xr, xg = rng.normal(size=(400, 12, 3)).astype(np.float32), rng.normal(0.1, 1, size=(300, 12, 3))
    mr, mg = rng.random((400, 12)) < 0.7, rng.random((300, 12)) < 0.5
    xr[5, 0] = 0.0  # an all-zero particle is dropped like a masked one (JetNet's exclude_zeros)
    vals = w1p_batches(xr, xg, mr, mg, num_eval_samples=600, num_batches=3, seed=9)
    draw = np.random.default_rng(9)
    keep_r = mr & (np.abs(xr).sum(-1) != 0)
    for b in range(3):
        ir, ig = draw.choice(400, 600), draw.choice(300, 600)
        pr, pg = xr[ir][keep_r[ir]], xg[ig][mg[ig]]
        expected = [wasserstein_distance(pr[:, f], pg[:, f]) for f in range(3)]
        np.testing.assert_allclose(vals[b], expected, rtol=1e-12)


def test_threads_do_not_change_results() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(800, 4)), rng.normal(size=(700, 4))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    one = w1_batches(a, b, 500, 3, seed=1), kpd(a, b, 4, 200, seed=1)
    torch.set_num_threads(2)
    try:
        two = w1_batches(a, b, 500, 3, seed=1), kpd(a, b, 4, 200, seed=1)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1] == two[1]
    assert R.parallel_map(lambda i: i * i, list(range(7))) == [i * i for i in range(7)]


def test_resampled_moments_equal_np_cov_of_the_gathered_draws() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 0.01, size=(1000, 6)) @ rng.normal(size=(6, 6))  # offset >> spread: centring matters
    draws = [rng.choice(1000, size=n) for n in (50, 300, 1000)]
    means, covs = resampled_moments(x, draws, chunk=128)
    for d, mean, cov in zip(draws, means, covs):
        np.testing.assert_allclose(mean, x[d].mean(0), rtol=1e-13)
        direct = np.cov(x[d], rowvar=False)
        np.testing.assert_allclose(cov, direct, rtol=1e-9, atol=1e-12 * np.abs(cov).max())
        assert frechet_distance(mean, cov, x[d].mean(0), direct) == pytest.approx(0, abs=1e-12)


def test_shared_work_reuses_identical_inputs_only() -> None:
    calls = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    a, b = np.arange(10.0), np.arange(10.0)
    assert R.shared("t", (a,), compute) == 1 and R.shared("t", (a,), compute) == 2  # off outside a block
    with R.shared_work():
        assert R.shared("t", (a,), compute) == 3
        assert R.shared("t", (b,), compute) == 3  # same bytes: reused
        assert R.shared("t", (b + 1,), compute) == 4
        assert R.shared("u", (a,), compute) == 5  # another tag
        assert R.shared("t", (a.astype(np.float32),), compute) == 6  # another dtype
    assert R.shared("t", (a,), compute) == 7  # dropped at exit
    x, y = np.random.default_rng(5).random((300, 5)), np.random.default_rng(6).random((300, 5))
    plain = mmd_poly_unbiased(x, y)
    with R.shared_work():
        assert mmd_poly_unbiased(x, y) == plain and mmd_poly_unbiased(x, y) == plain
