"""Norms, activations, pooling and heads on SparseImage: statistics over active sites only."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sparsegen.nn.sparse import SparseImage
from sparsegen.nn.sparse_ops import (
    SparseBatchNorm,
    SparseFeatureWise,
    SparseLayerNorm,
    SparseReLU,
    SparseToDense,
    sparse_global_pool,
)


def _sample(sparse_dense, seed: int = 0) -> tuple[SparseImage, torch.Tensor, torch.Tensor]:
    x, mask = sparse_dense(3, 4, 7, 6, 0.3, seed=seed)
    return SparseImage.from_dense(x), x, mask


def test_batch_norm_uses_active_sites_only(sparse_dense) -> None:
    s, x, _ = _sample(sparse_dense)
    bn = SparseBatchNorm(4).double().train()
    y = bn(s).features
    f = s.features
    ref = (f - f.mean(0)) / torch.sqrt(f.var(0, unbiased=False) + 1e-5)
    torch.testing.assert_close(y, ref)
    # a dense BN would count the zeros at inactive sites: different statistics
    assert not torch.allclose(f.mean(0), x.mean((0, 2, 3)))


def test_layer_norm_sample_and_site_modes(sparse_dense) -> None:
    s, _, _ = _sample(sparse_dense, seed=1)
    y = SparseLayerNorm(4, mode="sample").double()(s).features
    for b in range(s.batch_size):
        rows = y[s.batch_index == b]
        assert abs(rows.mean().item()) < 1e-10
        assert abs(rows.var(unbiased=False).item() - 1.0) < 1e-4
    ln = SparseLayerNorm(4, mode="site").double()
    torch.testing.assert_close(ln(s).features, F.layer_norm(s.features, (4,)))
    with pytest.raises(ValueError):
        SparseLayerNorm(4, mode="batch")  # type: ignore[arg-type]


def test_global_pooling_against_loops(sparse_dense) -> None:
    x, _ = sparse_dense(4, 3, 6, 6, 0.2, seed=2)
    x[2] = 0.0  # an empty sample
    x.requires_grad_(True)
    for reduce in ("sum", "mean", "max"):
        s = SparseImage.from_dense(x)
        out = sparse_global_pool(s, reduce)
        assert out.shape == (4, 3)
        for b in range(4):
            rows = s.features[s.batch_index == b]
            if rows.shape[0] == 0:
                expected = torch.zeros(3, dtype=x.dtype)
            else:
                expected = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0).values}[reduce]
            torch.testing.assert_close(out[b], expected)
        (g,) = torch.autograd.grad(out.sum(), x)
        assert torch.isfinite(g).all() and g.abs().sum() > 0
    with pytest.raises(ValueError):
        sparse_global_pool(s, "median")  # type: ignore[arg-type]


def test_activation_and_dense_head_keep_sites(sparse_dense) -> None:
    s, x, _ = _sample(sparse_dense, seed=3)
    r = SparseReLU()(s)
    assert torch.equal(r.coords, s.coords) and r._cache is s._cache
    torch.testing.assert_close(SparseToDense()(r), F.relu(x))
    lin = SparseFeatureWise(torch.nn.Linear(4, 2).double())
    assert lin(s).num_channels == 2
