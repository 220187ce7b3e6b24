"""`make demo` in small: train the quickstart teacher, distil its one-step student, sample, evaluate, time
both against Pythia8+FastJet; `sparsegen sample` + `sparsegen
evaluate` on the demo's checkpoint reproduce its metrics exactly; every demo flag reaches data, training and
evaluation (here 20 particles per jet); generated and real jets both report mass in GeV; the printed
reproduce command runs as printed in a fresh shell."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from sparsegen.core.jets import Jets
from sparsegen.core.resources import config_path
from sparsegen.demo import main as demo
from sparsegen.models.spec import load_checkpoint

pytestmark = pytest.mark.slow  # the demo trains, samples and evaluates


def test_demo_pipeline_and_reproduction_from_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "quick"
    # the shipped student config with a bank of teacher pairs this small budget can make
    distill = tmp_path / "distill.yaml"
    shipped = config_path("distill/quickstart").read_text()
    assert "    pairs: 20000\n" in shipped
    distill.write_text(shipped.replace("    pairs: 20000\n", "    pairs: 300\n    val_pairs: 100\n"))
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "best-epoch=999.ckpt").write_text("an earlier demo's")
    assert (
        demo(
            [
                "--num-jets",
                "300",
                "--per-class",
                "60",
                "--heldout",
                "200",
                "--workers",
                "1",
                "--num-particles",
                "20",
                "--max-time",
                "00:00:00:08",
                "--distill",
                str(distill),
                "--distill-max-time",
                "00:00:00:05",
                "--speed-jets",
                "40",
                "--score-teacher",
                "--no-wandb",
                "--quick-metrics",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for name in (
        "metrics.json",
        "config.yaml",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "checkpoints/teacher.ckpt",
        "speed.json",
        "teacher_metrics.json",
        "generated.h5",
        "real_heldout.h5",
        "physics/mass.png",
        "physics/average_images.png",
    ):
        assert (out / name).exists(), name
    assert list((out / "plots").glob("*.png"))
    assert not (out / "checkpoints" / "best-epoch=999.ckpt").exists()  # each demo starts clean
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"w1m", "fpd", "kpd", "w1efp", "classifier_auc", "truth_floor"} <= set(metrics)
    assert "sparsegen sample --ckpt" in printed and "sparsegen evaluate" in printed
    # --num-particles reached the data, the training and the evaluation
    ckpt = load_checkpoint(out / "checkpoints/best.ckpt")
    assert ckpt["sparsegen_data_info"]["num_particles"] == 20
    # the scored model is the distilled one, with its teacher next to it; both were timed against Pythia
    assert ckpt["hyper_parameters"]["num_steps"] == 1
    assert "FlowDistillation" in (out / "config.yaml").read_text()
    assert load_checkpoint(out / "checkpoints/teacher.ckpt")["hyper_parameters"]["num_steps"] == 32
    teacher_metrics = json.loads((out / "teacher_metrics.json").read_text())
    assert teacher_metrics.keys() == metrics.keys()  # scored the same way, against the same real jets:
    assert teacher_metrics["truth_floor"] == metrics["truth_floor"]
    assert "the teacher (64 network evaluations per jet), scored the same way: W1M" in printed
    speed = json.loads((out / "speed.json").read_text())
    assert speed["pythia8_fastjet"]["jets_per_s"] > 0
    assert speed["fast model (distilled)"]["network_evaluations"] == 1
    assert speed["teacher"]["network_evaluations"] == 64
    for row in ("fast model (distilled)", "teacher"):
        ratio = speed[row]["jets_per_s"] / speed["pythia8_fastjet"]["jets_per_s"]
        assert speed[row]["vs_pythia"] == pytest.approx(ratio)
        assert f"{speed[row]['vs_pythia']:.1f}× Pythia8+FastJet" in printed
    real, gen = Jets.load(out / "real_heldout.h5"), Jets.load(out / "generated.h5")
    assert real.max_particles == 20 and gen.max_particles == 20 and gen.num_particles.max() <= 20
    assert "num_particles: 20" in (out / "config.yaml").read_text()
    # GeV for both: a briefly trained model's median jet mass is within a factor 4 of the real one (the
    # steps an 8-second budget buys depend on the machine's load; a unit mix-up would be off by ~100×)
    ratio = np.median(gen.mass) / np.median(real.mass)
    assert 0.25 < ratio < 4.0, (np.median(gen.mass), np.median(real.mass))
    assert 800 <= gen.pt.min() and gen.pt.max() <= 1600

    # the printed command runs as printed in a fresh shell started elsewhere and reproduces metrics.json
    lines = printed.splitlines()
    header = next(ln for ln in lines if ln.startswith("reproduce the metrics"))
    command = lines[lines.index(header) + 1].strip()
    assert command.startswith("cd ") and " sample --ckpt " in command and " evaluate --real " in command
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # on this process's one thread (the autouse fixture): a reduction split over another thread count can
    # differ in its last bit, and the metrics are compared exactly
    pinned = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MKL_DYNAMIC": "FALSE"}
    done = subprocess.run(command, shell=True, cwd=elsewhere, env=pinned, capture_output=True, text=True,
                          executable="/bin/bash")
    assert done.returncode == 0, done.stderr[-2000:]
    again = json.loads((out / "reproduced" / "metrics.json").read_text())
    assert again == metrics
    assert "demo finished in" in printed and "in units of the truth floor: W1M" in printed
