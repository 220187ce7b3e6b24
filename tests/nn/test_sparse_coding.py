"""Deep sparse coding: thresholds, layered thresholding = CNN, layered ISTA convergence, coherence."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from sparsegen.nn.sparse_coding import (
    LayeredISTA,
    LayeredThresholding,
    mutual_coherence,
    nonneg_soft_threshold,
    soft_threshold,
    uniqueness_bound,
)


def test_soft_thresholds() -> None:
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])
    torch.testing.assert_close(soft_threshold(x, 0.5), torch.tensor([-1.5, 0.0, 0.0, 0.0, 1.0]))
    torch.testing.assert_close(nonneg_soft_threshold(x, 0.5), torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0]))
    # prox property: S_lam(x) minimises 0.5 (z - x)^2 + lam |z| (checked on a grid)
    z = torch.linspace(-3, 3, 60001)
    for xv in (-2.0, 0.2, 1.5):
        best = z[(0.5 * (z - xv) ** 2 + 0.5 * z.abs()).argmin()]
        assert abs(best.item() - soft_threshold(torch.tensor(xv), 0.5).item()) < 1e-3


def test_cnn_forward_is_layered_thresholding() -> None:
    torch.manual_seed(0)
    ista = LayeredISTA([2, 4, 3], kernel_sizes=[3, 5], strides=[1, 2], n_iter=0, lam=0.2, step=1.0).double()
    cnn = LayeredThresholding([2, 4, 3], kernel_sizes=[3, 5], strides=[1, 2]).double()
    with torch.no_grad():
        for layer, w, lam in zip(cnn.layers, ista.weights, ista.lams):
            layer[0].weight.copy_(w)
            layer[0].bias.copy_(-lam)
    y = torch.randn(2, 2, 9, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for a, b in zip(ista(y, return_all=True), cnn(y, return_all=True)):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(cnn.thresholds[0], ista.lams[0])


@pytest.mark.parametrize("stride", [1, 2])
def test_synthesis_is_adjoint_of_analysis(stride: int) -> None:
    torch.manual_seed(1)
    m = LayeredISTA([3, 5], kernel_sizes=3, strides=stride).double()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 11, 8, generator=g, dtype=torch.float64)
    code = m.analysis(0, x)
    gam = torch.randn(code.shape, generator=g, dtype=torch.float64)
    lhs = (code * gam).sum()
    rhs = (x * m.synthesis(0, gam, x.shape[-2:])).sum()
    torch.testing.assert_close(lhs, rhs)


def _synthetic(seed: int) -> tuple[LayeredISTA, torch.Tensor]:
    """Y = D Γ* with Γ* non-negative, 2% dense, and D the model's own (unit-atom) dictionary."""
    torch.manual_seed(seed)
    model = LayeredISTA([1, 8], kernel_sizes=5, lam=0.01).double()
    g = torch.Generator().manual_seed(seed)
    shape = (4, 8, 24, 24)
    code = (torch.rand(shape, generator=g) < 0.02).double() * torch.rand(
        shape, generator=g, dtype=torch.float64
    )
    return model, model.synthesis(0, code, (24, 24)).detach()


def test_layered_ista_reconstruction_improves_with_iterations() -> None:
    model, y = _synthetic(seed=3)
    errors = []
    with torch.no_grad():
        for n_iter in (0, 2, 8, 32):
            codes = model(y, return_all=True, n_iter=n_iter)
            errors.append(float((y - model.reconstruct(codes, y.shape)).norm() / y.norm()))
    assert all(b < a for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 0.25 * errors[0], errors


def test_layered_ista_objective_is_monotone() -> None:
    """η = 1/L makes every ISTA step non-increasing in ½‖Y − DΓ‖² + λ‖Γ‖₁ (proximal-gradient guarantee)."""
    model, y = _synthetic(seed=4)
    with torch.no_grad():
        objs = [
            float(model.layer_objective(0, y, model.encode_layer(0, y, n_iter=t)).sum()) for t in range(12)
        ]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(objs)), objs
    assert objs[-1] < 0.5 * objs[0]


def test_two_layer_ista_deep_reconstruction_improves() -> None:
    torch.manual_seed(5)
    model = LayeredISTA([1, 8, 16], kernel_sizes=[5, 3], strides=[1, 2], lam=0.01).double()
    g = torch.Generator().manual_seed(5)
    shape = (2, 16, 12, 12)
    g2 = (torch.rand(shape, generator=g) < 0.02).double() * torch.rand(
        shape, generator=g, dtype=torch.float64
    )
    with torch.no_grad():
        model.weights[1].abs_()  # non-negative Γ1 = D2 Γ2 so the non-negative pursuit can recover it
        y = model.synthesis(0, model.synthesis(1, g2, (24, 24)), (24, 24))
        err = {
            n: float((y - model.reconstruct(model(y, return_all=True, n_iter=n), y.shape)).norm() / y.norm())
            for n in (0, 16)
        }
    assert err[16] < 0.5 * err[0], err


def test_ista_is_trainable() -> None:
    model, y = _synthetic(seed=6)
    model.n_iter = 2
    codes = model(y, return_all=True)
    loss = (y - model.reconstruct(codes, y.shape)).pow(2).mean()
    loss.backward()
    assert model.weights[0].grad.abs().sum() > 0 and model.lams[0].grad.abs().sum() > 0


def test_mutual_coherence_and_bound() -> None:
    eye = torch.eye(4)
    assert mutual_coherence(eye).item() == 0.0 and uniqueness_bound(0.0) == math.inf
    two = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(3) / 2], [0.0, 2.0]])  # 60° and 30° apart, scale-free
    assert abs(mutual_coherence(two).item() - math.sqrt(3) / 2) < 1e-6
    assert abs(uniqueness_bound(0.5) - 1.5) < 1e-12
    dup = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(7))
    dup[2] = -2 * dup[0]
    assert abs(mutual_coherence(dup).item() - 1.0) < 1e-6
    # shifted atoms: a [1, 1] filter overlaps its own one-pixel shift with <d, shift(d)> = 1/2
    box = torch.tensor([[[[1.0, 1.0]]], [[[1.0, -1.0]]]])
    assert mutual_coherence(box).item() < 1e-6
    assert abs(mutual_coherence(box, shifts=True).item() - 0.5) < 1e-6
    conv = nn.Conv2d(3, 16, 3)
    mu = mutual_coherence(conv.weight)
    assert 0 < mu.item() <= 1 and uniqueness_bound(mu) >= 1.0


def test_lipschitz_cache_follows_weight_updates() -> None:
    model, y = _synthetic(seed=8)
    first = model.lipschitz(0, y.shape)
    assert model.lipschitz(0, y.shape) == first  # cached
    with torch.no_grad():
        model.weights[0].mul_(2.0)
    assert abs(model.lipschitz(0, y.shape) / first - 4.0) < 1e-3
