"""How much faster are our PyTorch EFPs than energyflow, and what does FPD + KPD + W1EFP cost?

    python bench/metrics_speed.py [--num-jets 50000] [--num-particles 30] [--seed 0]

Computes the 36 EFPs (d <= 4, JetNet's FPD/KPD features) of N JetNet-like synthetic jets with
``sparsegen.metrics.efps`` (torch, all intra-op threads) and with energyflow's ``EFPSet.batch_compute``
(one worker process per core), reports the max relative difference and the speed ratio, then times the
full FPD + KPD + W1EFP evaluation (EFPs of a real and a generated sample of N jets each, JetNet's
published sample sizes capped to N). The last stdout line is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import energyflow as ef  # imported before torch (energyflow issue #24)
import numpy as np
import torch

from sparsegen.metrics.distances import fpd, kpd, w1_batches
from sparsegen.metrics.efp import W1EFP_INDICES, efps


def synthetic_jets(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(particles (n, p, 3) float64 [etarel, phirel, ptrel], mask): 20..p particles, falling ptrel summing
    to ~1, Gaussian (eta, phi) with a per-jet width of 0.1-0.2; half the jets have a second prong."""
    rng = np.random.default_rng(seed)
    mult = rng.integers(min(20, p), p + 1, n)
    mask = np.arange(p)[None] < mult[:, None]
    pt = np.where(mask, rng.exponential(1.0, (n, p)) ** 2 + 0.01, 0.0)
    pt = -np.sort(-pt, axis=1)
    pt /= pt.sum(1, keepdims=True)
    width = rng.uniform(0.1, 0.2, (n, 1))
    eta, phi = rng.normal(0, 1, (n, p)) * width, rng.normal(0, 1, (n, p)) * width
    prong = (rng.random((n, p)) < 0.35) & (rng.random((n, 1)) < 0.5)
    angle = rng.uniform(0, 2 * np.pi, (n, 1))
    eta, phi = eta + prong * 0.35 * np.cos(angle), phi + prong * 0.35 * np.sin(angle)
    x = np.stack([eta, phi, pt], -1)
    x[~mask] = 0.0
    return x, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-jets", type=int, default=50_000)
    parser.add_argument("--num-particles", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, p = args.num_jets, args.num_particles
    cores = os.cpu_count() or 1
    x, mask = synthetic_jets(n, p, args.seed)

    efpset = ef.EFPSet("d<=4", measure="hadr", beta=1, normed=None, coords="ptyphim")
    t0 = time.perf_counter()
    ref = efpset.batch_compute(x[..., [2, 0, 1]], cores)
    t_ef = time.perf_counter() - t0

    efps(x[:100], mask[:100])  # warm-up (thread pool, allocator)
    t0 = time.perf_counter()
    ours = efps(x, mask)
    t_ours = time.perf_counter() - t0
    nonzero = ref != 0
    rel = np.abs(ours - ref)[nonzero] / np.abs(ref)[nonzero]
    max_rel = float(rel.max()) if rel.size else 0.0
    assert np.all(ours[~nonzero] == 0), "EFPs that energyflow finds zero must be zero"
    speedup = t_ef / t_ours
    print(f"EFPs d<=4 of {n} jets x {p} particles: ours {t_ours:.3f} s ({torch.get_num_threads()} threads), "
          f"energyflow {t_ef:.2f} s ({cores} processes): {speedup:.1f}x faster, max rel. diff {max_rel:.2e}")

    gx, gmask = synthetic_jets(n, p, args.seed + 1)
    gx[..., 2] *= 1.02  # a slightly wrong generator
    t0 = time.perf_counter()
    real_f, gen_f = efps(x, mask), efps(gx, gmask)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    fpd_val = fpd(real_f, gen_f, seed=args.seed)
    t_fpd = time.perf_counter() - t0
    t0 = time.perf_counter()
    kpd_val = kpd(real_f, gen_f, seed=args.seed)
    t_kpd = time.perf_counter() - t0
    t0 = time.perf_counter()
    w1efp_val = float(w1_batches(real_f[:, W1EFP_INDICES], gen_f[:, W1EFP_INDICES], seed=args.seed).mean())
    t_w1 = time.perf_counter() - t0
    total = t_feat + t_fpd + t_kpd + t_w1
    print(f"FPD + KPD + W1EFP on 2 x {n} jets: {total:.2f} s (EFPs {t_feat:.2f}, FPD {t_fpd:.2f}, "
          f"KPD {t_kpd:.2f}, W1EFP {t_w1:.2f}); FPD {fpd_val[0]:.3g} ± {fpd_val[1]:.2g}, "
          f"KPD {kpd_val[0]:.3g} ± {kpd_val[1]:.2g}, W1EFP {w1efp_val:.3g}")
    print(json.dumps({
        "num_jets": n, "num_particles": p, "cores": cores, "torch_threads": torch.get_num_threads(),
        "efp_ours_s": round(t_ours, 4), "efp_energyflow_s": round(t_ef, 3), "ratio": round(speedup, 2),
        "max_rel_diff": max_rel, "fpd_kpd_w1efp_s": round(total, 3), "efp_features_s": round(t_feat, 3),
        "fpd_s": round(t_fpd, 3), "kpd_s": round(t_kpd, 3), "w1efp_s": round(t_w1, 3),
    }))


if __name__ == "__main__":
    main()
