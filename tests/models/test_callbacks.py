"""Callbacks in a real (tiny) fit: periodic metrics drive the best checkpoint; image panels are written."""

from __future__ import annotations

from pathlib import Path

import torch

from sparsegen.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_periodic_metrics_best_checkpoint_and_image_panels(tmp_path, monkeypatch, pythia_file):
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    status = main([
        "fit", "--config", str(ROOT / "configs/images/vae_hurdle.yaml"),
        "--data.init_args.num_jets", "80", "--data.init_args.batch_size", "16",
        "--data.init_args.generation_workers", "1",
        "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2",
        "--trainer.default_root_dir", str(tmp_path / "run"),
        "--trainer.logger", "pytorch_lightning.loggers.CSVLogger",
        "--trainer.logger.save_dir", str(tmp_path / "run"),
    ])
    assert status == 0
    metrics = (next((tmp_path / "run").rglob("metrics.csv"))).read_text().splitlines()
    header = metrics[0].split(",")
    assert {"val/w1m", "val/w1_occupancy", "val/w1_pixel_intensity"} <= set(header)
    col = header.index("val/w1m")
    values = [float(r.split(",")[col]) for r in metrics[1:] if r.split(",")[col]]
    assert len(values) == 2 and all(v >= 0 for v in values)
    best = list((tmp_path / "run").rglob("best-*.ckpt"))
    assert len(best) == 1
    ckpt = torch.load(best[0], map_location="cpu", weights_only=True)
    assert (
        abs(
            ckpt["callbacks"][
                next(k for k in ckpt["callbacks"] if "ModelCheckpoint" in k and "val/w1m" in k)
            ]["best_model_score"]
            - min(values)
        )
        < 1e-6
    )
    assert ckpt["sparsegen_data_info"]["representation"] == "images"
    pngs = {p.name for p in (tmp_path / "run").rglob("*.png")}
    assert any(n.startswith("average_image_epoch") for n in pngs)
    assert any(n.startswith("generated_images_epoch") for n in pngs)


def test_cpu_time_budget_stops_training_after_its_cpu_seconds(tmp_path, monkeypatch, pythia_file):
    """fit(clock="cpu") trains until the process has used its CPU minutes, then stops mid-epoch-count."""
    import time

    from sparsegen.models.callbacks import CPUTimeBudget
    from sparsegen.models.training import fit

    budget = CPUTimeBudget(0.01)
    budget.on_fit_start(None, None)
    start = time.process_time()
    while time.process_time() - start < 0.7:
        pass

    class Trainer:
        should_stop = False

    trainer = Trainer()
    budget.on_train_batch_end(trainer)
    assert trainer.should_stop and budget.used() >= 0.6

    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    root = Path(__file__).resolve().parents[2]
    res = fit(root / "configs/quickstart.yaml", tmp_path / "run", minutes=0.1, num_jets=200, clock="cpu",
              overrides=["--data.init_args.generation_workers", "1", "--trainer.val_check_interval", "null",
                         "--trainer.limit_val_batches", "0"], save_config=False)
    assert 6.0 <= res.train_cpu_s < 60.0, res.train_cpu_s  # stopped at its 6 CPU-seconds, not max_epochs
    assert res.epochs < 1000 and res.steps > 0
