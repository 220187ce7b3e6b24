"""Jet-image preprocessing and pixelization."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from sparsegen.core import images as im
from sparsegen.core.jets import Jets


@pytest.fixture
def toy_jets() -> Jets:
    rng = np.random.default_rng(1)
    n, p = 50, 30
    mult = rng.integers(5, p + 1, n)
    mask = np.arange(p)[None] < mult[:, None]
    eta = rng.normal(0.05, 0.15, (n, p))
    phi = rng.normal(-0.03, 0.1, (n, p)) + 0.3 * eta
    pt = np.where(mask, -np.sort(-rng.exponential(1.0, (n, p)), 1), 0.0)
    pt /= pt.sum(1, keepdims=True)
    parts = np.stack([eta, phi, pt], -1)
    parts[~mask] = 0
    return Jets.from_particles(parts, mask, pt=1000.0)


def test_rotation_preserves_pairwise_distances(toy_jets):
    xy = toy_jets.particles[..., :2].astype(np.float64)
    angle = np.random.default_rng(0).uniform(-np.pi, np.pi, len(toy_jets))
    rot = im.rotate(xy, angle)
    for i in range(len(toy_jets)):
        m = toy_jets.mask[i]
        np.testing.assert_allclose(pdist(rot[i][m]), pdist(xy[i][m]), atol=1e-12)


def test_preprocessing_centers_aligns_and_flips(toy_jets):
    out = im.preprocess(toy_jets.particles, toy_jets.mask).astype(np.float64)
    pt = out[..., 2]
    w = pt / pt.sum(1, keepdims=True)
    x, y = out[..., 0], out[..., 1]
    np.testing.assert_allclose((w * x).sum(1), 0, atol=1e-5)
    np.testing.assert_allclose((w * y).sum(1), 0, atol=1e-5)
    cxx, cyy, cxy = (w * x * x).sum(1), (w * y * y).sum(1), (w * x * y).sum(1)
    assert np.all(cyy >= cxx - 1e-7), "principal axis is vertical"
    np.testing.assert_allclose(cxy, 0, atol=1e-5)
    quads = np.stack([(pt * ((x >= 0) & (y >= 0))).sum(1), (pt * ((x < 0) & (y >= 0))).sum(1),
                      (pt * ((x < 0) & (y < 0))).sum(1), (pt * ((x >= 0) & (y < 0))).sum(1)], 1)
    assert np.all(quads.argmax(1) == 0), "hardest quadrant is the upper right"
    # distances within a jet are unchanged by centering, rotation and reflection
    for i in range(5):
        m = toy_jets.mask[i]
        np.testing.assert_allclose(pdist(out[i][m][:, :2]), pdist(toy_jets.particles[i][m][:, :2]), atol=1e-5)
    assert np.all(out[~toy_jets.mask] == 0)


def test_pixelization_conserves_pt_inside_extent(toy_jets):
    for extent in (0.8, 0.2):
        img = toy_jets.to_images(npix=32, extent=extent, preprocess=False)
        p = toy_jets.particles
        inside = toy_jets.mask & (np.abs(p[..., 0]) < extent) & (np.abs(p[..., 1]) < extent)
        np.testing.assert_allclose(img.sum((1, 2)), (p[..., 2] * inside).sum(1), rtol=1e-5, atol=1e-7)
    assert img.dtype == np.float32 and img.shape == (len(toy_jets), 32, 32)


def test_empty_pixels_are_exactly_zero_and_match_occupied_cells(toy_jets):
    img = toy_jets.to_images(npix=16, extent=0.8, preprocess=True)
    parts = im.preprocess(toy_jets.particles, toy_jets.mask)
    edges = im.pixel_edges(16, 0.8)
    for i in range(len(toy_jets)):
        m = toy_jets.mask[i] & (np.abs(parts[i, :, 0]) < 0.8) & (np.abs(parts[i, :, 1]) < 0.8)
        cells = {(np.searchsorted(edges, y, "right") - 1, np.searchsorted(edges, x, "right") - 1)
                 for x, y in parts[i][m][:, :2]}
        assert (img[i] > 0).sum() == len(cells)
    assert set(np.unique(img[img <= 0])) <= {0.0}


def test_pixel_orientation_rows_are_phi_columns_are_eta():
    parts = np.array([[[0.5, -0.5, 1.0]]], np.float32)
    img = im.pixelize(parts, np.ones((1, 1), bool), npix=4, extent=1.0)
    assert img[0, 1, 3] == 1.0  # phi=-0.5 -> row 1, eta=0.5 -> column 3


def test_from_images_round_trip(toy_jets):
    img = toy_jets.to_images(npix=32, extent=0.8)
    back = Jets.from_images(img, pt=toy_jets.pt, extent=0.8)
    assert np.array_equal(back.num_particles, (img > 0).sum((1, 2)))
    np.testing.assert_allclose(back.particles[..., 2].sum(1), img.sum((1, 2)), rtol=1e-6)
    assert np.all(np.diff(back.particles[..., 2], axis=1) <= 0)
    np.testing.assert_allclose(back.to_images(npix=32, extent=0.8, preprocess=False), img, rtol=1e-6)
    assert back.images is not None and back.images.shape == img.shape
    scaled = Jets.from_images(img, pt=2000.0, extent=0.8, jet_type=2)
    np.testing.assert_allclose(scaled.mass, back.mass * 2.0, rtol=1e-5)  # GeV: mass scales with the jet pT
    np.testing.assert_allclose(back.mass, back.relative_mass * 1000.0, rtol=1e-5)
    assert np.all(scaled.labels == 2)


def test_pixelizing_many_jets_at_once_equals_jet_by_jet():
    """Pixelization runs over slices of jets (bounded float64 temporaries): the images do not depend on it."""
    from sparsegen.core.images import pixelize

    rng = np.random.default_rng(1)
    n = 2048 + 5
    parts = np.stack([rng.uniform(-0.5, 0.5, (n, 20)), rng.uniform(-0.5, 0.5, (n, 20)),
                      rng.random((n, 20))], -1).astype(np.float32)
    mask = rng.random((n, 20)) < 0.7
    whole = pixelize(parts, mask, npix=16, extent=0.4)
    assert whole.shape == (n, 16, 16) and whole.dtype == np.float32
    for i in (0, 2047, 2048, n - 1):
        assert np.array_equal(whole[i], pixelize(parts[i:i + 1], mask[i:i + 1], npix=16, extent=0.4)[0])
