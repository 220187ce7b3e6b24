"""SparsityInvariantConv2d: the Uhrig et al. formula, by hand and by brute force."""

from __future__ import annotations

import torch

from sparsegen.nn.sparsity_invariant import SparsityInvariantConv2d


def _layer(weight: torch.Tensor, bias: float, **kw) -> SparsityInvariantConv2d:
    layer = SparsityInvariantConv2d(1, 1, kernel_size=weight.shape[-1], **kw).double()
    with torch.no_grad():
        layer.weight.copy_(weight.view_as(layer.weight))
        layer.bias.fill_(bias)
    return layer


def test_hand_computed_case() -> None:
    x = torch.tensor([[1.0, 2, 0, 0], [0, 3, 0, 0], [4, 0, 0, 9]], dtype=torch.float64)[None, None]
    o = torch.tensor([[1.0, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.float64)[None, None]
    w = torch.tensor([[1.0, 0, -1], [2, 1, 0], [0, 1, 1]], dtype=torch.float64)
    f, m = _layer(w, 0.5)(x, o)
    # (1,1): observed (0,0)·1 + (0,1)·0 + (1,1)·1 + (2,0)·0 = 1 + 3 = 4 over 4 observed → 1 + b
    assert abs(f[0, 0, 1, 1].item() - 1.5) < 1e-7
    # (0,0): (0,0)·w11=1, (0,1)·w12=0, (1,1)·w22=3 → 4 / 3 + b
    assert abs(f[0, 0, 0, 0].item() - (4 / 3 + 0.5)) < 1e-7
    # (1,0): (0,1)·w02 = -2, (2,0)·w21 = 4 → 2 / 4 + b (x=9 is unobserved and ignored everywhere)
    assert abs(f[0, 0, 1, 0].item() - 1.0) < 1e-7
    # (1,2): (0,1)·w00 = 2, (1,1)·w10 = 6 → 8 / 2 + b
    assert abs(f[0, 0, 1, 2].item() - 4.5) < 1e-7
    # (2,3): nothing observed → b, mask 0
    assert abs(f[0, 0, 2, 3].item() - 0.5) < 1e-7
    expected_mask = torch.tensor([[1.0, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0]], dtype=torch.float64)
    assert torch.equal(m[0, 0], expected_mask)


def test_matches_brute_force_formula_with_stride() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 6, generator=g, dtype=torch.float64)
    o = (torch.rand(2, 1, 7, 6, generator=g) < 0.3).double()
    torch.manual_seed(0)
    layer = SparsityInvariantConv2d(3, 2, kernel_size=3, stride=2, padding=1, eps=1e-8).double()
    f, m = layer(x, o)
    xp = torch.nn.functional.pad(x * o, (1, 1, 1, 1))
    op = torch.nn.functional.pad(o, (1, 1, 1, 1))
    for b in range(2):
        for u in range(f.shape[2]):
            for v in range(f.shape[3]):
                win_x = xp[b, :, 2 * u:2 * u + 3, 2 * v:2 * v + 3]
                win_o = op[b, 0, 2 * u:2 * u + 3, 2 * v:2 * v + 3]
                num = (win_x[None] * layer.weight).sum((1, 2, 3))
                ref = num / (win_o.sum() + 1e-8) + layer.bias
                torch.testing.assert_close(f[b, :, u, v], ref)
                assert m[b, 0, u, v].item() == win_o.max().item()


def test_invariant_to_observation_density_and_fixed_norm_kernel() -> None:
    """With an all-ones kernel a constant observed field c gives exactly c wherever anything is observed."""
    layer = _layer(torch.ones(3, 3, dtype=torch.float64), 0.0, eps=1e-12)
    g = torch.Generator().manual_seed(1)
    for density in (0.05, 0.3, 0.9):
        o = (torch.rand(1, 1, 16, 16, generator=g) < density).double()
        f, m = layer(torch.full((1, 1, 16, 16), 2.5, dtype=torch.float64), o)
        torch.testing.assert_close(f[m > 0], torch.full_like(f[m > 0], 2.5))
    names = [n for n, _ in layer.named_parameters()]
    assert names == ["weight", "bias"] and "norm_kernel" not in layer.state_dict()
    f, _ = layer(torch.randn(1, 1, 8, 8, dtype=torch.float64), torch.ones(1, 1, 8, 8, dtype=torch.float64))
    f.sum().backward()
    assert layer.weight.grad is not None and layer.norm_kernel.grad is None
