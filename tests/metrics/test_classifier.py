"""Classifier two-sample test: AUC ~ 0.5 for equal distributions, high for a distorted sample."""

from __future__ import annotations

import numpy as np
import pytest

from sparsegen.core.jets import Jets
from sparsegen.core.kinematics import relative_pt
from sparsegen.metrics.classifier import DeepSets, auc_standard_error, classifier_auc, roc_auc

FAST = {"max_jets": 1500, "epochs": 15}


def test_roc_auc_known_values() -> None:
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1])) == 1.0
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5  # ties count half
    # brute force over all pairs
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 200), rng.normal(size=200).round(1)
    pos, neg = scores[labels == 1], scores[labels == 0]
    brute = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
        len(pos) * len(neg)
    )
    assert roc_auc(labels, scores) == pytest.approx(brute)
    assert 0 < auc_standard_error(0.5, 300, 300) < 0.05


def test_deepsets_is_permutation_invariant_and_masked() -> None:
    import torch

    torch.manual_seed(0)
    net = DeepSets(3, 2)
    x, jet = torch.randn(4, 10, 3), torch.randn(4, 2)
    mask = torch.arange(10)[None] < torch.tensor([3, 10, 7, 1])[:, None]
    perm = torch.randperm(10)
    junk = torch.where(mask[..., None], x, torch.full_like(x, 100.0))
    torch.testing.assert_close(net(x, mask, jet), net(x[:, perm], mask[:, perm], jet))
    torch.testing.assert_close(net(x, mask, jet), net(junk, mask, jet))


def test_auc_near_half_for_same_distribution(real_jets, real_jets_2) -> None:
    auc, err = classifier_auc(real_jets, real_jets_2, seed=0, **FAST)
    assert abs(auc - 0.5) < 0.08 and 0 < err < 0.05


def test_auc_high_for_distorted_sample(real_jets, real_jets_2) -> None:
    x = real_jets_2.particles.copy()
    x[..., 0] += np.random.default_rng(0).normal(0, 0.2, x[..., 0].shape)
    x[~real_jets_2.mask] = 0
    auc, _ = classifier_auc(real_jets, Jets.from_particles(x, real_jets_2.mask, pt=1000.0), seed=0, **FAST)
    assert auc > 0.8
    # ptrel x 1.1 is invisible particle by particle but obvious from the jet pT (a jet-level input)
    scaled = real_jets_2.particles * np.array([1.0, 1.0, 1.1], np.float32)
    jf_real, jf_gen = relative_pt(real_jets)[:, None], relative_pt(scaled, real_jets_2.mask)[:, None]
    auc, _ = classifier_auc(real_jets, scaled, None, real_jets_2.mask, jf_real, jf_gen, seed=0, **FAST)
    assert auc > 0.95


def test_seeded_and_different_particle_counts(real_jets, make_jets) -> None:
    other = make_jets(800, seed=5, num_particles=40, min_mult=25, max_mult=40)
    a = classifier_auc(real_jets[:800], other, seed=3, max_jets=800, epochs=3)
    b = classifier_auc(real_jets[:800], other, seed=3, max_jets=800, epochs=3)
    assert a == b
    assert a[0] > 0.7  # multiplicities 25-40 vs 20-30 are easy to tell apart
    with pytest.raises(ValueError, match="at least 10"):
        classifier_auc(real_jets[:5], other[:5])
