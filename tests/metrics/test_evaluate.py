"""The report: python API, truth floor, image-model outputs, and the `sparsegen evaluate` CLI."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from sparsegen.cli import main
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.metrics import evaluate as evaluate_api
from sparsegen.metrics.evaluation import (
    METRIC_NAMES,
    EvalSettings,
    evaluate,
    split_samples,
)
from sparsegen.metrics.report import format_entry, write_metrics

TINY = EvalSettings(num_eval_samples=1_000, num_batches=3, fpd_min_samples=300, fpd_max_samples=600,
                    fpd_num_batches=4, fpd_num_points=4, kpd_num_batches=4, kpd_batch_size=300,
                    classifier_max_jets=600, classifier_epochs=5)


def _smeared(jets: Jets, sigma: float = 0.1) -> Jets:
    x = jets.particles.copy()
    x[..., 0] += np.random.default_rng(0).normal(0, sigma, x[..., 0].shape)
    x[~jets.mask] = 0
    return Jets.from_particles(x, jets.mask, pt=jets.pt)


def _check_schema(metrics: dict) -> None:
    for row in (metrics, metrics["truth_floor"]):
        assert set(METRIC_NAMES) <= set(row)
        for name, entry in row.items():
            if name != "truth_floor":
                assert set(entry) == {"value", "error"}, name
    json.dumps(metrics, allow_nan=False)


def test_split_is_disjoint_and_sized(real_jets) -> None:
    gen = real_jets[:700]
    a, b, g = split_samples(real_jets[:2000], gen, num_jets=None, seed=0)
    assert len(a) == len(b) == len(g) == 700

    def keys(j):
        return {p.tobytes() for p in j.particles}

    assert not keys(a) & keys(b)
    with pytest.raises(SparsegenInputError, match="at least"):
        split_samples(real_jets[:60], gen, seed=0)


def test_truth_floor_and_bad_generator(real_jets) -> None:
    real = real_jets[:1600]
    good = evaluate(real, real_jets[2000:2600], settings=TINY, seed=1)
    bad = evaluate(real, _smeared(real_jets[2000:2600], 0.15), settings=TINY, seed=1)
    _check_schema(good)
    for name in ("w1m", "w1p", "fpd", "kpd", "w1_tau21"):
        # abs(): the unbiased KPD estimate of identical distributions can be slightly negative
        assert bad[name]["value"] > 3 * abs(bad["truth_floor"][name]["value"]), name
        assert bad[name]["value"] > 2 * abs(good[name]["value"]), name
    assert bad["classifier_auc"]["value"] > good["classifier_auc"]["value"]
    assert abs(good["truth_floor"]["classifier_auc"]["value"] - 0.5) < 0.15
    # seeded: the same call gives the same numbers; the package exports the function
    assert (evaluate_api(real, real_jets[2000:2600], settings=TINY, seed=1, classifier=False)["fpd"]
            == good["fpd"])


def test_image_model_output_with_noise(real_jets) -> None:
    real = real_jets[:1600]
    images = real_jets[2000:2600].to_images()
    noisy = np.where(images > 0, images,
                     np.random.default_rng(0).uniform(0, 1e-4, images.shape)).astype(np.float32)
    clean = evaluate(real, Jets.from_images(images, pt=1000.0), settings=TINY, classifier=False)
    dirty = evaluate(real, Jets.from_images(noisy, pt=1000.0), settings=TINY, classifier=False)
    for name in ("w1_occupancy", "w1_pixel_intensity", "w1_multiplicity", "occupancy_map_diff"):
        assert dirty[name]["value"] > 20 * clean[name]["value"], name
    assert dirty["zero_fraction"]["value"] < 0.01
    assert clean["zero_fraction"]["value"] > 0.9
    # the dense metric barely moves: the particle-level view keeps the hardest 30 "particles" (pixels)
    assert dirty["w1m"]["value"] < 1.5 * clean["w1m"]["value"] + 1e-3


def test_metrics_json_is_written_atomically_and_entries_format(tmp_path) -> None:
    path = tmp_path / "sub" / "m.json"
    write_metrics(path, {"a": {"value": 1.0, "error": None}})
    assert format_entry({"value": 0.00123, "error": 0.0004}, scale=1e3) == "1.23 ± 0.4"
    assert format_entry({"value": None, "error": None}) == "-" and format_entry(None) == "-"
    assert json.loads(path.read_text())["a"]["value"] == 1.0
    assert os.listdir(tmp_path / "sub") == ["m.json"]


# ----------------------------------------------------------------------------- CLI
@pytest.fixture
def files(tmp_path, real_jets, make_jets) -> dict[str, str]:
    real = tmp_path / "real.h5"
    gen = tmp_path / "gen.h5"
    real_jets[:400].save(real)
    make_jets(300, seed=7, num_particles=40, min_mult=22, max_mult=36).save(gen)  # different P: padded
    return {"real": str(real), "gen": str(gen), "dir": str(tmp_path)}


def test_cli_end_to_end(files, capsys) -> None:
    out = os.path.join(files["dir"], "metrics.json")
    plots = os.path.join(files["dir"], "plots")
    status = main(["evaluate", "--real", files["real"], "--gen", files["gen"], "--out", out, "--plots", plots,
                   "--num-jets", "150", "--seed", "3", "--quick"])
    assert status == 0
    with open(out) as f:
        metrics = json.load(f)
    _check_schema(metrics)
    captured = capsys.readouterr()
    printed = captured.out
    assert "w1m" in printed and "truth floor" in printed
    warning = [ln for ln in captured.err.splitlines() if "warning" in ln]
    assert len(warning) == 1 and "150 jets per sample: FPD and KPD need ~20000" in warning[0], captured.err
    for name in ("mass", "pt", "multiplicity", "particle_features", "nsubjettiness", "pixel_intensity",
                 "average_images", "image_grid_real", "image_grid_generated"):
        assert os.path.getsize(os.path.join(plots, f"{name}.png")) > 1000, name


def test_cli_computes_the_metrics_named(files) -> None:
    out = os.path.join(files["dir"], "metrics.json")
    assert main(["evaluate", "--real", files["real"], "--gen", files["gen"], "--out", out,
                 "--num-jets", "150", "--quick", "--metrics", "w1m", "w1p"]) == 0
    with open(out) as f:
        metrics = json.load(f)
    keys = {"w1m", "w1p", "w1p_etarel", "w1p_phirel", "w1p_ptrel"}
    assert set(metrics) == keys | {"truth_floor"} and set(metrics["truth_floor"]) == keys


@pytest.mark.parametrize("case", ["missing", "layout", "few_jets", "num_jets", "metric"])
def test_cli_bad_input(files, capsys, case) -> None:
    out = os.path.join(files["dir"], "metrics.json")
    real, gen, extra = files["real"], files["gen"], []
    if case == "missing":
        gen = os.path.join(files["dir"], "nope.h5")
    elif case == "layout":
        gen = os.path.join(files["dir"], "bad.h5")
        with h5py.File(gen, "w") as f:
            f["particle_features"] = np.zeros((10, 5, 2), np.float32)
            f["jet_features"] = np.zeros((10, 5), np.float32)
    elif case == "few_jets":
        Jets.load(files["gen"])[:20].save(gen := os.path.join(files["dir"], "few.h5"))
    elif case == "metric":
        extra = ["--metrics", "w1m", "not_a_metric"]
    else:
        extra = ["--num-jets", "3"]
    status = main(["evaluate", "--real", real, "--gen", gen, "--out", out, *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("sparsegen: error:")
    assert not os.path.exists(out)


def test_several_classes_are_scored_one_by_one_and_combined(make_jets, tmp_path, capsys) -> None:
    def two_classes(seed: int) -> Jets:
        wide = make_jets(300, seed=seed, width=(0.2, 0.3))
        wide.jet_features[:, 0] = 0  # gluon-like: wide
        return Jets.concat([wide, make_jets(300, seed=seed + 50, two_prong_fraction=0.9)])  # top-like

    real, gen = two_classes(1), two_classes(2)
    real.save(tmp_path / "real.h5")
    gen.save(tmp_path / "gen.h5")
    out = tmp_path / "m.json"
    assert main(["evaluate", "--real", str(tmp_path / "real.h5"), "--gen", str(tmp_path / "gen.h5"),
                 "--quick", "--no-classifier", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics["by_class"]) == {"g", "t"}
    for name in ("g", "t"):
        row = metrics["by_class"][name]
        assert set(METRIC_NAMES) - {"classifier_auc"} <= set(row) and "truth_floor" in row
        assert all(row[k]["value"] is not None for k in ("w1m", "w1p", "fpd"))
    assert "w1m" in metrics and "truth_floor" in metrics  # the combined row keeps the top level
    assert "by class" in capsys.readouterr().out
    # a generated sample without one of the real classes cannot be scored by class
    gen[np.flatnonzero(gen.labels == 0)].save(tmp_path / "only_g.h5")
    assert main(["evaluate", "--real", str(tmp_path / "real.h5"), "--gen", str(tmp_path / "only_g.h5"),
                 "--quick", "--no-classifier"]) == 2
    assert "no t jets" in capsys.readouterr().err
