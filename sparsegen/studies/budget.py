"""Train one config for a wall-clock budget and restore its best epoch (shared by the studies and benches)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sparsegen.jets import Jets
from sparsegen.lightning_cli import build_cli

# quick scale: one short epoch instead of a wall-clock budget (for the test suite)
QUICK_TRAINER = ("--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1")


def max_time(minutes: float) -> str:
    """Lightning's DD:HH:MM:SS from minutes."""
    seconds = round(minutes * 60)
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def budget_cli(config: Path, minutes: float, run_dir: Path, num_jets: int, seed: int, extra: Sequence[str] = ()):
    """The LightningCLI object (not run) of ``config`` under a wall-clock budget, CSV logging into ``run_dir``."""
    return build_cli([
        "--config", str(config), "--seed_everything", str(seed),
        "--trainer.max_time", max_time(minutes), "--trainer.max_epochs", "100000",
        "--trainer.default_root_dir", str(run_dir), "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--data.init_args.num_jets", str(num_jets),
        "--trainer.logger", "pytorch_lightning.loggers.CSVLogger", "--trainer.logger.save_dir", str(run_dir),
        *extra,
    ], run=False)


def held_out(datamodule) -> Jets:
    """The real jets a trained model is scored against: validation + test splits."""
    datamodule.prepare_data()
    return Jets.concat([datamodule.real_jets("val"), datamodule.real_jets("test")])


def fit_with_budget(config: Path, minutes: float, run_dir: Path, num_jets: int, seed: int,
                    extra: Sequence[str] = ()) -> dict[str, Any]:
    """Fit ``config`` for ``minutes`` of wall clock, restore the best checkpoint (by ``val/w1m``).

    ``extra`` are further LightningCLI arguments (they override the budget ones, e.g. ``QUICK_TRAINER``).
    Returns the CLI object, training seconds, the mean load average during training (other jobs share the
    budget on a shared CPU), step counters read before the restore, the best checkpoint path and the
    held-out real jets (validation + test splits).
    """
    cli = budget_cli(config, minutes, run_dir, num_jets, seed, extra)
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    train_s = time.perf_counter() - start
    model = cli.model
    out = {
        "cli": cli, "train_s": train_s, "load": (load_before + os.getloadavg()[0]) / 2,
        "epochs": cli.trainer.current_epoch,
        "steps": int(getattr(model, "gen_steps", cli.trainer.global_step)),
        "critic_steps": int(getattr(model, "critic_steps", 0)),
    }
    best = next((c.best_model_path for c in cli.trainer.checkpoint_callbacks if c.monitor and c.best_model_path), "")
    if best:
        model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    out["best"] = best
    out["real"] = held_out(cli.datamodule)
    return out
