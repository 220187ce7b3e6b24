"""The JetNet HDF5 layout: validated reading, atomic writing, and real JetNet files.

Layout (one file, one or more jet classes):

* ``particle_features`` float32 (N, P, 4) = [etarel, phirel, ptrel, mask]; particles sorted by ptrel
  descending; padded slots are all-zero and the mask is a prefix (1…1 0…0).
* ``jet_features`` float32 (N, 5) = [type, pt, eta, mass, num_particles]; type g=0, q=1, t=2, w=3, z=4;
  num_particles equals the mask sum.
* file attributes: provenance (generator, card text, seed, jet algorithm, R, pT window, versions).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from sparsegen.core.defaults import JET_TYPES, NUM_PARTICLES
from sparsegen.core.errors import SparsegenInputError

PARTICLE_FEATURES = ("etarel", "phirel", "ptrel", "mask")
JET_FEATURES = ("type", "pt", "eta", "mass", "num_particles")


def validate_arrays(
    particle_features: np.ndarray, jet_features: np.ndarray, source: str = "<arrays>"
) -> None:
    """Check arrays against the JetNet layout; raise :class:`SparsegenInputError` naming the problem."""
    pf, jf = particle_features, jet_features
    if pf.ndim != 3 or pf.shape[-1] != 4:
        raise SparsegenInputError(source, f"particle_features must have shape (N, P, 4), got {pf.shape}")
    if jf.ndim != 2 or jf.shape[-1] != 5:
        raise SparsegenInputError(source, f"jet_features must have shape (N, 5), got {jf.shape}")
    if pf.shape[0] != jf.shape[0]:
        raise SparsegenInputError(
            source, f"particle_features has {pf.shape[0]} jets but jet_features has {jf.shape[0]}"
        )
    for name, arr in (("particle_features", pf), ("jet_features", jf)):
        if not np.issubdtype(arr.dtype, np.floating):
            raise SparsegenInputError(source, f"{name} must be floating point, got dtype {arr.dtype}")
        bad = ~np.isfinite(arr)
        if bad.any():
            first = np.argwhere(bad)[0].tolist()
            raise SparsegenInputError(source, f"{name} contains NaN/inf (first at index {first})")
    mask = pf[..., 3]
    if not np.isin(mask, (0.0, 1.0)).all():
        raise SparsegenInputError(source, "mask column (particle_features[..., 3]) must be 0 or 1")
    m = mask.astype(bool)
    if (np.diff(m.astype(np.int8), axis=1) > 0).any():
        jet = int(np.argwhere((np.diff(m.astype(np.int8), axis=1) > 0).any(axis=1))[0, 0])
        raise SparsegenInputError(
            source, f"mask is not prefix-contiguous (jet {jet} has a gap before a particle)"
        )
    padding = pf[..., :3][~m]
    if padding.size and np.any(padding != 0):
        jet = int(np.argwhere(((pf[..., :3] != 0).any(-1) & ~m).any(axis=1))[0, 0])
        raise SparsegenInputError(source, f"padded particle slots are not all-zero (jet {jet})")
    n = m.sum(axis=1)
    if jf.shape[0] and not np.array_equal(jf[:, 4].astype(np.int64), n):
        jet = int(np.argwhere(jf[:, 4].astype(np.int64) != n)[0, 0])
        raise SparsegenInputError(
            source, f"jet_features num_particles ({jf[jet, 4]:g}) != mask sum ({n[jet]}) for jet {jet}"
        )
    types = jf[:, 0]
    if jf.shape[0] and (not np.isin(types, np.arange(len(JET_TYPES))).all()):
        raise SparsegenInputError(
            source, f"jet type must be one of 0..4 (g,q,t,w,z), got {np.unique(types)[:5]}"
        )
    if (pf[..., 2] < 0).any():
        raise SparsegenInputError(source, "ptrel must be non-negative")


def read_jetnet(
    path: str | os.PathLike, validate: bool = True
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read (particle_features, jet_features, attrs) from a JetNet-layout HDF5 file, validating it."""
    path = str(path)
    if not os.path.exists(path):
        raise SparsegenInputError(path, "file does not exist")
    try:
        with h5py.File(path, "r") as f:
            for key in ("particle_features", "jet_features"):
                if key not in f:
                    raise SparsegenInputError(path, f"missing dataset '{key}' (not a JetNet-layout file)")
            pf = np.asarray(f["particle_features"][...])
            jf = np.asarray(f["jet_features"][...])
            attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
    except SparsegenInputError:
        raise
    except Exception as exc:
        text = " ".join(str(exc).split())[:160]
        raise SparsegenInputError(path, f"cannot read HDF5 ({exc.__class__.__name__}: {text})") from exc
    if validate:
        validate_arrays(pf, jf, source=path)
    return pf.astype(np.float32, copy=False), jf.astype(np.float32, copy=False), attrs


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temp path in the target folder; on success it is renamed onto ``path``, on error removed.

    The one way sparsegen writes a file (HDF5, JSON, checkpoints copies, generation chunks, results pages):
    a reader never sees a half-written file, and an interrupted write leaves the old file untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def check_output(path: str | os.PathLike, flag: str = "--out", overwrite: bool = False) -> None:
    """Refuse an output file before any work starts (`SparsegenInputError`, one line naming it).

    Every command that writes a file calls it first: a folder, a path under a file or in a folder that
    cannot be written would otherwise fail at the final rename, after the minutes of work that made the
    data; an existing file (sparsegen's or not) is only replaced with ``--overwrite``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SparsegenInputError(path, f"{flag} is a folder, expected a file path")
    _check_creatable(path, flag)
    if os.path.lexists(path) and not overwrite:
        raise SparsegenInputError(path, f"{flag} exists; pass --overwrite to replace it")


def check_output_folder(path: str | os.PathLike, flag: str, overwrite: bool = False,
                        pattern: str = "*.png") -> None:
    """Refuse an output folder before any work starts: one that is a file, lies under a file or cannot be
    written, or already holds files matching ``pattern`` (here or one folder down) unless ``overwrite``.
    """
    path = os.fspath(path)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise SparsegenInputError(path, f"{flag} exists and is not a folder")
    if not os.path.isdir(path):
        _check_creatable(path, flag)
        return
    if not os.access(path, os.W_OK | os.X_OK):
        raise SparsegenInputError(path, f"{flag} cannot be written (no write permission)")
    found = sorted(Path(path).glob(pattern)) + sorted(Path(path).glob(f"*/{pattern}"))
    if found and not overwrite:
        names = ", ".join(str(p.relative_to(path)) for p in found[:3]) + (", ..." if len(found) > 3 else "")
        raise SparsegenInputError(path, f"{flag} already holds {names}; pass --overwrite to replace them")


def _check_creatable(path: str, flag: str) -> None:
    """The nearest existing folder above ``path`` is a writable folder (`atomic_write` makes the rest)."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise SparsegenInputError(path, f"{flag} cannot be created: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SparsegenInputError(path, f"{flag} cannot be written: no write permission in {parent}")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_write(path, suffix=".txt") as tmp, open(tmp, "w") as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON (indented, trailing newline; NumPy scalars as numbers) atomically."""
    with atomic_write(path, suffix=".json") as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=lambda x: x.item() if hasattr(x, "item") else float(x))
        f.write("\n")


def write_jetnet(
    path: str | os.PathLike,
    particle_features: np.ndarray,
    jet_features: np.ndarray,
    attrs: Mapping[str, Any] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Validate and write the JetNet layout atomically (`atomic_write`)."""
    path = str(path)
    validate_arrays(particle_features, jet_features, source=path)
    with atomic_write(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("particle_features", data=particle_features.astype(np.float32), compression="gzip",
                         compression_opts=1, shuffle=True)
        f.create_dataset("jet_features", data=jet_features.astype(np.float32))
        for key, arr in (extra or {}).items():
            f.create_dataset(key, data=arr, compression="gzip", compression_opts=1)
        for key, value in (attrs or {}).items():
            f.attrs[key] = _attr_store(value)


def read_extra(path: str | os.PathLike, key: str) -> np.ndarray | None:
    """Read an optional extra dataset (e.g. ``images``) or return None; ``images`` are validated."""
    try:
        with h5py.File(str(path), "r") as f:
            if key not in f:
                return None
            arr = np.asarray(f[key][...])
            n = f["particle_features"].shape[0] if "particle_features" in f else None
    except Exception as exc:
        text = " ".join(str(exc).split())[:160]
        raise SparsegenInputError(
            str(path), f"cannot read dataset '{key}' ({exc.__class__.__name__}: {text})"
        ) from exc
    if key == "images":
        if arr.ndim != 3 or (n is not None and arr.shape[0] != n):
            raise SparsegenInputError(str(path), f"images must have shape (N={n}, H, W), got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all() or (arr < 0).any():
            raise SparsegenInputError(str(path), "images must be finite, non-negative floats")
    return arr


def jetnet_path(data_dir: str | os.PathLike, jet_type: str, num_particles: int = NUM_PARTICLES) -> Path:
    """Path of a real JetNet file as distributed on Zenodo: ``g.hdf5`` (30 particles), ``g150.hdf5`` (150)."""
    if jet_type not in JET_TYPES:
        raise SparsegenInputError(str(jet_type), f"unknown jet type (expected one of {', '.join(JET_TYPES)})")
    if num_particles not in (30, 150):
        raise SparsegenInputError(str(num_particles), "JetNet files exist for 30 or 150 particles")
    suffix = "" if num_particles == 30 else "150"
    return Path(data_dir) / f"{jet_type}{suffix}.hdf5"


def _attr_store(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    if value is None:
        return "null"
    return value


def _attr_value(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    return value
