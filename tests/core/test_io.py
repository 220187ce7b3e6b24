"""HDF5 layout: round trip, validation of broken/foreign files, atomic writes, real JetNet files."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from sparsegen.cli import main
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.io import jetnet_path, read_jetnet, write_jetnet
from sparsegen.core.jets import Jets


def toy_arrays(n: int = 20, p: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mult = rng.integers(1, p + 1, n)
    mask = np.arange(p)[None] < mult[:, None]
    pt = -np.sort(-rng.exponential(1.0, (n, p)), axis=1)
    pt = np.where(mask, pt, 0.0)
    pt /= pt.sum(1, keepdims=True)
    pf = np.stack([rng.normal(0, 0.1, (n, p)), rng.normal(0, 0.1, (n, p)), pt, mask], -1).astype(np.float32)
    pf[~mask] = 0.0
    jf = np.stack([np.full(n, 3.0), rng.uniform(800, 1600, n), rng.normal(0, 1, n), rng.uniform(60, 100, n),
                   mult], -1).astype(np.float32)
    return pf, jf


def test_round_trip_keeps_arrays_and_attributes(tmp_path):
    pf, jf = toy_arrays()
    jets = Jets.from_arrays(pf, jf)
    jets.save(tmp_path / "j.h5", attrs={"seed": 4, "pt_window_gev": [800.0, 1600.0]})
    back = Jets.load(tmp_path / "j.h5")
    assert np.array_equal(back.particles, pf[..., :3]) and np.array_equal(back.mask, pf[..., 3] > 0)
    assert np.array_equal(back.jet_features, jf)
    assert back.attrs["seed"] == 4
    pf2, jf2, _ = read_jetnet(tmp_path / "j.h5")
    assert np.array_equal(pf2, pf) and np.array_equal(jf2, jf)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def _corrupt(kind: str, pf: np.ndarray, jf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pf, jf = pf.copy(), jf.copy()
    if kind == "nan":
        pf[3, 0, 0] = np.nan
    elif kind == "inf":
        jf[2, 1] = np.inf
    elif kind == "padding":
        last = int(jf[0, 4])
        if last == pf.shape[1]:
            pf[0, -1, 3] = 0.0
            jf[0, 4] -= 1
            last -= 1
        pf[0, last, 0] = 0.3
    elif kind == "gap":
        i = int(np.argmax(jf[:, 4] >= 3))
        pf[i, 1, 3] = 0.0
        pf[i, 1, :3] = 0.0
        jf[i, 4] -= 1
    elif kind == "count":
        jf[1, 4] += 1
    elif kind == "type":
        jf[0, 0] = 7
    return pf, jf


@pytest.mark.parametrize(
    "kind, message",
    [
        ("nan", "NaN/inf"),
        ("inf", "NaN/inf"),
        ("padding", "padded particle slots are not all-zero"),
        ("gap", "not prefix-contiguous"),
        ("count", "num_particles"),
        ("type", "jet type"),
    ],
)
def test_bad_contents_error_with_one_line_and_status_2(tmp_path, capsys, kind, message):
    pf, jf = _corrupt(kind, *toy_arrays())
    path = tmp_path / f"{kind}.h5"
    with h5py.File(path, "w") as f:
        f["particle_features"] = pf
        f["jet_features"] = jf
    with pytest.raises(SparsegenInputError, match=message):
        read_jetnet(path)
    assert main(["data", "info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message.split()[0] in err[0]


@pytest.mark.parametrize("kind", ["missing", "shape", "mismatch", "garbage", "absent", "dtype"])
def test_broken_or_foreign_files(tmp_path, capsys, kind):
    pf, jf = toy_arrays()
    path = tmp_path / f"{kind}.h5"
    if kind == "garbage":
        path.write_bytes(b"\x89HDF\r\n this is not an hdf5 file" * 10)
    elif kind != "absent":
        with h5py.File(path, "w") as f:
            if kind == "missing":
                f["particle_features"] = pf
            elif kind == "shape":
                f["particle_features"] = pf[..., :3]
                f["jet_features"] = jf
            elif kind == "mismatch":
                f["particle_features"] = pf
                f["jet_features"] = jf[:-1]
            elif kind == "dtype":
                f["particle_features"] = pf.astype(np.int32)
                f["jet_features"] = jf
    with pytest.raises(SparsegenInputError) as info:
        read_jetnet(path)
    assert str(path) in str(info.value)
    assert main(["data", "info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sparsegen: error:")


def test_invalid_arrays_are_never_written(tmp_path):
    pf, jf = _corrupt("nan", *toy_arrays())
    with pytest.raises(SparsegenInputError):
        write_jetnet(tmp_path / "out.h5", pf, jf)
    assert os.listdir(tmp_path) == []


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    pf, jf = toy_arrays()
    write_jetnet(tmp_path / "out.h5", pf, jf)
    before = (tmp_path / "out.h5").read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(h5py.File, "create_dataset", boom, raising=False)
    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(KeyboardInterrupt):
        write_jetnet(tmp_path / "out.h5", pf[:5], jf[:5])
    assert os.listdir(tmp_path) == ["out.h5"]
    assert (tmp_path / "out.h5").read_bytes() == before


def test_real_jetnet_file_layout_is_read(tmp_path):
    """JetNet's Zenodo files (g.hdf5, t150.hdf5 ...) carry the same two datasets, float64 allowed, no
    attrs."""
    pf, jf = toy_arrays(30, 30)
    jf[:, 0] = 2.0
    path = jetnet_path(tmp_path, "t", 30)
    assert path.name == "t.hdf5" and jetnet_path(tmp_path, "t", 150).name == "t150.hdf5"
    with h5py.File(path, "w") as f:
        f["particle_features"] = pf.astype(np.float64)
        f["jet_features"] = jf.astype(np.float64)
    jets = Jets.load(path)
    assert len(jets) == 30 and jets.particles.dtype == np.float32 and np.all(jets.labels == 2)
    with pytest.raises(SparsegenInputError, match="unknown jet type"):
        jetnet_path(tmp_path, "x")
