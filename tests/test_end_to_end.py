"""A user's day in small: wandb offline run with image panels, DDP on two CPU processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparsegen.cli import main

pytestmark = pytest.mark.slow  # Lightning fits, one of them DDP

ROOT = Path(__file__).resolve().parents[1]


def test_wandb_offline_run_contains_image_panels(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    status = main([
        "fit", "--config", str(ROOT / "configs/images/wgan_gp_dense.yaml"),
        "--config", str(ROOT / "configs/logger/wandb.yaml"),
        "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
        "--data.init_args.num_jets", "80", "--data.init_args.batch_size", "16",
        "--data.init_args.generation_workers", "1",
        "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3",
        "--trainer.default_root_dir", str(tmp_path / "runs"),
    ])
    assert status == 0
    runs = list((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    images = {p.name for p in runs[0].rglob("*.png")}
    for panel in ("generated_images", "average_image", "mass", "multiplicity"):
        assert any(n.startswith(panel) for n in images), (panel, sorted(images))
    assert any(p.suffix == ".wandb" for p in runs[0].iterdir())


def test_ddp_fit_on_two_cpu_processes(tmp_path):
    """`--trainer.strategy ddp` with 2 CPU processes (gloo): the multi-process path keeps working and
    the rank-0 metrics callback stays in step (a deadlock or mismatch would fail or time out)."""
    env = dict(os.environ, SPARSEGEN_DATA=str(tmp_path / "data"), WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "sparsegen.cli",
        "fit",
        "--config",
        str(ROOT / "configs/images/vae_dense.yaml"),
        "--data.init_args.num_jets",
        "80",
        "--data.init_args.batch_size",
        "8",
        "--data.init_args.generation_workers",
        "1",
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        "ddp",
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_train_batches",
        "2",
        "--trainer.limit_val_batches",
        "2",
        "--trainer.logger",
        "pytorch_lightning.loggers.CSVLogger",
        "--trainer.logger.save_dir",
        str(tmp_path / "run"),
        "--trainer.default_root_dir",
        str(tmp_path / "run"),
        "--trainer.enable_progress_bar",
        "false",
    ]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "world_size=2" in res.stderr + res.stdout or "distributed_backend=gloo" in res.stderr + res.stdout
    metrics = next((tmp_path / "run").rglob("metrics.csv")).read_text()
    assert "val/w1m" in metrics.splitlines()[0]
    assert list((tmp_path / "run").rglob("last.ckpt"))
