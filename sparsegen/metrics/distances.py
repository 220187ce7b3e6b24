"""Distribution distances with JetNet 0.2.5's definitions (``jetnet/evaluation/gen_metrics.py``).

Every metric takes real and generated samples (Tensor or ndarray; jets as (N, P, 3) [etarel, phirel,
ptrel] plus an optional (N, P) mask, or `Jets`) and returns ``(value, error)``. Defaults are JetNet's:

* W1 metrics: scipy's 1-D Wasserstein distance between ``num_eval_samples`` = 50,000 values drawn with
  replacement from each sample, repeated ``num_batches`` = 5 times; value = mean, error = std.
* FPD: features divided by max |real| per feature, Fréchet distance at 10 batch sizes evenly spaced in
  1/N between 20,000 and 50,000, 20 draws each, averaged per size; value ± error = intercept ± its
  standard error of a linear fit of FD vs 1/N (intercept and slope bounded >= 0, as JetNet's ``curve_fit``;
  solved exactly on rescaled values, see ``_intercept_fit``).
* KPD: same normalisation, unbiased MMD^2 with kernel (x.y/d + 1)^4 on 10 batches of 5,000;
  value = median, error = half the 16.275-83.725 percentile range.

Deviations from JetNet (none change the definitions above when >= 50,000 jets are given):

* Every function takes ``seed`` (JetNet's W1 functions use an unseeded global generator).
* FPD: when fewer than ``max_samples`` jets are available, ``max_samples`` is capped to the smaller
  sample size and ``min_samples`` scaled by the same factor (JetNet would draw 50,000 with replacement
  from, e.g., 5,000 jets, which fits the 1/N extrapolation to duplicated samples).
* KPD: ``batch_size`` is capped to the smaller sample size for the same reason (duplicates bias the
  unbiased MMD estimator upward).
* Fréchet distance: Tr sqrt(S1 S2) is computed as Tr sqrt(S1^1/2 S2 S1^1/2) from symmetric
  eigendecompositions (the same number, without ``sqrtm``'s complex round-off on near-singular EFP
  covariances).
* W1P/W1EFP summary: value = mean over features of the per-feature means (JetNet returns the per-feature
  arrays); error = std over batches of the per-batch feature average.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sparsegen.core.kinematics import as_particles, relative_kinematics
from sparsegen.metrics.resampling import SortedSample, draw_counts, parallel_map, resampled_w1, shared

NUM_EVAL_SAMPLES = 50_000
NUM_BATCHES = 5


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _features(x: Any) -> np.ndarray:
    """(N, F) float64 feature matrix ((N,) becomes (N, 1))."""
    a = _numpy(x).astype(np.float64)
    return a[:, None] if a.ndim == 1 else a


# ----------------------------------------------------------------------------- W1
def w1_batches(real: Any, gen: Any, num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
               seed: int = 42) -> np.ndarray:
    """(num_batches, F) W1 per feature between values drawn with replacement; real/gen (N,) or (N, F)."""
    a, b = _features(real), _features(gen)
    if len(a) == 0 or len(b) == 0:
        return np.full((num_batches, a.shape[1]), np.inf)
    rng = np.random.default_rng(seed)
    draws = [(draw_counts(rng, len(a), num_eval_samples), draw_counts(rng, len(b), num_eval_samples))
             for _ in range(num_batches)]

    def feature(f: int) -> list[float]:
        return resampled_w1(SortedSample.of(a[:, f]), SortedSample.of(b[:, f]), draws)

    per_feature = parallel_map(feature, list(range(a.shape[1])))
    return np.asarray(per_feature).T.reshape(num_batches, a.shape[1])


def w1(real: Any, gen: Any, num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
       seed: int = 42) -> tuple[float, float]:
    """W1 between two 1-D samples (N,): mean ± std over ``num_batches`` resampled batches."""
    vals = w1_batches(real, gen, num_eval_samples, num_batches, seed)[:, 0]
    return float(vals.mean()), float(vals.std())


def w1m(
    real: Any,
    gen: Any,
    mask_real: Any = None,
    mask_gen: Any = None,
    num_eval_samples: int = NUM_EVAL_SAMPLES,
    num_batches: int = NUM_BATCHES,
    seed: int = 42,
) -> tuple[float, float]:
    """W1 of the relative jet mass (JetNet ``w1m``; papers often quote it x 10^3)."""
    xr, mr = as_particles(real, mask_real)
    xg, mg = as_particles(gen, mask_gen)
    return w1(
        relative_kinematics(xr, mr)[3], relative_kinematics(xg, mg)[3], num_eval_samples, num_batches, seed
    )


def w1p_batches(real: Any, gen: Any, mask_real: Any = None, mask_gen: Any = None, exclude_zeros: bool = True,
                num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                seed: int = 42) -> np.ndarray:
    """(num_batches, 3) per-batch W1 of (etarel, phirel, ptrel), masked (and all-zero) particles dropped."""
    xr, mr = as_particles(real, mask_real)
    xg, mg = as_particles(gen, mask_gen)
    if exclude_zeros:  # JetNet also drops particles whose features are all exactly zero
        mr = mr & (np.linalg.norm(xr, axis=-1) != 0)
        mg = mg & (np.linalg.norm(xg, axis=-1) != 0)
    rng = np.random.default_rng(seed)
    draws = [(draw_counts(rng, len(xr), num_eval_samples), draw_counts(rng, len(xg), num_eval_samples))
             for _ in range(num_batches)]
    jr, jg = np.nonzero(mr)[0], np.nonzero(mg)[0]  # the jet of every kept particle
    pr, pg = xr[mr], xg[mg]

    def feature(f: int) -> list[float]:
        sr, sg = SortedSample.of(pr[:, f], jr, len(xr)), SortedSample.of(pg[:, f], jg, len(xg))
        return resampled_w1(sr, sg, draws)

    per_feature = parallel_map(feature, list(range(xr.shape[-1])))
    return np.asarray(per_feature).T.reshape(num_batches, xr.shape[-1])


def w1p_features(real: Any, gen: Any, mask_real: Any = None, mask_gen: Any = None, exclude_zeros: bool = True,
                 num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                 seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature W1 of particle (etarel, phirel, ptrel), masked particles dropped: (means (3,), stds
    (3,))."""
    vals = w1p_batches(real, gen, mask_real, mask_gen, exclude_zeros, num_eval_samples, num_batches, seed)
    return vals.mean(0), vals.std(0)


def w1p(
    real: Any,
    gen: Any,
    mask_real: Any = None,
    mask_gen: Any = None,
    exclude_zeros: bool = True,
    num_eval_samples: int = NUM_EVAL_SAMPLES,
    num_batches: int = NUM_BATCHES,
    seed: int = 42,
) -> tuple[float, float]:
    """W1P: mean over the 3 particle features of the per-feature W1 (error: std of per-batch means)."""
    vals = w1p_batches(real, gen, mask_real, mask_gen, exclude_zeros, num_eval_samples, num_batches, seed)
    per_batch = vals.mean(1)
    return float(per_batch.mean()), float(per_batch.std())


def w1efp_batches(real: Any, gen: Any, mask_real: Any = None, mask_gen: Any = None,
                  num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                  seed: int = 42) -> np.ndarray:
    """(num_batches, 5) per-batch W1 of each of the 5 (n=4, d=4, prime) EFPs."""
    from sparsegen.metrics.efp import W1EFP_SET, efps

    er = efps(*as_particles(real, mask_real), efpset=W1EFP_SET)
    eg = efps(*as_particles(gen, mask_gen), efpset=W1EFP_SET)
    return w1_batches(er, eg, num_eval_samples, num_batches, seed)


def w1efp_features(real: Any, gen: Any, mask_real: Any = None, mask_gen: Any = None,
                   num_eval_samples: int = NUM_EVAL_SAMPLES, num_batches: int = NUM_BATCHES,
                   seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """W1 of each of the 5 (n=4, d=4, prime) EFPs: (means (5,), stds (5,))."""
    vals = w1efp_batches(real, gen, mask_real, mask_gen, num_eval_samples, num_batches, seed)
    return vals.mean(0), vals.std(0)


def w1efp(
    real: Any,
    gen: Any,
    mask_real: Any = None,
    mask_gen: Any = None,
    num_eval_samples: int = NUM_EVAL_SAMPLES,
    num_batches: int = NUM_BATCHES,
    seed: int = 42,
) -> tuple[float, float]:
    """W1EFP: mean over the 5 EFPs of the per-EFP W1 (error: std of per-batch means)."""
    per_batch = w1efp_batches(real, gen, mask_real, mask_gen, num_eval_samples, num_batches, seed).mean(1)
    return float(per_batch.mean()), float(per_batch.std())


# ----------------------------------------------------------------------------- FPD / KPD
def fpd_kpd_features(jets: Any, mask: Any = None) -> np.ndarray:
    """The 36 EFPs of degree <= 4 (N, 36), JetNet's recommended FPD/KPD jet features."""
    from sparsegen.metrics.efp import efps

    return efps(*as_particles(jets, mask), efpset="d<=4")


def normalise_features(real: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide both by max |real| per feature (features that are all zero are left alone)."""
    maxes = np.max(np.abs(real), axis=0)
    maxes = np.where(maxes == 0, 1.0, maxes)
    return real / maxes, gen / maxes


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(s)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2) between two Gaussians."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    s1, s2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def fpd_batch_sizes(num_real: int, num_gen: int, min_samples: int = 20_000, max_samples: int = 50_000,
                    num_points: int = 10) -> np.ndarray:
    """Batch sizes evenly spaced in 1/N (JetNet), capped to the available samples (see module notes)."""
    available = min(num_real, num_gen)
    if available < max_samples:
        min_samples = max(2, int(min_samples * available / max_samples))
        max_samples = available
    return (1 / np.linspace(1.0 / min_samples, 1.0 / max_samples, num_points)).astype("int32")


def fpd(
    real_features: Any,
    gen_features: Any,
    min_samples: int = 20_000,
    max_samples: int = 50_000,
    num_batches: int = 20,
    num_points: int = 10,
    normalise: bool = True,
    seed: int = 42,
) -> tuple[float, float]:
    """Fréchet physics distance between (N, F) feature sets: intercept ± error of FD vs 1/N."""
    x, y = _features(real_features), _features(gen_features)
    if normalise:
        x, y = normalise_features(x, y)
    batches = fpd_batch_sizes(len(x), len(y), min_samples, max_samples, num_points)
    rng = np.random.default_rng(seed)
    draws = [(rng.choice(len(x), size=int(size)), rng.choice(len(y), size=int(size)))
             for size in batches for _ in range(num_batches)]
    sides = [(x, [d[0] for d in draws]), (y, [d[1] for d in draws])]
    (mean_x, cov_x), (mean_y, cov_y) = parallel_map(
        lambda side: shared("moments", (side[0], *side[1]), lambda: resampled_moments(*side)), sides)
    points = [frechet_distance(mean_x[k], cov_x[k], mean_y[k], cov_y[k]) for k in range(len(draws))]
    vals = np.asarray(points).reshape(len(batches), num_batches).mean(1)
    return _intercept_fit(1.0 / np.asarray(batches, dtype=np.float64), vals)


def resampled_moments(x: np.ndarray, draws: list[np.ndarray],
                      chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Means (K, F) and covariances (K, F, F) (``np.cov``, unbiased) of ``x[d]`` for K index arrays ``d``.

    Without gathering the K samples: row i of x enters draw k with weight c_ki (how often it is drawn), so
    all sums are one (K, N) x (N, F(F+1)/2) matrix product over the products of centred features (torch,
    float64). Rows are centred on the mean of x first, and the covariance of draw k
    is (sum_i c_ki x_i x_i^T - n m m^T) / (n - 1) with m its (small) mean offset: the same number as
    ``np.cov(x[d], rowvar=False)`` up to float round-off.
    """
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    n_rows, n_feat = xt.shape
    counts = torch.stack([torch.bincount(torch.from_numpy(np.asarray(d, np.int64)), minlength=n_rows)
                          for d in draws]).to(torch.float64)
    iu, ju = torch.triu_indices(n_feat, n_feat)
    center = xt.mean(0)
    sums = torch.zeros(len(draws), n_feat, dtype=torch.float64)
    grams = torch.zeros(len(draws), len(iu), dtype=torch.float64)
    for start in range(0, n_rows, chunk):
        xc = xt[start:start + chunk] - center
        c = counts[:, start:start + chunk]
        sums += c @ xc
        grams += c @ (xc[:, iu] * xc[:, ju])
    n = counts.sum(1)
    offset = sums / n[:, None]
    gram = torch.empty(len(draws), n_feat, n_feat, dtype=torch.float64)
    gram[:, iu, ju] = grams
    gram[:, ju, iu] = grams
    cov = (gram - n[:, None, None] * offset[:, :, None] * offset[:, None, :]) / (n - 1)[:, None, None]
    return (center + offset).numpy(), cov.numpy()


def _intercept_fit(n_inv: np.ndarray, vals: np.ndarray) -> tuple[float, float]:
    """Intercept ± standard error of the least-squares fit vals ≈ a + b / N with a, b ≥ 0.

    The same estimate as JetNet's ``curve_fit(linear, 1/N, vals, bounds=([0, 0], [inf, inf]))`` (error from
    ``s² (JᵀJ)⁻¹`` with s² = SSR / (n − 2)), but solved exactly on rescaled values: ``curve_fit`` starts
    from (1, 1) and can return it unchanged when the Fréchet distances are huge (a generator with exploding
    features), which would read as FPD = 1 ± 0 (docs/metrics.md, "Deviations from JetNet" 8).
    """
    from scipy.optimize import lsq_linear

    scale = float(np.max(np.abs(vals))) if vals.size and np.max(np.abs(vals)) > 0 else 1.0
    jac = np.stack([np.ones_like(n_inv), n_inv], 1)
    fit = lsq_linear(jac, vals / scale, bounds=([0.0, 0.0], [np.inf, np.inf]), method="bvls")
    a, b = fit.x * scale
    resid = vals - (a + b * n_inv)
    dof = max(len(vals) - 2, 1)
    try:
        cov = np.linalg.inv(jac.T @ jac) * float(resid @ resid) / dof
        err = float(np.sqrt(max(cov[0, 0], 0.0)))
    except np.linalg.LinAlgError:
        err = float("inf")
    return float(a), err


def _poly_kernel_sum(a: torch.Tensor, b: torch.Tensor | None, degree: int, block: int) -> float:
    """Sum of all entries of the kernel matrix (a.b^T / d + 1)^degree, in row/column blocks (torch).

    With ``b=None`` the matrix is K(a, a): only blocks on and above the diagonal are computed.
    """
    d = a.shape[1]
    same = b is None
    b = a if same else b
    total = 0.0
    for i in range(0, len(a), block):
        for j in range(i if same else 0, len(b), block):
            k = (a[i:i + block] @ b[j:j + block].T).div_(d).add_(1.0)
            k = k.square_().square_() if degree == 4 else k.pow_(degree)
            total += float(k.sum()) * (2.0 if same and j > i else 1.0)
    return total


def mmd_poly_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 4, block: int = 1024) -> float:
    """Unbiased MMD^2 with the polynomial kernel k(a, b) = (a.b / d + 1)^degree (diagonals excluded).

    float64 throughout (MMD^2 of close samples is a tiny difference of O(1) kernel means); the kernel
    blocks are torch matrix products (``kpd`` runs its batches on parallel threads).
    """
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64))
    d = xt.shape[1]
    m, n = len(xt), len(yt)
    diag_x = float(((xt * xt).sum(1) / d + 1.0).pow(degree).sum())
    diag_y = float(((yt * yt).sum(1) / d + 1.0).pow(degree).sum())
    sum_xx = shared(f"kernel{degree}/{block}", (x,), lambda: _poly_kernel_sum(xt, None, degree, block))
    kxx = (sum_xx - diag_x) / (m * (m - 1))
    kyy = (_poly_kernel_sum(yt, None, degree, block) - diag_y) / (n * (n - 1))
    kxy = _poly_kernel_sum(xt, yt, degree, block) / (m * n)
    return float(kxx + kyy - 2.0 * kxy)


def kpd(real_features: Any, gen_features: Any, num_batches: int = 10, batch_size: int = 5_000,
        normalise: bool = True, seed: int = 42) -> tuple[float, float]:
    """Kernel physics distance: median ± half the 16.275-83.725 percentile range of per-batch MMD^2."""
    x, y = _features(real_features), _features(gen_features)
    if normalise:
        x, y = normalise_features(x, y)
    batch_size = max(2, min(batch_size, len(x), len(y)))
    draws = []
    for i in range(num_batches):
        rng = np.random.default_rng(seed + i * 1000)  # JetNet seeds each batch this way
        draws.append((rng.choice(len(x), size=batch_size), rng.choice(len(y), size=batch_size)))
    vals = parallel_map(lambda d: mmd_poly_unbiased(x[d[0]], y[d[1]]), draws)
    lo, hi = np.percentile(vals, [16.275, 83.725])
    return float(np.median(vals)), float((hi - lo) / 2)
