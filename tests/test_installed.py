"""The package works once installed: the wheel built from the repository, installed alone into an empty
target and run from an empty folder, generates data, fits a shipped config by name, samples, evaluates and
runs a short demo; nothing is read from (or written into) the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A target folder holding only the installed wheel (its dependencies come from this venv)."""
    tmp = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(ROOT)],
                   check=True, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("sparsegen-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(tmp / "site"), str(wheel)],
                   check=True, cwd=tmp)
    return tmp / "site"


def test_the_installed_wheel_runs_every_step_from_an_empty_folder(installed: Path, tmp_path: Path):
    work = tmp_path / "empty"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed), "SPARSEGEN_DATA": str(tmp_path / "cache"),
           "WANDB_MODE": "disabled", "MPLBACKEND": "Agg"}

    def sparsegen(*args: str, module: str = "sparsegen") -> str:
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, (args, done.stderr[-3000:])
        return done.stdout

    where = subprocess.run([sys.executable, "-c", "import sparsegen; print(sparsegen.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(installed), where
    assert sparsegen("--version").strip() == f"sparsegen {_version()}"

    sparsegen("data", "generate", "--jet-type", "w", "--num-jets", "120", "--seed", "3", "--out", "w.h5")
    with h5py.File(work / "w.h5") as f:  # the shipped cards made it: W jets, with the W card's text
        assert f["particle_features"].shape == (120, 30, 4)
        assert "qqbar2Wg = on" in f.attrs["process_card"]
        mass = f["jet_features"][:, 3]
    assert 65 < float(np.median(mass)) < 95, np.median(mass)

    sparsegen("fit", "--config", "points/flow_matching", "--data.init_args.jet_types", "w",
              "--data.init_args.num_jets", "200", "--data.init_args.generation_workers", "1",
              "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3",
              "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
              "--trainer.logger", "false",
              "--trainer.default_root_dir", "run")
    ckpt = work / "run" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    sparsegen("sample", "--ckpt", str(ckpt), "--num-jets", "120", "--out", "gen.h5")
    sparsegen("evaluate", "--real", "w.h5", "--gen", "gen.h5", "--quick", "--out", "metrics.json")
    assert (work / "metrics.json").is_file()

    printed = sparsegen("--jet-type", "w", "--num-jets", "200", "--per-class", "10", "--heldout", "200",
                        "--workers", "1", "--max-time", "00:00:00:05", "--no-wandb", "--quick-metrics",
                        "--distill", "none", "--speed-jets", "20", module="sparsegen.demo")
    assert "demo finished" in printed
    assert (work / "runs" / "quickstart" / "metrics.json").is_file()
    assert not (installed / "physics_data").exists() and not (installed / "runs").exists()


def _version() -> str:
    from sparsegen import __version__

    return __version__
