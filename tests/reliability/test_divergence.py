"""A NaN/inf loss stops training within one step with a clear message; the last good checkpoint is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sparsegen.cli import main
from sparsegen.models.spec import load_model
from sparsegen.models.wgan_gp import WGANGP

pytestmark = pytest.mark.slow  # a Lightning fit

ROOT = Path(__file__).resolve().parents[2]


def test_injected_nan_stops_the_run_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    calls = {"poisoned_at": None}
    critic_loss = WGANGP.critic_loss

    def poisoned(self, real, fake, cond=None):
        loss, logs = critic_loss(self, real, fake, cond)
        if self.current_epoch >= 1 and int(self.critic_steps) >= 4:  # second batch of the second epoch
            calls["poisoned_at"] = calls["poisoned_at"] or int(self.critic_steps)
            return loss * float("nan"), logs
        return loss, logs

    monkeypatch.setattr(WGANGP, "critic_loss", poisoned)
    status = main(
        [
            "fit",
            "--config",
            str(ROOT / "configs/images/wgan_gp_dense.yaml"),
            "--data.init_args.num_jets",
            "80",
            "--data.init_args.batch_size",
            "16",
            "--data.init_args.generation_workers",
            "1",
            "--trainer.max_epochs",
            "5",
            "--trainer.limit_train_batches",
            "3",
            "--trainer.logger",
            "false",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.default_root_dir",
            str(tmp_path / "run"),
        ]
    )
    assert status == 3
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("sparsegen:")]
    assert len(err) == 1 and "diverged" in err[0] and "last good checkpoint" in err[0]
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert calls["poisoned_at"] == 4, "stopped at the first bad step"
    assert int(ckpt["state_dict"]["critic_steps"]) == 3, "the checkpoint is from before the bad step"
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
    model = load_model(tmp_path / "run/checkpoints/last.ckpt")
    assert torch.isfinite(torch.as_tensor(model.sample(8, seed=0).images)).all()
