"""JetDataModule: cached generation, splits, normalization, points and images, real JetNet files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.data.cache import data_dir
from sparsegen.data.datamodule import JetDataModule
from sparsegen.data.normalization import Normalizer


@pytest.mark.slow
def test_generates_once_then_reuses_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    dm = JetDataModule(jet_types="w", num_jets=40, batch_size=8, seed=3)
    dm.prepare_data()
    (path,) = dm.files()
    assert path.parent == tmp_path and path.exists() and path.name.startswith("w_p30_n40_s3_")
    stamp = path.stat().st_mtime_ns
    JetDataModule(jet_types="w", num_jets=40, seed=3).prepare_data()
    assert path.stat().st_mtime_ns == stamp
    other = JetDataModule(jet_types="w", num_jets=40, seed=4).files()[0]
    assert other != path

    dm.setup("fit")
    sizes = {k: len(v) for k, v in dm.datasets.items()}
    assert sizes == {"train": 28, "val": 6, "test": 6}
    batch = next(iter(dm.train_dataloader()))
    assert batch["particles"].shape == (8, 30, 3) and batch["mask"].dtype == torch.bool
    assert torch.all(batch["particles"][~batch["mask"]] == 0)
    # normalization: standardized real particles, exactly invertible
    train = dm.datasets["train"].tensors
    real = train["particles"][train["mask"]]
    assert torch.allclose(real.mean(0), torch.zeros(3), atol=1e-4)
    assert torch.allclose(real.std(0), torch.ones(3), atol=0.05)
    back = dm.normalizer.points_inverse(train["particles"], train["mask"])
    assert torch.allclose(back, torch.as_tensor(dm.real_jets("train").particles), atol=1e-5)
    state = Normalizer.from_state_dict(dm.normalizer.state_dict())
    assert np.array_equal(state.mean, dm.normalizer.mean)
    # the split is disjoint and seeded
    ids = [set(map(tuple, dm.real_jets(s).jet_features[:, 1:3].tolist())) for s in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_images_representation(tmp_path, pythia_file):
    src = pythia_file("g", 300)
    dm = JetDataModule(jet_types="g", num_jets=300, representation="images", npix=16, data_dir=str(tmp_path),
                       batch_size=16)
    dm.files()[0].write_bytes(src.read_bytes())  # reuse the session sample as this module's cache
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["images"].shape == (16, 1, 16, 16)
    imgs = dm.datasets["train"].tensors["images"]
    occupancy = (imgs > 0).float().mean().item()
    assert 0.0 < occupancy < 0.2, "jet images are sparse"
    assert torch.allclose(dm.normalizer.images_inverse(imgs)[:, 0].sum((1, 2)),
                          torch.as_tensor(dm.images_of(dm.real_jets("train")).sum((1, 2))), rtol=1e-5)


def test_real_jetnet_directory(tmp_path, pythia_file):
    jets = Jets.load(pythia_file("t", 300))
    pf, jf = jets.to_jetnet_arrays()
    with h5py.File(tmp_path / "t.hdf5", "w") as f:
        f["particle_features"] = pf.astype(np.float64)
        f["jet_features"] = jf.astype(np.float64)
    dm = JetDataModule(jet_types=["t"], num_jets=100, jetnet_dir=str(tmp_path), num_particles=30)
    dm.prepare_data()
    dm.setup()
    assert sum(len(d) for d in dm.datasets.values()) == 100
    missing = JetDataModule(jet_types=["w"], num_jets=100, jetnet_dir=str(tmp_path))
    with pytest.raises(SparsegenInputError, match="w.hdf5"):
        missing.prepare_data()
    with pytest.raises(SparsegenInputError, match="requested"):
        JetDataModule(jet_types=["t"], num_jets=1000, jetnet_dir=str(tmp_path)).setup()


def test_bad_arguments():
    with pytest.raises(SparsegenInputError, match="unknown jet type"):
        JetDataModule(jet_types="x")
    with pytest.raises(SparsegenInputError, match="representation"):
        JetDataModule(representation="voxels")  # type: ignore[arg-type]
    with pytest.raises(SparsegenInputError, match="split"):
        JetDataModule(split=(0.5, 0.5, 0.5))
