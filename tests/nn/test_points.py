"""Point layers: adaptors, kNN edges, permutation invariance/equivariance, padded slots never read."""

from __future__ import annotations

import pytest
import torch

from sparsegen.nn.points import (
    EdgeConvBlock,
    MessagePassingBlock,
    PointNetEncoder,
    from_pyg,
    knn_edges,
    masked_pool,
    to_pyg,
)


def _permute(
    x: torch.Tensor, mask: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shuffle every slot (real and padded) of each jet independently; returns (x', mask', perm)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.stack([torch.randperm(x.shape[1], generator=g) for _ in range(x.shape[0])])
    idx = perm[..., None].expand_as(x)
    return x.gather(1, idx), mask.gather(1, perm), perm


def _garbage(x: torch.Tensor, mask: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    junk = torch.randn(x.shape, generator=g, dtype=x.dtype) * 1e4
    junk[..., 0] = float("nan")
    return torch.where(mask[..., None], x, junk)


def test_to_from_pyg_round_trip(clouds) -> None:
    x, mask = clouds(4, 9, 3, seed=0)
    flat, batch = to_pyg(x, mask)
    assert flat.shape == (int(mask.sum()), 3) and torch.equal(batch, mask.nonzero()[:, 0])
    back, m = from_pyg(flat, batch, mask)
    torch.testing.assert_close(back, torch.where(mask[..., None], x, 0.0))
    assert torch.equal(m, mask)
    packed, m2 = from_pyg(flat, batch, batch_size=4, max_particles=9)
    torch.testing.assert_close(packed, back)  # prefix masks: packing = original layout
    assert torch.equal(m2, mask)


def test_knn_edges_match_brute_force(clouds) -> None:
    x, mask = clouds(3, 12, 2, seed=1, min_particles=2)
    edges = knn_edges(x, mask, k=4)
    flat, batch = to_pyg(x, mask)
    assert edges.max() < flat.shape[0]
    for i in range(flat.shape[0]):
        same = (batch == batch[i]).nonzero()[:, 0]
        others = same[same != i]
        d = (flat[others] - flat[i]).norm(dim=1)
        expected = set(others[d.argsort()[:4]].tolist())
        got = set(edges[0, edges[1] == i].tolist())
        assert got == expected
    with_loops = knn_edges(x, mask, k=4, loop=True)
    assert bool((with_loops[0] == with_loops[1]).any())


@pytest.mark.parametrize("pool", ["sum", "mean", "max"])
def test_pointnet_invariant(clouds, pool: str) -> None:
    torch.manual_seed(0)
    x, mask = clouds(5, 10, 3, seed=2)
    enc = PointNetEncoder(3, 4, hidden=(16, 16), pool=pool)
    ref = enc(x, mask)
    assert ref.shape == (5, 4) and torch.isfinite(ref).all()
    xp, mp, _ = _permute(x, mask, seed=3)
    torch.testing.assert_close(enc(xp, mp), ref)
    torch.testing.assert_close(enc(_garbage(x, mask, seed=4), mask), ref)
    torch.testing.assert_close(masked_pool(x, mask, pool), masked_pool(xp, mp, pool))


@pytest.mark.parametrize("aggr", ["mean", "max"])
def test_edgeconv_equivariant(clouds, aggr: str) -> None:
    torch.manual_seed(1)
    x, mask = clouds(4, 12, 3, seed=5, min_particles=2)
    block = EdgeConvBlock(3, 8, k=3, hidden=(16,), aggr=aggr)
    out = block(x, mask)
    assert out.shape == (4, 12, 8) and torch.all(out[~mask] == 0)
    xp, mp, perm = _permute(x, mask, seed=6)
    torch.testing.assert_close(block(xp, mp), out.gather(1, perm[..., None].expand(-1, -1, 8)))
    garbage = _garbage(x, mask, seed=7)
    torch.testing.assert_close(block(garbage, mask), out)
    torch.testing.assert_close(block(garbage, mask, pos=garbage[..., :2]), block(x, mask, pos=x[..., :2]))


@pytest.mark.parametrize("aggr", ["sum", "mean"])
def test_message_passing_equivariant_and_garbage_proof(clouds, aggr: str) -> None:
    torch.manual_seed(2)
    x, mask = clouds(4, 9, 3, seed=8)
    block = MessagePassingBlock(3, 5, hidden=16, aggr=aggr).double()
    x = x.double()
    out = block(x, mask, pos=x[..., :2])
    assert out.shape == (4, 9, 5) and torch.all(out[~mask] == 0)
    xp, mp, perm = _permute(x, mask, seed=9)
    torch.testing.assert_close(
        block(xp, mp, pos=xp[..., :2]), out.gather(1, perm[..., None].expand(-1, -1, 5))
    )
    garbage = _garbage(x, mask, seed=10).requires_grad_(True)
    out_g = block(garbage, mask, pos=garbage[..., :2])
    torch.testing.assert_close(out_g, out)
    out_g.sum().backward()
    assert torch.isfinite(garbage.grad).all() and torch.all(garbage.grad[~mask] == 0)


def test_message_passing_matches_explicit_edge_loop(clouds) -> None:
    """The split first edge layer equals the MLP on [h_i, h_j, |x_i - x_j|] summed over real j != i."""
    torch.manual_seed(3)
    x, mask = clouds(2, 6, 2, seed=11, min_particles=3)
    x = x.double()
    block = MessagePassingBlock(2, 3, hidden=8, aggr="sum").double()
    out = block(x, mask)
    edge = torch.nn.Sequential(block.edge_in, block.act, block.edge_rest)
    for b in range(2):
        idx = mask[b].nonzero()[:, 0]
        for i in idx.tolist():
            msgs = [edge(torch.cat([x[b, i], x[b, j], (x[b, i] - x[b, j]).norm().view(1)]))
                    for j in idx.tolist() if j != i]
            ref = block.node(torch.cat([x[b, i], torch.stack(msgs).sum(0)]))
            torch.testing.assert_close(out[b, i], ref, atol=1e-6, rtol=1e-6)


def test_empty_jet_gives_zeros() -> None:
    x = torch.randn(2, 5, 3)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, :3] = True
    assert torch.all(EdgeConvBlock(3, 4, k=2)(x, mask)[1] == 0)
    assert torch.all(MessagePassingBlock(3, 4, hidden=8)(x, mask)[1] == 0)
    assert torch.isfinite(PointNetEncoder(3, 2)(x, mask)).all()
