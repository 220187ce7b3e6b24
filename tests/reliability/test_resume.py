"""`sparsegen fit ... --ckpt_path last` continues a GAN run exactly: optimizers, EMA, counters, RNG."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sparsegen.cli import main

pytestmark = pytest.mark.slow  # Lightning fits

ROOT = Path(__file__).resolve().parents[2]


def _fit(root: Path, epochs: int, extra: list[str] = ()) -> None:
    assert main([
        "fit", "--config", str(ROOT / "configs/images/wgan_gp_dense.yaml"),
        "--data.init_args.num_jets", "80", "--data.init_args.batch_size", "16",
        "--data.init_args.generation_workers", "1",
        "--model.init_args.n_critic", "2",
        "--trainer.max_epochs", str(epochs), "--trainer.limit_train_batches", "3",
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
        "--trainer.default_root_dir", str(root), *extra,
    ]) == 0


def test_resumed_gan_run_matches_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    _fit(tmp_path / "straight", 3)
    _fit(tmp_path / "resumed", 1)
    first = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert int(first["state_dict"]["critic_steps"]) == 3
    _fit(tmp_path / "resumed", 3, ["--ckpt_path", "last"])
    a = torch.load(tmp_path / "straight/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    b = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert a["epoch"] == b["epoch"] and a["global_step"] == b["global_step"]
    assert int(b["state_dict"]["critic_steps"]) == 9 and int(b["state_dict"]["gen_steps"]) == 4
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key  # generator, critic and EMA weights, counters
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"]):
        for sa, sb in zip(opt_a["state"].values(), opt_b["state"].values()):
            assert torch.equal(sa["exp_avg"], sb["exp_avg"])
