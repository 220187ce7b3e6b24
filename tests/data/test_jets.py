"""The Jets container."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsegen.errors import SparsegenInputError
from sparsegen.jets import Jets


def make(n: int, p: int, seed: int = 0) -> Jets:
    rng = np.random.default_rng(seed)
    mask = np.arange(p)[None] < rng.integers(1, p + 1, n)[:, None]
    parts = np.where(mask[..., None], rng.normal(0, 0.1, (n, p, 3)) ** 2, 0.0)
    return Jets(parts, mask)


def test_slicing_concat_and_truncate():
    a, b = make(5, 4), make(3, 6, seed=1)
    both = Jets.concat([a, b])
    assert len(both) == 8 and both.max_particles == 6
    assert np.array_equal(both[:5].particles[:, :4], a.particles)
    assert np.all(both[:5].particles[:, 4:] == 0)
    assert len(both[np.array([0, 7])]) == 2 and len(both[3]) == 1
    t = both.truncate(2)
    assert t.max_particles == 2 and np.array_equal(t.jet_features[:, 4], np.minimum(both.num_particles, 2))


def test_derived_jet_features_are_relative_kinematics():
    # two back-to-back-in-phi particles of equal ptrel: pt_rel 0, mass_rel 2*0.5 = 1
    parts = np.array([[[0.0, np.pi / 2, 0.5], [0.0, -np.pi / 2, 0.5]]])
    j = Jets(parts, np.ones((1, 2), bool))
    np.testing.assert_allclose(j.jet_features[0, 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(j.jet_features[0, 3], 1.0, atol=1e-6)
    assert j.jet_features[0, 4] == 2


def test_accepts_torch_and_rejects_bad_shapes():
    j = Jets(torch.zeros(2, 3, 3), torch.zeros(2, 3, dtype=torch.bool))
    assert j.particles.dtype == np.float32 and j.mask.dtype == bool
    with pytest.raises(SparsegenInputError, match="shape"):
        Jets(np.zeros((2, 3, 4)), np.zeros((2, 3), bool))
    with pytest.raises(SparsegenInputError, match="mask shape"):
        Jets(np.zeros((2, 3, 3)), np.zeros((2, 4), bool))
