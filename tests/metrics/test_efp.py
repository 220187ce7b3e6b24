"""EFPs: agreement with energyflow, masks, chunking, graph algebra."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsegen.metrics.efp import EFPS_D4, EFPS_W1, W1EFP_INDICES, efps


def _random_jets(n: int, p: int, seed: int, phi_scale: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, p, 3))
    x[..., 0] = rng.normal(0, 0.5, (n, p))
    x[..., 1] = rng.uniform(-phi_scale, phi_scale, (n, p))
    x[..., 2] = rng.exponential(1.0, (n, p))
    mult = rng.integers(0, p + 1, n)
    mult[:3] = [0, 1, 2]
    mask = np.arange(p)[None] < mult[:, None]
    x[~mask] = 0.0
    return x, mask


def _energyflow(x: np.ndarray, *args: tuple) -> np.ndarray:
    ef = pytest.importorskip("energyflow")
    efpset = ef.EFPSet(*args, measure="hadr", beta=1, normed=None, coords="ptyphim")
    return efpset.batch_compute(x[..., [2, 0, 1]].astype(np.float64), 1), efpset


def _assert_rel_close(ours: np.ndarray, ref: np.ndarray, rtol: float) -> None:
    scale = np.maximum(np.abs(ref), 1e-300)
    rel = np.where(ref == 0, np.abs(ours), np.abs(ours - ref) / scale)
    assert rel.max() <= rtol, f"max relative difference {rel.max():.3g}"


def test_graph_order_matches_energyflow() -> None:
    ef = pytest.importorskip("energyflow")
    d4 = ef.EFPSet("d<=4", measure="hadr", beta=1, normed=None, coords="ptyphim")
    w1 = ef.EFPSet(("n==", 4), ("d==", 4), ("p==", 1), measure="hadr", beta=1, normed=None, coords="ptyphim")
    assert [tuple(map(tuple, g)) for g in d4.graphs()] == [tuple(g) for g in EFPS_D4]
    assert [tuple(map(tuple, g)) for g in w1.graphs()] == [tuple(g) for g in EFPS_W1]
    assert len(EFPS_D4) == 36 and len(W1EFP_INDICES) == 5


def test_random_jets_match_energyflow() -> None:
    # wide phi range exercises energyflow's periodic dphi (|dphi| > pi between some particles)
    x, mask = _random_jets(60, 25, seed=3, phi_scale=2.5)
    ref, _ = _energyflow(x, "d<=4")
    _assert_rel_close(efps(x, mask, "d<=4"), ref, 1e-10)
    ref5, _ = _energyflow(x, ("n==", 4), ("d==", 4), ("p==", 1))
    _assert_rel_close(efps(x, mask, "w1efp"), ref5, 1e-10)


def test_physics_like_jets_match_energyflow(real_jets) -> None:
    jets = real_jets[:150]
    x = np.where(jets.mask[..., None], jets.particles, 0.0).astype(np.float64)
    ref, _ = _energyflow(x, "d<=4")
    ours = efps(jets.particles, jets.mask)  # float32 particles in, float64 math
    _assert_rel_close(ours, efps(x, jets.mask), 1e-6)
    _assert_rel_close(efps(x, jets.mask), ref, 1e-10)
    assert ours.shape == (150, 36) and ours.dtype == np.float64


def test_float32_close_and_tensor_input() -> None:
    x, mask = _random_jets(40, 30, seed=4)
    ref = efps(x, mask)
    f32 = efps(torch.from_numpy(x).float(), torch.from_numpy(mask), dtype=torch.float32)
    _assert_rel_close(f32, ref, 1e-4)


def test_mask_respected_and_padding_ignored() -> None:
    x, mask = _random_jets(30, 20, seed=5)
    garbage = x.copy()
    garbage[~mask] = np.random.default_rng(0).normal(size=garbage[~mask].shape)
    np.testing.assert_allclose(efps(garbage, mask), efps(x, mask), rtol=1e-14, atol=0)
    # extra padded slots change nothing
    padded = np.pad(x, ((0, 0), (0, 7), (0, 0)))
    np.testing.assert_allclose(
        efps(padded, np.pad(mask, ((0, 0), (0, 7)))), efps(x, mask), rtol=1e-14, atol=0
    )


def test_chunking_and_particle_order_invariance() -> None:
    x, mask = _random_jets(50, 20, seed=6)
    full = efps(x, mask)
    np.testing.assert_allclose(efps(x, mask, chunk_size=7), full, rtol=1e-14, atol=0)
    perm = np.random.default_rng(1).permutation(20)
    np.testing.assert_allclose(efps(x[:, perm], mask[:, perm]), full, rtol=1e-12, atol=1e-300)


def test_analytic_values() -> None:
    # two particles: EFP_(0,1)^k = 2 z1 z2 theta^k, EFP_empty = z1 + z2; disconnected graphs factor
    x = np.array([[[0.1, 0.2, 0.7], [-0.2, -0.2, 0.3]]])
    theta = np.hypot(0.3, 0.4)
    out = efps(x)[0]
    assert out[0] == pytest.approx(1.0)
    for k in range(1, 5):
        assert out[k] == pytest.approx(2 * 0.7 * 0.3 * theta**k, rel=1e-12)
    # index 21 = (0,1)(2,3): product of two single-edge EFPs; 29 = three of them
    assert out[21] == pytest.approx(out[1] ** 2, rel=1e-12)
    assert out[29] == pytest.approx(out[1] ** 3, rel=1e-12)
    # triangle (index 9) needs three distinct particles: zero for two
    assert out[9] == 0.0
    # a single particle: only the 1-vertex EFP survives
    single = efps(np.array([[[0.3, 0.1, 0.9]]]))[0]
    assert single[0] == pytest.approx(0.9) and np.all(single[1:] == 0)


def test_custom_graphs_and_errors() -> None:
    x, mask = _random_jets(10, 12, seed=7)
    tri = efps(x, mask, efpset=[[(0, 1), (1, 2), (0, 2)]])
    np.testing.assert_allclose(tri[:, 0], efps(x, mask)[:, 9], rtol=1e-12)
    with pytest.raises(ValueError, match="tree-width"):
        efps(x, mask, efpset=[[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]])  # K4
    with pytest.raises(ValueError, match="unknown efpset"):
        efps(x, mask, efpset="d<=9")


def test_theta_periodic_phi_and_fused_path_agree() -> None:
    from sparsegen.metrics.efp import thetas

    # across the phi = +-pi seam the distance wraps: |3.0 - (-3.0)| -> 2 pi - 6
    wrapped = thetas(torch.tensor([[[0.0, 3.0], [0.0, -3.0]]], dtype=torch.float64))
    assert float(wrapped[0, 0, 1]) == pytest.approx(2 * np.pi - 6.0)
    # small phi spans take the fused cdist path: same numbers as the explicit formula
    yphi = torch.randn(5, 12, 2, dtype=torch.float64) * 0.3
    dy = yphi[..., :, None, 0] - yphi[..., None, :, 0]
    dphi = yphi[..., :, None, 1] - yphi[..., None, :, 1]
    torch.testing.assert_close(thetas(yphi), (dy**2 + dphi**2).sqrt(), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(thetas(yphi, beta=0.5), (dy**2 + dphi**2) ** 0.25, rtol=1e-12, atol=1e-15)


def test_jetnet_layout_and_empty_inputs() -> None:
    x, mask = _random_jets(8, 10, seed=8)
    jetnet = np.concatenate([x, mask[..., None].astype(float)], axis=-1)
    np.testing.assert_allclose(efps(jetnet), efps(x, mask), rtol=1e-14)
    assert efps(np.zeros((0, 30, 3))).shape == (0, 36)
    assert np.all(efps(np.zeros((3, 0, 3))) == 0)
    assert efps(x, mask, "w1efp", num_workers=1).shape == (8, 5)


def test_public_api_names_resolve() -> None:
    from sparsegen import metrics

    for name in metrics.__all__:
        assert callable(getattr(metrics, name)) or name in {"PUBLISHED", "QUICK", "METRIC_NAMES"}, name
    with pytest.raises(AttributeError):
        metrics.not_a_metric  # noqa: B018
