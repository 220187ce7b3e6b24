"""Checkpoints and files are loaded without executing pickled code."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from sparsegen.cli import main
from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.spec import load_model


def test_malicious_pickle_in_checkpoint_is_refused(tiny_checkpoint, tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    ckpt["payload"] = Evil()
    bad = tmp_path / "evil.ckpt"
    with open(bad, "wb") as f:
        torch.save(ckpt, f, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(SparsegenInputError, match="refusing to load"):
        load_model(bad)
    assert not (tmp_path / "pwned").exists()
    assert main(["sample", "--ckpt", str(bad), "--num-jets", "5", "--out", str(tmp_path / "x.h5")]) == 2
    assert "refusing to load" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "pwned").exists()


def test_data_files_never_unpickle(tmp_path):
    """HDF5 datasets of Python objects (pickled by h5py's object dtype) are refused, not unpickled."""
    import h5py
    import numpy as np

    from sparsegen.core.io import read_jetnet

    with h5py.File(tmp_path / "obj.h5", "w") as f:
        f.create_dataset("particle_features", data=np.array([b"x"] * 4, dtype=h5py.string_dtype()))
        f["jet_features"] = np.zeros((4, 5), np.float32)
    with pytest.raises(SparsegenInputError):
        read_jetnet(tmp_path / "obj.h5")
