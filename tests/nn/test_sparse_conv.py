"""Exactness of the sparse convolutions against nn.Conv2d / nn.ConvTranspose2d (float64)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sparsegen.nn import rulebook as rb_mod
from sparsegen.nn.sparse import SparseConv2d, SparseImage, SparseInverseConv2d, SubmanifoldConv2d
from sparsegen.nn.sparse_ops import SparseGlobalPool, SparseLeakyReLU

TOL = 1e-5


def _grads(out: torch.Tensor, inputs: list[torch.Tensor], seed: int) -> list[torch.Tensor]:
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    return list(torch.autograd.grad((out * g).sum(), inputs))


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_submanifold_matches_dense_conv(sparse_dense, kernel_size: int) -> None:
    torch.manual_seed(0)
    x, mask = sparse_dense(3, 4, 11, 13, 0.25, seed=kernel_size)
    x.requires_grad_(True)
    conv = SubmanifoldConv2d(4, 5, kernel_size).double()
    dense = nn.Conv2d(4, 5, kernel_size, padding=kernel_size // 2).double()
    conv.load_dense_weight(dense)

    s = SparseImage.from_dense(x)
    out = conv(s)
    ref = dense(x)
    b, y, xx = out.coords.T
    ref_sites = ref.permute(0, 2, 3, 1)[b, y, xx]
    assert out.coords.shape[0] == int(mask.sum())
    torch.testing.assert_close(out.features, ref_sites, atol=TOL, rtol=0)

    g_sparse = _grads(out.features, [x, conv.weight, conv.bias], seed=1)
    g_dense = _grads(ref_sites, [x, dense.weight, dense.bias], seed=1)
    # w.r.t. input features at active sites (inactive sites are structurally absent in the sparse conv)
    torch.testing.assert_close(g_sparse[0] * mask, g_dense[0] * mask, atol=TOL, rtol=0)
    assert torch.all(g_sparse[0][~mask.expand_as(x)] == 0)
    # w.r.t. weights, compared in nn.Conv2d layout
    k = kernel_size
    g_w = g_sparse[1].permute(2, 1, 0).reshape(5, 4, k, k)
    torch.testing.assert_close(g_w, g_dense[1], atol=TOL, rtol=0)
    torch.testing.assert_close(g_sparse[2], g_dense[2], atol=TOL, rtol=0)


def test_submanifold_stack_equals_masked_dense_and_reuses_rulebook(sparse_dense) -> None:
    torch.manual_seed(1)
    x, mask = sparse_dense(2, 3, 16, 16, 0.1, seed=3)
    c1, c2 = SubmanifoldConv2d(3, 6).double(), SubmanifoldConv2d(6, 2).double()
    s = SparseImage.from_dense(x)
    h = c1(s)
    out = c2(SparseLeakyReLU(0.1)(h))
    # dense reference: submanifold conv = mask ⊙ dense conv (inputs zero off the mask)
    m = mask.to(x.dtype)
    ref = m * c2.as_dense_conv()(F.leaky_relu(m * c1.as_dense_conv()(x), 0.1))
    torch.testing.assert_close(out.to_dense(), ref, atol=TOL, rtol=0)
    # one rulebook for both layers, stored on the shared site cache
    assert out._cache is s._cache
    assert list(s._cache.rulebooks) == [("subm", 3)]
    assert s.submanifold_rulebook(3) is out.submanifold_rulebook(3)


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 2, 0), (3, 1, 1), (4, 3, 1)])
def test_strided_conv_matches_dense_on_active_outputs(sparse_dense, k: int, s: int, p: int) -> None:
    torch.manual_seed(2)
    x, mask = sparse_dense(2, 3, 13, 10, 0.15, seed=10 * k + s)
    x.requires_grad_(True)
    conv = SparseConv2d(3, 4, kernel_size=k, stride=s, padding=p).double()
    dense = nn.Conv2d(3, 4, k, stride=s, padding=p).double()
    conv.load_dense_weight(dense)
    out = conv(SparseImage.from_dense(x))
    ref = dense(x)
    assert out.spatial_shape == (2, *ref.shape[2:])
    # active outputs = windows containing an active input (a conv of the mask with a ones kernel)
    hit = F.conv2d(mask.double(), torch.ones(1, 1, k, k, dtype=torch.float64), stride=s, padding=p)[:, 0] > 0
    expected = hit.nonzero()
    assert torch.equal(out.coords, expected)
    ref_sites = ref.permute(0, 2, 3, 1)[expected[:, 0], expected[:, 1], expected[:, 2]]
    torch.testing.assert_close(out.features, ref_sites, atol=TOL, rtol=0)
    gs = _grads(out.features, [x, conv.weight, conv.bias], seed=4)
    gd = _grads(ref_sites, [x, dense.weight, dense.bias], seed=4)
    torch.testing.assert_close(gs[0] * mask, gd[0] * mask, atol=TOL, rtol=0)
    torch.testing.assert_close(gs[1].permute(2, 1, 0).reshape(4, 3, k, k), gd[1], atol=TOL, rtol=0)
    torch.testing.assert_close(gs[2], gd[2], atol=TOL, rtol=0)


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 2, 0)])
def test_inverse_conv_matches_conv_transpose(sparse_dense, k: int, s: int, p: int) -> None:
    torch.manual_seed(3)
    x, _ = sparse_dense(2, 2, 12, 11, 0.2, seed=k + s + p)
    fine = SparseImage.from_dense(x)
    coarse = SparseConv2d(2, 3, kernel_size=k, stride=s, padding=p).double()(fine)
    feats = coarse.features.detach().clone().requires_grad_(True)
    coarse = coarse.replace_features(feats)
    inv = SparseInverseConv2d(3, 5, kernel_size=k).double()
    up = inv(coarse)
    assert up.spatial_shape == fine.spatial_shape and torch.equal(up.coords, fine.coords)
    assert up._cache is fine._cache  # back on the fine sites: their rulebooks are reused

    convt = nn.ConvTranspose2d(3, 5, k, stride=s, padding=p).double()
    with torch.no_grad():
        convt.weight.copy_(inv.dense_weight())
        convt.bias.copy_(inv.bias)
    base = [(c - 1) * s - 2 * p + k for c in coarse.spatial_shape[1:]]
    out_pad = tuple(f - b for f, b in zip(fine.spatial_shape[1:], base))
    dense_in = coarse.to_dense()
    ref = F.conv_transpose2d(dense_in, convt.weight, convt.bias, stride=s, padding=p, output_padding=out_pad)
    ref_sites = ref.permute(0, 2, 3, 1)[fine.coords[:, 0], fine.coords[:, 1], fine.coords[:, 2]]
    torch.testing.assert_close(up.features, ref_sites, atol=TOL, rtol=0)
    gs = _grads(up.features, [feats, inv.weight], seed=5)
    gd = _grads(ref_sites, [feats, convt.weight], seed=5)
    torch.testing.assert_close(gs[0], gd[0], atol=TOL, rtol=0)
    torch.testing.assert_close(gs[1].permute(1, 2, 0).reshape(3, 5, k, k), gd[1], atol=TOL, rtol=0)
    # weight copy helpers round-trip
    inv2 = SparseInverseConv2d(3, 5, kernel_size=k).double().load_dense_weight(convt)
    torch.testing.assert_close(inv2.weight, inv.weight)


def test_inverse_conv_follows_indice_keys(sparse_dense) -> None:
    torch.manual_seed(4)
    x, _ = sparse_dense(2, 1, 16, 16, 0.1, seed=11)
    s0 = SparseImage.from_dense(x)
    s1 = SparseConv2d(1, 2, indice_key="d1").double()(s0)
    s2 = SparseConv2d(2, 2, indice_key="d2").double()(s1)
    assert s2.spatial_shape == (2, 4, 4)
    back = SparseInverseConv2d(2, 2, indice_key="d1").double()(s1)
    assert torch.equal(back.coords, s0.coords)
    up1 = SparseInverseConv2d(2, 2).double()(s2)  # default: the latest downsampling (d2)
    assert torch.equal(up1.coords, s1.coords)
    up0 = SparseInverseConv2d(2, 1, indice_key="d1").double()(up1)
    assert torch.equal(up0.coords, s0.coords) and up0.spatial_shape == s0.spatial_shape
    with pytest.raises(ValueError, match="indice_key"):
        SparseInverseConv2d(2, 1, indice_key="nope")(s2)
    with pytest.raises(ValueError, match="kernel_size"):
        SparseInverseConv2d(2, 1, kernel_size=3)(s2)


def test_weight_helpers_round_trip() -> None:
    torch.manual_seed(5)
    dense = nn.Conv2d(3, 7, 3, padding=1)
    sub = SubmanifoldConv2d(3, 7).load_dense_weight(dense)
    torch.testing.assert_close(sub.dense_weight(), dense.weight)
    torch.testing.assert_close(sub.as_dense_conv().weight, dense.weight)
    with pytest.raises(ValueError):
        SubmanifoldConv2d(3, 7, 5).load_dense_weight(dense)
    with pytest.raises(ValueError):
        SubmanifoldConv2d(3, 7, 2)


def test_hash_free_lookup_on_large_grid_matches_table(monkeypatch, sparse_dense) -> None:
    """The searchsorted lookup (large grids) and the dense-table fast path give identical rulebooks."""
    x, _ = sparse_dense(2, 2, 24, 24, 0.1, seed=12)
    s_table = SparseImage.from_dense(x)
    assert s_table.lookup().table is not None
    monkeypatch.setattr(rb_mod, "DENSE_TABLE_MAX", 0)
    s_sorted = SparseImage.from_dense(x)
    assert s_sorted.lookup().table is None
    a, b = s_table.submanifold_rulebook(3), s_sorted.submanifold_rulebook(3)
    assert a.counts == b.counts and torch.equal(a.in_rows, b.in_rows) and torch.equal(a.out_rows, b.out_rows)


def test_large_grid_exact_without_dense_table(sparse_dense) -> None:
    """B·H·W above the table limit: still exact (spot-checked on a 1×1×600×600 grid)."""
    x, mask = sparse_dense(1, 1, 600, 600, 0.002, seed=13)
    s = SparseImage.from_dense(x)
    assert 600 * 600 > rb_mod.DENSE_TABLE_MAX and s.lookup().table is None
    conv = SubmanifoldConv2d(1, 2).double()
    ref = conv.as_dense_conv()(x) * mask
    torch.testing.assert_close(conv(s).to_dense(), ref, atol=TOL, rtol=0)


def test_from_dense_to_dense_round_trip_and_gradients(sparse_dense) -> None:
    x, _ = sparse_dense(2, 3, 8, 9, 0.3, seed=14)
    x = x.clone()
    # site (0, 0, 0): one small channel only, inactive at threshold 0.06
    x[0, :, 0, 0] = torch.tensor([0.0, 0.05, 0.0], dtype=x.dtype)
    x.requires_grad_(True)
    s = SparseImage.from_dense(x)
    assert s.num_active == int((x.detach().abs() > 0).any(1).sum())
    torch.testing.assert_close(s.to_dense(), x)
    s_thr = SparseImage.from_dense(x, threshold=0.06)
    assert s_thr.num_active == s.num_active - 1
    (grad,) = torch.autograd.grad((s.to_dense() * 2.0).sum(), x)
    torch.testing.assert_close(grad, 2.0 * (x.detach().abs() > 0).any(1, keepdim=True).expand_as(x).double())


def test_constructor_sorts_and_validates() -> None:
    coords = torch.tensor([[1, 0, 2], [0, 3, 1], [0, 0, 0]])
    feats = torch.arange(3.0)[:, None]
    s = SparseImage(coords, feats, (2, 4, 4))
    assert s.coords.tolist() == [[0, 0, 0], [0, 3, 1], [1, 0, 2]]
    assert s.features[:, 0].tolist() == [2.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="duplicate"):
        SparseImage(torch.tensor([[0, 1, 1], [0, 1, 1]]), torch.zeros(2, 1), (1, 4, 4))
    with pytest.raises(ValueError, match="bounds"):
        SparseImage(torch.tensor([[0, 4, 1]]), torch.zeros(1, 1), (1, 4, 4))


def test_empty_image_runs_through_every_layer() -> None:
    x = torch.zeros(2, 1, 8, 8, requires_grad=True)
    s = SparseImage.from_dense(x)
    h = SparseConv2d(4, 4)(SubmanifoldConv2d(1, 4)(s))
    assert h.num_active == 0 and h.spatial_shape == (2, 4, 4)
    pooled = SparseGlobalPool("max")(h)
    assert pooled.shape == (2, 4) and torch.all(pooled == 0)
    assert SparseInverseConv2d(4, 1)(h).to_dense().shape == (2, 1, 8, 8)


def test_gradient_penalty_through_from_dense_matches_masked_dense_critic(sparse_dense) -> None:
    """WGAN-GP: d critic / d dense input and its second-order gradient w.r.t. the weights."""
    torch.manual_seed(6)
    x, mask = sparse_dense(3, 1, 10, 10, 0.2, seed=15)
    x = x.requires_grad_(True)
    c1, c2 = SubmanifoldConv2d(1, 4).double(), SparseConv2d(4, 3, kernel_size=2, stride=2).double()
    head = nn.Linear(3, 1).double()
    act = SparseLeakyReLU(0.2)

    def sparse_critic(img: torch.Tensor) -> torch.Tensor:
        return head(SparseGlobalPool("sum")(c2(act(c1(SparseImage.from_dense(img))))))

    def dense_critic(img: torch.Tensor) -> torch.Tensor:
        m = mask.to(img.dtype)
        h = F.leaky_relu(m * F.conv2d(img * m, c1.dense_weight(), c1.bias, padding=1), 0.2)
        d2 = F.conv2d(h, c2.dense_weight(), c2.bias, stride=2)
        hit = F.max_pool2d(m, 2, 2)
        return head((d2 * hit).sum((2, 3)))

    def penalty(critic) -> tuple[torch.Tensor, list[torch.Tensor]]:
        (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        gp = ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
        return gp, list(torch.autograd.grad(gp, [c1.weight, c2.weight, head.weight]))

    gp_s, grads_s = penalty(sparse_critic)
    gp_d, grads_d = penalty(dense_critic)
    torch.testing.assert_close(gp_s, gp_d, atol=TOL, rtol=0)
    for a, b in zip(grads_s, grads_d):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)
    assert gp_s.item() > 0


def test_from_jets_matches_images(tiny_jets) -> None:
    images = torch.as_tensor(tiny_jets.to_images(npix=16, extent=0.8))
    s = SparseImage.from_jets(tiny_jets, npix=16, extent=0.8)
    assert s.spatial_shape == (len(tiny_jets), 16, 16) and s.num_channels == 1
    assert s.num_active == int((images > 0).sum())
    torch.testing.assert_close(s.to_dense()[:, 0], images)


def test_sparse_encoder_decoder_trains(sparse_dense) -> None:
    """Submanifold → strided → inverse → submanifold autoencoder: Adam steps cut the reconstruction loss."""
    torch.manual_seed(7)
    x, _ = sparse_dense(4, 1, 16, 16, 0.08, seed=16, dtype=torch.float32)
    net = nn.Sequential(
        SubmanifoldConv2d(1, 8), SparseLeakyReLU(), SparseConv2d(8, 16, indice_key="down"), SparseLeakyReLU(),
        SparseInverseConv2d(16, 8, indice_key="down"), SparseLeakyReLU(), SubmanifoldConv2d(8, 1),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        s = SparseImage.from_dense(x)
        loss = (net(s).features - s.features).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])
