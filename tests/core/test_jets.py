"""The Jets container."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets


def make(n: int, p: int, seed: int = 0) -> Jets:
    rng = np.random.default_rng(seed)
    mask = np.arange(p)[None] < rng.integers(1, p + 1, n)[:, None]
    parts = np.where(mask[..., None], rng.normal(0, 0.1, (n, p, 3)) ** 2, 0.0)
    return Jets.from_particles(parts, mask, pt=1000.0)


def test_slicing_concat_and_hardest():
    a, b = make(5, 4), make(3, 6, seed=1)
    both = Jets.concat([a, b])
    assert len(both) == 8 and both.max_particles == 6
    assert np.array_equal(both[:5].particles[:, :4], a.particles)
    assert np.all(both[:5].particles[:, 4:] == 0)
    assert len(both[np.array([0, 7])]) == 2 and len(both[3]) == 1
    t = both.hardest(2)
    assert t.max_particles == 2 and np.array_equal(t.jet_features[:, 4], np.minimum(both.num_particles, 2))
    np.testing.assert_array_equal(t.pt, both.pt)  # jet-level features stay those of the whole jet
    shuffled = Jets(both.particles[:, ::-1].copy(), both.mask[:, ::-1].copy(), both.jet_features)
    np.testing.assert_array_equal(shuffled.hardest(2).particles, t.particles)


def test_from_particles_gives_gev_mass_from_the_particles_and_the_jet_pt():
    # two particles of ptrel 0.5 at dR = 0.2 (small-angle: m/pT = sqrt(z(1-z)) dR = 0.1)
    parts = np.array([[[0.1, 0.0, 0.5], [-0.1, 0.0, 0.5]]])
    j = Jets.from_particles(parts, np.ones((1, 2), bool), pt=1000.0, eta=0.3, jet_type=3)
    np.testing.assert_allclose(j.relative_mass, 0.1, rtol=2e-3)
    np.testing.assert_allclose(j.mass, 100.0, rtol=2e-3)  # GeV
    assert (
        j.pt[0] == 1000.0 and j.eta[0] == np.float32(0.3) and j.labels[0] == 3 and j.jet_features[0, 4] == 2
    )


def test_jets_without_a_pt_are_refused():
    with pytest.raises(SparsegenInputError, match="GeV"):
        Jets(np.zeros((1, 2, 3)), np.zeros((1, 2), bool), None)
    with pytest.raises(SparsegenInputError, match="positive"):
        Jets.from_particles(np.zeros((1, 2, 3)), np.zeros((1, 2), bool), pt=np.nan)


def test_accepts_torch_and_rejects_bad_shapes():
    j = Jets(torch.zeros(2, 3, 3), torch.zeros(2, 3, dtype=torch.bool), torch.ones(2, 5))
    assert j.particles.dtype == np.float32 and j.mask.dtype == bool
    with pytest.raises(SparsegenInputError, match="shape"):
        Jets(np.zeros((2, 3, 4)), np.zeros((2, 3), bool), np.ones((2, 5)))
    with pytest.raises(SparsegenInputError, match="mask shape"):
        Jets(np.zeros((2, 3, 3)), np.zeros((2, 4), bool), np.ones((2, 5)))
