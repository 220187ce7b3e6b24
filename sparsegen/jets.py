"""`Jets`: the one currency of sparsegen.

Every data source produces `Jets`, every generator's ``sample(n)`` returns `Jets`, every metric takes two
`Jets`. A jet is a set of up to P massless particles with relative coordinates
``particles[..., :] = [etarel, phirel, ptrel]`` (ptrel = pT_i / pT_jet), a boolean ``mask`` marking real
particles (a prefix: particles are sorted by ptrel descending, padded slots are exactly zero), and
``jet_features = [type, pt, eta, mass, num_particles]`` (type g=0, q=1, t=2, w=3, z=4; pt and mass in GeV).
Image models keep their images in ``images`` (N, H, W) next to the particles made from active pixels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparsegen.data import images as _img
from sparsegen.data.io import JET_TYPES, read_extra, read_jetnet, validate_arrays, write_jetnet
from sparsegen.errors import SparsegenInputError


@dataclass
class Jets:
    """A batch of jets as particle clouds (and optionally images)."""

    particles: np.ndarray
    mask: np.ndarray
    jet_features: np.ndarray | None = None
    images: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.particles = _as_numpy(self.particles).astype(np.float32, copy=False)
        self.mask = _as_numpy(self.mask).astype(bool, copy=False)
        if self.particles.ndim != 3 or self.particles.shape[-1] != 3:
            raise SparsegenInputError("Jets", f"particles must have shape (N, P, 3), got {self.particles.shape}")
        if self.mask.shape != self.particles.shape[:2]:
            raise SparsegenInputError("Jets", f"mask shape {self.mask.shape} != particles {self.particles.shape[:2]}")
        if self.jet_features is None:
            self.jet_features = self._derived_jet_features()
        self.jet_features = _as_numpy(self.jet_features).astype(np.float32, copy=False)
        if self.jet_features.shape != (len(self), 5):
            raise SparsegenInputError("Jets", f"jet_features must have shape (N, 5), got {self.jet_features.shape}")
        if self.images is not None:
            self.images = _as_numpy(self.images).astype(np.float32, copy=False)
            if self.images.ndim == 4 and self.images.shape[1] == 1:
                self.images = self.images[:, 0]
            if self.images.ndim != 3 or self.images.shape[0] != len(self):
                raise SparsegenInputError("Jets", f"images must have shape (N, H, W), got {self.images.shape}")

    # ----------------------------------------------------------------- basics
    def __len__(self) -> int:
        return int(self.particles.shape[0])

    @property
    def num_particles(self) -> np.ndarray:
        """Multiplicity per jet (N,) int64."""
        return self.mask.sum(axis=1).astype(np.int64)

    @property
    def labels(self) -> np.ndarray:
        """Jet class per jet (N,) int64: g=0, q=1, t=2, w=3, z=4."""
        return self.jet_features[:, 0].astype(np.int64)

    @property
    def pt(self) -> np.ndarray:
        return self.jet_features[:, 1]

    @property
    def eta(self) -> np.ndarray:
        return self.jet_features[:, 2]

    @property
    def mass(self) -> np.ndarray:
        return self.jet_features[:, 3]

    @property
    def max_particles(self) -> int:
        return int(self.particles.shape[1])

    def __getitem__(self, index: Any) -> Jets:
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1) if index != -1 else slice(-1, None)
        return Jets(
            self.particles[index],
            self.mask[index],
            self.jet_features[index],
            None if self.images is None else self.images[index],
            dict(self.attrs),
        )

    @staticmethod
    def concat(items: Sequence[Jets]) -> Jets:
        """Concatenate along jets; particle axes are zero-padded to the largest P."""
        if not items:
            raise ValueError("Jets.concat needs at least one Jets")
        p = max(j.max_particles for j in items)
        parts = [np.pad(j.particles, ((0, 0), (0, p - j.max_particles), (0, 0))) for j in items]
        masks = [np.pad(j.mask, ((0, 0), (0, p - j.max_particles))) for j in items]
        images = None
        if all(j.images is not None for j in items):
            images = np.concatenate([j.images for j in items])
        return Jets(np.concatenate(parts), np.concatenate(masks),
                    np.concatenate([j.jet_features for j in items]), images, dict(items[0].attrs))

    def truncate(self, num_particles: int) -> Jets:
        """Keep the ``num_particles`` highest-pT particles (num_particles in jet_features is updated)."""
        jets = self if self._is_sorted() else self.sorted()
        jf = jets.jet_features.copy()
        mask = jets.mask[:, :num_particles]
        jf[:, 4] = mask.sum(1)
        return Jets(jets.particles[:, :num_particles], mask, jf, self.images, dict(self.attrs))

    def _is_sorted(self) -> bool:
        key = np.where(self.mask, self.particles[..., 2], -np.inf)
        return bool(np.all(np.diff(key, axis=1) <= 0))

    def sorted(self) -> Jets:
        """Particles sorted by ptrel descending with the mask made a prefix (as the HDF5 layout wants)."""
        key = np.where(self.mask, self.particles[..., 2], -np.inf)
        order = np.argsort(-key, axis=1, kind="stable")
        parts = np.take_along_axis(self.particles, order[..., None], axis=1)
        mask = np.take_along_axis(self.mask, order, axis=1)
        parts[~mask] = 0.0
        return Jets(parts, mask, self.jet_features.copy(), self.images, dict(self.attrs))

    def _derived_jet_features(self) -> np.ndarray:
        from sparsegen.metrics.observables import jet_kinematics

        jf = np.zeros((len(self), 5), dtype=np.float32)
        _, pt_rel, eta_rel, m_rel = jet_kinematics(self.particles, self.mask)
        jf[:, 1] = pt_rel
        jf[:, 2] = eta_rel
        jf[:, 3] = m_rel
        jf[:, 4] = self.num_particles
        return jf

    # -------------------------------------------------------------------- I/O
    def to_jetnet_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(particle_features (N,P,4) with the mask column, jet_features (N,5)), padding zeroed."""
        parts = np.where(self.mask[..., None], self.particles, 0.0).astype(np.float32)
        pf = np.concatenate([parts, self.mask[..., None].astype(np.float32)], axis=-1)
        jf = self.jet_features.copy()
        jf[:, 4] = self.num_particles
        return pf, jf

    def save(self, path: str | os.PathLike, attrs: dict[str, Any] | None = None) -> None:
        """Write the JetNet HDF5 layout atomically (images, if any, as an extra ``images`` dataset)."""
        pf, jf = self.to_jetnet_arrays()
        extra = {"images": self.images} if self.images is not None else None
        write_jetnet(path, pf, jf, {**self.attrs, **(attrs or {})}, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike, num_jets: int | None = None, jet_types: Sequence[str] | None = None) -> Jets:
        """Read and validate a JetNet-layout file (ours or a real JetNet ``g.hdf5`` … ``z150.hdf5``)."""
        pf, jf, attrs = read_jetnet(path)
        images = read_extra(path, "images")
        jets = cls(pf[..., :3], pf[..., 3] > 0.5, jf, images, attrs)
        if jet_types is not None:
            keep = np.isin(jets.labels, [JET_TYPES.index(t) for t in jet_types])
            jets = jets[np.flatnonzero(keep)]
        if num_jets is not None:
            if num_jets > len(jets):
                raise SparsegenInputError(str(path), f"asked for {num_jets} jets but the file has {len(jets)}")
            jets = jets[:num_jets]
        return jets

    @classmethod
    def from_arrays(cls, particle_features: np.ndarray, jet_features: np.ndarray | None = None) -> Jets:
        """From JetNet arrays (N,P,4) [etarel, phirel, ptrel, mask] (validated when jet_features given)."""
        pf = _as_numpy(particle_features)
        if jet_features is not None:
            validate_arrays(pf, _as_numpy(jet_features))
        return cls(pf[..., :3], pf[..., 3] > 0.5, jet_features)

    # ----------------------------------------------------------------- images
    def to_images(self, npix: int = 32, extent: float = 0.8, preprocess: bool = True) -> np.ndarray:
        """pT-weighted jet images (N, npix, npix) of ptrel; see :mod:`sparsegen.data.images`."""
        parts = _img.preprocess(self.particles, self.mask) if preprocess else self.particles
        return _img.pixelize(parts, self.mask, npix=npix, extent=extent)

    @classmethod
    def from_images(
        cls,
        images: Any,
        extent: float = 0.8,
        num_particles: int | None = None,
        threshold: float = 0.0,
        jet_type: int | np.ndarray | None = None,
        jet_pt: float | np.ndarray | None = None,
    ) -> Jets:
        """Active pixels become particles at pixel centers (ptrel = intensity), images kept alongside.

        ``jet_features`` are recomputed from the particles: pt/eta/mass of the massless 4-vector sum are
        *relative* quantities (units of the jet pT); pass ``jet_pt`` (GeV) to scale pt and mass to GeV.
        """
        imgs = _as_numpy(images).astype(np.float32)
        if imgs.ndim == 4 and imgs.shape[1] == 1:
            imgs = imgs[:, 0]
        if imgs.ndim != 3:
            raise SparsegenInputError("images", f"expected (N, H, W) or (N, 1, H, W), got {imgs.shape}")
        parts, mask = _img.images_to_particles(imgs, extent=extent, num_particles=num_particles, threshold=threshold)
        jets = cls(parts, mask, None, imgs)
        if jet_pt is not None:
            jets.jet_features[:, 1] *= jet_pt
            jets.jet_features[:, 3] *= jet_pt
        if jet_type is not None:
            jets.jet_features[:, 0] = jet_type
        return jets


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
