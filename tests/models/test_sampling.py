"""`sparsegen sample`: safe checkpoint loading, reproducible samples in the JetNet layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sparsegen.cli import main
from sparsegen.core.jets import Jets
from sparsegen.models.spec import load_model

ROOT = Path(__file__).resolve().parents[2]


def test_sample_cli_writes_reproducible_jetnet_file(tiny_checkpoint, tmp_path):
    for name in ("a", "b"):
        assert (
            main(
                [
                    "sample",
                    "--ckpt",
                    str(tiny_checkpoint),
                    "--num-jets",
                    "25",
                    "--batch-size",
                    "10",
                    "--seed",
                    "4",
                    "--out",
                    str(tmp_path / f"{name}.h5"),
                    "--images",
                    "--no-progress",
                ]
            )
            == 0
        )
    a, b = Jets.load(tmp_path / "a.h5"), Jets.load(tmp_path / "b.h5")
    assert len(a) == 25 and a.images.shape == (25, 32, 32)
    assert np.array_equal(a.particles, b.particles) and np.array_equal(a.images, b.images)
    assert (a.images == 0).mean() > 0.5, "generated images keep exact zeros"
    model = load_model(tiny_checkpoint)
    direct = model.sample(25, batch_size=10, seed=4)
    assert np.array_equal(direct.images, a.images)


def test_foreign_or_mismatched_checkpoints_error(tiny_checkpoint, tmp_path, capsys):
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    ckpt["sparsegen_model"]["init_args"]["generator"]["init_args"]["latent_dim"] = 3
    torch.save(ckpt, tmp_path / "other.ckpt")
    ckpt["sparsegen_model"]["class_path"] = "os.system"
    torch.save(ckpt, tmp_path / "hostile.ckpt")
    for name, message in (
        ("plain", "not a sparsegen model checkpoint"),
        ("garbage", "not a readable checkpoint"),
        ("other", "weights do not match"),
        ("hostile", "only sparsegen classes"),
        ("missing", "does not exist"),
    ):
        assert main(["sample", "--ckpt", str(tmp_path / f"{name}.ckpt"), "--num-jets", "5",
                     "--out", str(tmp_path / "x.h5")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (name, err)
    assert not (tmp_path / "x.h5").exists()
