"""Jet kinematics and N-subjettiness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsegen.core.kinematics import (
    _four_vectors,
    as_particles,
    multiplicity,
    nsubjettiness,
    relative_mass,
    relative_pt,
    tau_ratios,
)


def test_two_particle_mass_analytic() -> None:
    x = np.array([[[0.3, -0.1, 0.6], [-0.2, 0.25, 0.4], [0.0, 0.0, 0.0]]])
    m2 = 2 * 0.6 * 0.4 * (np.cosh(0.5) - np.cos(0.35))
    assert relative_mass(x)[0] == pytest.approx(np.sqrt(m2), rel=1e-6)
    assert relative_pt(x)[0] == pytest.approx(np.hypot(0.6 * np.cos(-0.1) + 0.4 * np.cos(0.25),
                                                  0.6 * np.sin(-0.1) + 0.4 * np.sin(0.25)), rel=1e-6)
    assert multiplicity(x)[0] == 2


def test_inputs_jets_tensor_and_jetnet_arrays(real_jets) -> None:
    jets = real_jets[:20]
    pf, _ = jets.to_jetnet_arrays()
    a = relative_mass(jets)
    np.testing.assert_allclose(relative_mass(pf), a)
    np.testing.assert_allclose(
        relative_mass(torch.from_numpy(jets.particles), torch.from_numpy(jets.mask)), a
    )
    x, m = as_particles(jets.particles, jets.mask)
    assert x.shape == jets.particles.shape and m.dtype == bool


def _naive_exclusive_kt(p4: np.ndarray, n: int) -> np.ndarray:
    """O(P^3) reference exclusive-kT clustering (E-scheme, pairwise only since R is max)."""
    jets = [v.copy() for v in p4]

    def yphi(v: np.ndarray) -> tuple[float, float]:
        return 0.5 * np.log((v[3] + v[2]) / (v[3] - v[2])), np.arctan2(v[1], v[0])

    while len(jets) > n:
        best = None
        for i in range(len(jets)):
            for j in range(i + 1, len(jets)):
                (yi, pi), (yj, pj) = yphi(jets[i]), yphi(jets[j])
                dphi = (pi - pj + np.pi) % (2 * np.pi) - np.pi
                d = min(jets[i][0] ** 2 + jets[i][1] ** 2, jets[j][0] ** 2 + jets[j][1] ** 2) * (
                    (yi - yj) ** 2 + dphi**2
                )
                if best is None or d < best[0]:
                    best = (d, i, j)
        _, i, j = best
        jets[i] = jets[i] + jets[j]
        jets.pop(j)
    return np.array(jets)


def test_nsubjettiness_matches_reference(make_jets) -> None:
    jets = make_jets(12, seed=3, min_mult=4, max_mult=12, num_particles=12)
    x = jets.particles.astype(np.float64)
    taus = nsubjettiness(x, jets.mask)
    p4 = _four_vectors(x, jets.mask)
    for k in range(len(x)):
        c = int(jets.mask[k].sum())
        eta, phi, pt = x[k, :c, 0], x[k, :c, 1], x[k, :c, 2]
        for n in (1, 2, 3):
            axes = _naive_exclusive_kt(p4[k, :c], n)
            y = 0.5 * np.log((axes[:, 3] + axes[:, 2]) / (axes[:, 3] - axes[:, 2]))
            ph = np.arctan2(axes[:, 1], axes[:, 0])
            dphi = (phi[:, None] - ph[None] + np.pi) % (2 * np.pi) - np.pi
            dr = np.sqrt((eta[:, None] - y[None]) ** 2 + dphi**2).min(1)
            assert taus[k, n - 1] == pytest.approx((pt * dr).sum() / (pt.sum() * 0.8), rel=1e-9, abs=1e-15)


def test_tau_edge_cases_and_prongs() -> None:
    # <= N particles: tau_N = 0; empty jet: all zero, ratios 0
    x = np.zeros((3, 4, 3))
    x[0, :2] = [[0.1, 0.0, 0.6], [-0.1, 0.05, 0.4]]
    x[1, :1] = [[0.0, 0.0, 1.0]]
    taus = nsubjettiness(x)
    assert taus[0, 0] > 0 and taus[0, 1] == 0 and taus[0, 2] == 0
    assert np.all(taus[1:] == 0)
    t21, t32 = tau_ratios(x)
    assert t21[0] == 0 and np.all(t21[1:] == 0) and np.all(t32 == 0)
    # two tight, well separated prongs: tau21 << 1; one diffuse prong: tau21 larger
    rng = np.random.default_rng(0)
    two = np.zeros((1, 20, 3))
    two[0, :10, :2] = rng.normal(0, 0.01, (10, 2)) + [0.2, 0.0]
    two[0, 10:, :2] = rng.normal(0, 0.01, (10, 2)) - [0.2, 0.0]
    two[0, :, 2] = 0.05
    one = two.copy()
    one[0, :, :2] = rng.normal(0, 0.15, (20, 2))
    assert tau_ratios(two)[0][0] < 0.15 < tau_ratios(one)[0][0]


def test_tau_invariant_to_particle_order(real_jets) -> None:
    jets = real_jets[:50]
    perm = np.random.default_rng(0).permutation(jets.max_particles)
    np.testing.assert_allclose(nsubjettiness(jets.particles[:, perm], jets.mask[:, perm]),
                               nsubjettiness(jets.particles, jets.mask), rtol=1e-9, atol=1e-12)
