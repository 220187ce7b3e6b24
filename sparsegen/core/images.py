"""Jet images: constituent-level preprocessing and pixelization (no image interpolation).

Preprocessing acts on the particles *before* pixelization so that empty pixels stay exactly zero:

1. translate so the pT-weighted centroid of (etarel, phirel) is at the origin;
2. rotate about the origin so the principal axis of the pT-weighted (eta, phi) covariance is vertical
   (along phi, the image's row axis);
3. reflect in eta and/or phi so the quadrant with the largest summed pT is the upper-right one
   (eta > 0, phi > 0).

Pixelization is a pT-weighted 2-D histogram of ptrel over [-extent, extent]^2 with ``npix`` bins per
axis: image[b, row, col], row indexes phi (increasing upward index = increasing phi), col indexes eta.
Particles outside the extent are dropped, so the image sum equals the summed ptrel inside the extent.
"""

from __future__ import annotations

import numpy as np

from sparsegen.core.defaults import EXTENT, NPIX


def center_jets(xy: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Shift (N,P,2) coordinates so the pT-weighted centroid of each jet is at zero (masked pt=0)."""
    w = pt / np.clip(pt.sum(axis=1, keepdims=True), 1e-12, None)
    centroid = (w[..., None] * xy).sum(axis=1, keepdims=True)
    return np.where(pt[..., None] > 0, xy - centroid, 0.0)


def principal_angle(xy: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Angle (radians, per jet) of the principal axis of the pT-weighted covariance, from the eta axis."""
    w = pt / np.clip(pt.sum(axis=1, keepdims=True), 1e-12, None)
    cxx = (w * xy[..., 0] ** 2).sum(1)
    cyy = (w * xy[..., 1] ** 2).sum(1)
    cxy = (w * xy[..., 0] * xy[..., 1]).sum(1)
    return 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)


def rotate(xy: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (N,P,2) coordinates counter-clockwise by ``angle`` (N,) radians."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x, y = xy[..., 0], xy[..., 1]
    return np.stack([c * x - s * y, s * x + c * y], axis=-1)


def flip_to_quadrant(xy: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Reflect so the quadrant with the largest summed pT has eta > 0 and phi > 0."""
    x, y = xy[..., 0], xy[..., 1]
    quads = np.stack(
        [
            (pt * ((x >= 0) & (y >= 0))).sum(1),
            (pt * ((x < 0) & (y >= 0))).sum(1),
            (pt * ((x < 0) & (y < 0))).sum(1),
            (pt * ((x >= 0) & (y < 0))).sum(1),
        ],
        axis=1,
    )
    best = quads.argmax(1)
    sx = np.where((best == 1) | (best == 2), -1.0, 1.0)[:, None]
    sy = np.where((best == 2) | (best == 3), -1.0, 1.0)[:, None]
    return np.stack([x * sx, y * sy], axis=-1)


def preprocess(particles: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Center, rotate and flip (N,P,3) [etarel, phirel, ptrel] particles; padded slots stay zero."""
    pt = np.where(mask, particles[..., 2], 0.0).astype(np.float64)
    xy = center_jets(particles[..., :2].astype(np.float64), pt)
    xy = rotate(xy, np.pi / 2 - principal_angle(xy, pt))
    xy = flip_to_quadrant(xy, pt)
    out = np.concatenate([xy, pt[..., None]], axis=-1)
    out[~mask] = 0.0
    return out.astype(np.float32)


def pixel_edges(npix: int, extent: float) -> np.ndarray:
    """Bin edges (npix+1,) covering [-extent, extent]."""
    return np.linspace(-extent, extent, npix + 1)


def pixelize(particles: np.ndarray, mask: np.ndarray, npix: int = NPIX, extent: float = EXTENT) -> np.ndarray:
    """pT-weighted 2-D histograms (N, npix, npix) float32: rows = phi bins, columns = eta bins."""
    n = particles.shape[0]
    out = np.empty((n, npix, npix), np.float32)
    chunk = 2048  # jets per float64 histogram: a fine grid's temporaries stay bounded
    for start in range(0, n, chunk):
        p, m = particles[start:start + chunk], mask[start:start + chunk]
        eta, phi, pt = p[..., 0], p[..., 1], p[..., 2]
        scale = npix / (2.0 * extent)
        col = np.floor((eta + extent) * scale).astype(np.int64)
        row = np.floor((phi + extent) * scale).astype(np.int64)
        inside = m & (col >= 0) & (col < npix) & (row >= 0) & (row < npix)
        jet = np.broadcast_to(np.arange(len(p))[:, None], m.shape)
        flat = (jet[inside] * npix + row[inside]) * npix + col[inside]
        img = np.bincount(flat, weights=pt[inside].astype(np.float64), minlength=len(p) * npix * npix)
        out[start:start + chunk] = img.reshape(len(p), npix, npix)
    return out


def pixel_centers(npix: int, extent: float) -> np.ndarray:
    """Centers (npix,) of the pixels along one axis."""
    edges = pixel_edges(npix, extent)
    return 0.5 * (edges[1:] + edges[:-1])


def images_to_particles(
    images: np.ndarray, extent: float = EXTENT, num_particles: int | None = None, threshold: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Active pixels (> threshold) → particles at pixel centers, sorted by intensity descending.

    Returns ``particles`` (N, P, 3) [etarel, phirel, ptrel] and ``mask`` (N, P). P defaults to the largest
    number of active pixels; with a smaller P the softest pixels are dropped.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    n, h, w = images.shape
    flat = images.reshape(n, h * w)
    active = flat > threshold
    counts = active.sum(1)
    p = int(counts.max()) if num_particles is None else int(num_particles)
    p = max(p, 1)
    order = np.argsort(-np.where(active, flat, -np.inf), axis=1, kind="stable")[:, :p]
    if order.shape[1] < p:
        order = np.pad(order, ((0, 0), (0, p - order.shape[1])))
    vals = np.take_along_axis(flat, order, axis=1)
    mask = np.take_along_axis(active, order, axis=1)
    centers_r = pixel_centers(h, extent)
    centers_c = pixel_centers(w, extent)
    eta = centers_c[order % w]
    phi = centers_r[order // w]
    particles = np.stack([eta, phi, vals], axis=-1).astype(np.float32)
    particles[~mask] = 0.0
    return particles, mask
