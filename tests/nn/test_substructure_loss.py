"""The differentiable N-subjettiness ratio of the distillation's substructure term equals the metric's
`tau_ratios` on real jets, and its gradient moves a two-prong jet's τ21 the way a step along it says."""

from __future__ import annotations

import numpy as np
import torch

from sparsegen.core.kinematics import tau_ratios
from sparsegen.nn.losses import nsubjettiness_ratio, quantile_w1


def _jets(n: int = 64, p: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two-prong toy jets: two clusters of particles at ±0.1 in eta, steeply falling ptrel."""
    rng = np.random.default_rng(seed)
    side = np.where(rng.random((n, p)) < 0.5, -0.1, 0.1)
    x = np.stack([side + 0.02 * rng.standard_normal((n, p)), 0.02 * rng.standard_normal((n, p)),
                  rng.exponential(0.05, (n, p))], axis=-1)
    mask = np.arange(p)[None] < rng.integers(2, p + 1, n)[:, None]
    return np.where(mask[..., None], x, 0.0), mask


def test_ratios_equal_the_metrics_and_are_zero_for_too_few_particles():
    x, m = _jets()
    t21, t32 = tau_ratios(x, m)
    xt, mt = torch.tensor(x), torch.tensor(m)
    np.testing.assert_allclose(nsubjettiness_ratio(xt, mt, 2).numpy(), t21, atol=1e-4)
    np.testing.assert_allclose(nsubjettiness_ratio(xt, mt, 3).numpy(), t32, atol=1e-3)
    few = m.sum(1) <= 2
    assert few.any() and (nsubjettiness_ratio(xt, mt, 2).numpy()[few] == 0).all()


def test_a_gradient_step_lowers_tau21_and_the_w1_to_a_target():
    x, m = _jets(p=30, seed=1)
    xt, mt = torch.tensor(x, requires_grad=True), torch.tensor(m)
    t21 = nsubjettiness_ratio(xt, mt, 2)
    t21.sum().backward()
    stepped = (xt - 1e-3 * xt.grad).detach()
    assert nsubjettiness_ratio(stepped, mt, 2).mean() < t21.mean() - 1e-4
    target = t21.detach() * 0.5  # a sample with half the τ21: the W1 to it falls along its gradient
    w = quantile_w1(target, nsubjettiness_ratio(xt, mt, 2))
    (g,) = torch.autograd.grad(w, xt)
    assert quantile_w1(target, nsubjettiness_ratio((xt - 1e-3 * g).detach(), mt, 2)) < w
