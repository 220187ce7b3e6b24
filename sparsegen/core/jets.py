"""`Jets`: the one currency of sparsegen.

Every data source produces `Jets`, every generator's ``sample(n)`` returns `Jets`, every metric takes two
`Jets`. A jet is a set of up to P massless particles with relative coordinates
``particles[..., :] = [etarel, phirel, ptrel]`` (ptrel = pT_i / pT_jet), a boolean ``mask`` marking real
particles (a prefix: particles are sorted by ptrel descending, padded slots are exactly zero), and
``jet_features = [type, pt, eta, mass, num_particles]`` (type g=0, q=1, t=2, w=3, z=4).

**Units**: ``pt`` and ``mass`` are always GeV, for real and generated jets alike. A generated jet gets a
jet pT (its condition, or a draw from the training pT distribution) and its mass is the mass of its own
particles in GeV: ``relative_mass × pt``. Relative quantities, which the JetNet metrics use, are named so:
``relative_mass`` (m / pT of the particles). Image models keep their images in ``images`` (N, H, W) next
to the particles made from active pixels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparsegen.core import images as _img
from sparsegen.core.defaults import EXTENT, JET_TYPE_INDEX, NPIX
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.io import read_extra, read_jetnet, validate_arrays, write_jetnet
from sparsegen.core.kinematics import relative_kinematics


@dataclass
class Jets:
    """A batch of jets as particle clouds (and optionally images); ``jet_features`` in GeV."""

    particles: np.ndarray
    mask: np.ndarray
    jet_features: np.ndarray
    images: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.particles = as_numpy(self.particles).astype(np.float32, copy=False)
        self.mask = as_numpy(self.mask).astype(bool, copy=False)
        if self.particles.ndim != 3 or self.particles.shape[-1] != 3:
            raise SparsegenInputError(
                "Jets", f"particles must have shape (N, P, 3), got {self.particles.shape}"
            )
        if self.mask.shape != self.particles.shape[:2]:
            raise SparsegenInputError(
                "Jets", f"mask shape {self.mask.shape} != particles {self.particles.shape[:2]}"
            )
        if self.jet_features is None:
            raise SparsegenInputError(
                "Jets",
                "jet_features (GeV) are required: build jets from bare particles with "
                "Jets.from_particles(particles, mask, pt=...)",
            )
        self.jet_features = as_numpy(self.jet_features).astype(np.float32, copy=False)
        if self.jet_features.shape != (len(self), 5):
            raise SparsegenInputError(
                "Jets", f"jet_features must have shape (N, 5), got {self.jet_features.shape}"
            )
        if self.images is not None:
            self.images = as_numpy(self.images).astype(np.float32, copy=False)
            if self.images.ndim == 4 and self.images.shape[1] == 1:
                self.images = self.images[:, 0]
            if self.images.ndim != 3 or self.images.shape[0] != len(self):
                raise SparsegenInputError(
                    "Jets", f"images must have shape (N, H, W), got {self.images.shape}"
                )

    @classmethod
    def from_particles(cls, particles: Any, mask: Any, pt: float | np.ndarray, eta: float | np.ndarray = 0.0,
                       jet_type: int | np.ndarray = 0, images: Any = None,
                       attrs: dict[str, Any] | None = None) -> Jets:
        """Jets whose pT is ``pt`` (GeV) and whose mass is that of their particles: m/pT × pt (GeV)."""
        particles, mask = as_numpy(particles).astype(np.float32), as_numpy(mask).astype(bool)
        n = particles.shape[0] if particles.ndim == 3 else 0
        pt_arr = np.broadcast_to(np.asarray(pt, dtype=np.float64), (n,))
        if not np.all(np.isfinite(pt_arr)) or np.any(pt_arr <= 0):
            raise SparsegenInputError("Jets", "jet pt must be positive and finite (GeV)")
        jf = np.zeros((n, 5), dtype=np.float32)
        if n:
            _, _, _, m_rel = relative_kinematics(particles, mask)
            jf[:, 0] = np.broadcast_to(np.asarray(jet_type), (n,))
            jf[:, 1] = pt_arr
            jf[:, 2] = np.broadcast_to(np.asarray(eta, dtype=np.float64), (n,))
            jf[:, 3] = m_rel * pt_arr
            jf[:, 4] = mask.sum(1)
        return cls(particles, mask, jf, images, dict(attrs or {}))

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
        """Jet pT [GeV] (N,)."""
        return self.jet_features[:, 1]

    @property
    def eta(self) -> np.ndarray:
        """Jet pseudorapidity (N,)."""
        return self.jet_features[:, 2]

    @property
    def mass(self) -> np.ndarray:
        """Jet mass [GeV] (N,)."""
        return self.jet_features[:, 3]

    @property
    def relative_mass(self) -> np.ndarray:
        """m / pT of the particles (N,) float64: the quantity of JetNet's W1M."""
        return relative_kinematics(self.particles, self.mask)[3]

    @property
    def constituent_mass(self) -> np.ndarray:
        """Mass [GeV] of the kept particles (N,): ``relative_mass`` × jet pT. For a file's jets ``mass`` is
        the full jet's (JetNet's ``jet_features``); with 30 of ~60–90 particles kept this one is lower (top
        jets: mode 137 vs 172 GeV) and is what a generator of that many particles can reproduce."""
        return self.relative_mass * self.pt

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

    def hardest(self, num_particles: int) -> Jets:
        """The ``num_particles`` highest-ptrel particles of each jet, hardest first (any input order).

        Jet-level features (pt, eta, mass) stay those of the whole jet, as in JetNet's files; the
        multiplicity is updated. Images are kept.
        """
        jets = self if self._is_sorted() else self.sorted()
        if jets.max_particles <= num_particles:
            return jets
        jf = jets.jet_features.copy()
        mask = jets.mask[:, :num_particles]
        jf[:, 4] = mask.sum(1)
        return Jets(jets.particles[:, :num_particles], mask, jf, self.images, dict(self.attrs))

    def _is_sorted(self) -> bool:
        key = np.where(self.mask, self.particles[..., 2], -1.0)  # ptrel >= 0: padding sorts last
        return bool(np.all(np.diff(key, axis=1) <= 0))

    def sorted(self) -> Jets:
        """Particles sorted by ptrel descending with the mask made a prefix (as the HDF5 layout wants)."""
        key = np.where(self.mask, self.particles[..., 2], -np.inf)
        order = np.argsort(-key, axis=1, kind="stable")
        parts = np.take_along_axis(self.particles, order[..., None], axis=1)
        mask = np.take_along_axis(self.mask, order, axis=1)
        parts[~mask] = 0.0
        return Jets(parts, mask, self.jet_features.copy(), self.images, dict(self.attrs))

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
    def load(
        cls, path: str | os.PathLike, num_jets: int | None = None, jet_types: Sequence[str] | None = None
    ) -> Jets:
        """Read and validate a JetNet-layout file (ours or a real JetNet ``g.hdf5`` … ``z150.hdf5``)."""
        pf, jf, attrs = read_jetnet(path)
        images = read_extra(path, "images")
        jets = cls(pf[..., :3], pf[..., 3] > 0.5, jf, images, attrs)
        if jet_types is not None:
            keep = np.isin(jets.labels, [JET_TYPE_INDEX[t] for t in jet_types])
            jets = jets[np.flatnonzero(keep)]
        if num_jets is not None:
            if num_jets > len(jets):
                raise SparsegenInputError(
                    str(path), f"asked for {num_jets} jets but the file has {len(jets)}"
                )
            jets = jets[:num_jets]
        return jets

    @classmethod
    def from_arrays(cls, particle_features: np.ndarray, jet_features: np.ndarray) -> Jets:
        """From validated JetNet arrays: (N,P,4) [etarel, phirel, ptrel, mask] and (N,5) in GeV."""
        pf, jf = as_numpy(particle_features), as_numpy(jet_features)
        validate_arrays(pf, jf)
        return cls(pf[..., :3], pf[..., 3] > 0.5, jf)

    # ----------------------------------------------------------------- images
    def to_images(self, npix: int = NPIX, extent: float = EXTENT, preprocess: bool = True) -> np.ndarray:
        """pT-weighted jet images (N, npix, npix) of ptrel; see :mod:`sparsegen.core.images`."""
        parts = _img.preprocess(self.particles, self.mask) if preprocess else self.particles
        return _img.pixelize(parts, self.mask, npix=npix, extent=extent)

    @classmethod
    def from_images(
        cls,
        images: Any,
        pt: float | np.ndarray,
        extent: float = EXTENT,
        eta: float | np.ndarray = 0.0,
        jet_type: int | np.ndarray = 0,
        num_particles: int | None = None,
        threshold: float = 0.0,
    ) -> Jets:
        """Active pixels (> threshold) become particles at pixel centres (ptrel = intensity), images kept.

        ``pt`` is the jet pT in GeV the intensities are relative to; the mass is that of the pixels' particles
        (GeV). ``num_particles`` caps the particles per jet (the softest pixels are dropped).
        """
        imgs = as_numpy(images).astype(np.float32)
        if imgs.ndim == 4 and imgs.shape[1] == 1:
            imgs = imgs[:, 0]
        if imgs.ndim != 3:
            raise SparsegenInputError("images", f"expected (N, H, W) or (N, 1, H, W), got {imgs.shape}")
        parts, mask = _img.images_to_particles(
            imgs, extent=extent, num_particles=num_particles, threshold=threshold
        )
        return cls.from_particles(parts, mask, pt=pt, eta=eta, jet_type=jet_type, images=imgs)


def as_numpy(x: Any) -> np.ndarray:
    """A Tensor (any device) or array-like as a NumPy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
