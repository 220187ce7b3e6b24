"""The metric registry: selections, ranking, labels, and a metric registered at run time reaching every
consumer (evaluate and its truth floor, PeriodicMetrics, the report table, a study table)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sparsegen.core.errors import SparsegenInputError
from sparsegen.metrics import distances as D
from sparsegen.metrics import registry as R
from sparsegen.metrics.evaluation import EvalSettings, evaluate
from sparsegen.metrics.report import metrics_table
from sparsegen.models.callbacks import PeriodicMetrics

TINY = EvalSettings(num_eval_samples=500, num_batches=2, fpd_min_samples=200, fpd_max_samples=300,
                    fpd_num_batches=3, fpd_num_points=3, kpd_num_batches=3, kpd_batch_size=200)


def jet_pt(sample) -> np.ndarray:
    """A feature no built-in metric uses: the jet pT in GeV."""
    return sample.full.pt


def _w1_jet_pt(ref, other, cfg, seed):
    return D.w1(ref.get(jet_pt), other.get(jet_pt), **cfg.w1_kwargs(seed))


W1_JET_PT = R.Metric("w1_jet_pt", "jet pT W1", _w1_jet_pt, needs=(jet_pt,), tags={"table", "periodic"})


def test_selections_reproduce_the_consumers_lists() -> None:
    assert R.names(tag="table") == ("w1m", "w1p", "w1efp", "fpd", "kpd", "w1_multiplicity", "w1_occupancy",
                                    "w1_pixel_intensity", "w1_tau21", "w1_tau32", "classifier_auc")
    assert R.names(tag="periodic") == ("w1m", "w1_occupancy", "w1_pixel_intensity")
    assert R.names(tag="conditional") == ("w1m", "w1p", "w1efp", "fpd", "w1_multiplicity", "w1_tau21",
                                          "classifier_auc")
    assert R.names(tag="convergence") == ("w1m", "w1p", "w1efp", "fpd", "w1_tau21", "classifier_auc")
    assert R.names(tag="convergence_target_2.5") + R.names(tag="convergence_target_5") == (
        "w1m", "w1p", "w1efp", "fpd", "w1_tau21")
    assert R.names(tag="sparse_vs_dense") + R.names(tag="sparse_vs_dense_reference") == (
        "w1_occupancy", "w1_pixel_intensity", "w1m")
    assert R.names(tag="findings") == ("w1m", "w1p", "fpd", "w1_occupancy", "w1_pixel_intensity",
                                       "classifier_auc")
    assert R.names(names=["fpd", "w1m"]) == ("w1m", "fpd")  # registry order
    assert R.names(tag="table", representation="images") == R.names(tag="table")
    assert R.result_keys(R.select(["w1p"])) == ("w1p", "w1p_etarel", "w1p_phirel", "w1p_ptrel")
    assert R.owner("w1p_ptrel").name == "w1p" and R.owner("nope") is None
    assert R.get("fpnd").compute is None and "fpnd" not in R.names(computed=True)
    assert [m.name for m in R.select(tag="table") if m.expensive] == ["classifier_auc"]


def test_labels_badness_and_ratio_to_floor() -> None:
    w1m, w1efp, auc = R.get("w1m"), R.get("w1efp"), R.get("classifier_auc")
    assert R.column_label(w1m) == "W1M ×10³" and R.column_label(w1efp) == "W1EFP ×10⁵"
    assert R.column_label(auc) == "classifier AUC" and R.column_label(auc, short=True) == "AUC"
    assert R.column_label(R.get("w1_occupancy"), short=True) == "occ. W1 ×10³"
    assert R.columns("convergence") == (("w1m", "W1M ×10³", 1e3), ("w1p", "W1P ×10³", 1e3),
                                        ("w1efp", "W1EFP ×10⁵", 1e5), ("fpd", "FPD ×10³", 1e3),
                                        ("w1_tau21", "τ21 W1 ×10³", 1e3), ("classifier_auc", "AUC", 1.0))
    assert R.columns("sparse_vs_dense", short=False)[0] == ("w1_occupancy", "occupancy W1 ×10³", 1e3)
    assert R.badness({"value": 0.42, "error": 0.01}, auc) == pytest.approx(0.08)
    assert R.badness({"value": 0.58, "error": 0.01}, auc, sigmas=1) == pytest.approx(0.09)
    assert R.badness({"value": 0.003, "error": 0.001}, w1m, sigmas=1) == pytest.approx(0.004)
    assert R.badness({"value": None, "error": None}, w1m) is None and R.badness(None, w1m) is None
    result = {"w1m": {"value": 6.0, "error": 1.0}, "classifier_auc": {"value": 0.7, "error": 0.01},
              "truth_floor": {"w1m": {"value": 2.0, "error": 0.1}, "classifier_auc": {"value": 0.5}}}
    assert R.ratio_to_floor(result, w1m) == pytest.approx(3.0)
    assert R.ratio_to_floor(result, auc) is None  # not a distance
    assert R.ratio_to_floor({"w1m": {"value": 1.0}}, w1m) is None  # no floor


def test_bad_definitions_and_names_are_one_line_errors() -> None:
    with pytest.raises(SparsegenInputError, match="better must be one of"):
        R.Metric("x", "X", _w1_jet_pt, better="higher")
    with pytest.raises(SparsegenInputError, match="unknown representations"):
        R.Metric("x", "X", _w1_jet_pt, representations=("voxels",))
    with pytest.raises(SparsegenInputError, match="already registered"):
        R.register(R.Metric("w1m", "again", _w1_jet_pt))
    with pytest.raises(SparsegenInputError, match="already registered"):
        R.register(R.Metric("other", "X", _w1_jet_pt, components=("w1p_ptrel",)))
    with pytest.raises(SparsegenInputError, match="unknown metric 'nope'"):
        R.get("nope")
    with pytest.raises(SparsegenInputError, match="unknown metric 'nope'"):
        PeriodicMetrics(metrics=["nope"])
    assert "x" not in R.names()


def test_a_registered_metric_reaches_evaluate_periodic_metrics_and_the_report(make_jets) -> None:
    real = make_jets(800, seed=1)
    gen = make_jets(300, seed=2)
    gen.jet_features[:, 1] *= 1.2  # a generator whose jet pT is 20 % high
    with R.temporarily(W1_JET_PT):
        assert "w1_jet_pt" in R.names(tag="table")
        result = evaluate(real, gen, settings=TINY, classifier=False, seed=0)
        assert result["w1_jet_pt"]["value"] > 5 * result["truth_floor"]["w1_jet_pt"]["value"] > 0
        assert {"w1m", "fpd"} <= set(result)  # the built-ins are still there
        only = evaluate(real, gen, settings=TINY, seed=0, metrics=["w1_jet_pt", "w1m"])
        assert set(only) == {"w1m", "w1_jet_pt", "truth_floor"} and only["w1m"] == result["w1m"]

        console_text = io.StringIO()
        from rich.console import Console

        Console(file=console_text, width=200).print(metrics_table(result))
        assert "w1_jet_pt" in console_text.getvalue()

        from sparsegen.studies.generative import class_table

        row = {"config": "points/x", "sparse_aware": True, "family": "points", "metrics": result, "parts": {},
               "epochs": 1, "steps": 1, "train_s": 1.0, "load_average": 0.0, "sample_jets_per_s": 1.0}
        header = class_table([row]).splitlines()[0]
        assert "jet pT W1" in header  # the generative study's table has its column

        callback = PeriodicMetrics(seed=0)
        assert callback.keys() == ("w1m", "w1_occupancy", "w1_pixel_intensity", "w1_jet_pt")
        values = callback.compute(real[:300], gen, npix=32, extent=0.8)
        assert set(values) == set(callback.keys()) and values["w1_jet_pt"] > 50.0  # GeV
    assert "w1_jet_pt" not in R.names() and "w1_jet_pt" not in PeriodicMetrics().keys()
    assert PeriodicMetrics(fpd=True).keys() == ("w1m", "fpd", "w1_occupancy", "w1_pixel_intensity")
    assert PeriodicMetrics(metrics=["w1p"]).keys() == R.result_keys(R.select(["w1p"]))


def test_periodic_metrics_logs_one_broadcast_value_per_selected_key(make_jets) -> None:
    """The validation hook with stand-ins for the trainer: ``val/<key>`` for every selected key, values as
    `compute` returns them, sent through one broadcast tensor sized by the selection."""
    real, gen = make_jets(200, seed=3), make_jets(200, seed=4)
    broadcast = []
    logged = {}
    trainer = SimpleNamespace(
        sanity_checking=False, current_epoch=0, is_global_zero=True,
        datamodule=SimpleNamespace(real_jets=lambda split: real),
        strategy=SimpleNamespace(broadcast=lambda t, src: broadcast.append(t) or t))
    module = SimpleNamespace(device=torch.device("cpu"), data_info=SimpleNamespace(
        npix=32, extent=0.8, spec=SimpleNamespace(names=())), sample=lambda n, cond, seed: gen[:n],
        log_dict=lambda logs, **kw: logged.update(logs))
    with R.temporarily(W1_JET_PT):
        callback = PeriodicMetrics(num_jets=200, fpd=True, seed=0)
        callback.on_validation_epoch_end(trainer, module)
        expected = callback.compute(real, gen, 32, 0.8)
    keys = ("w1m", "fpd", "w1_occupancy", "w1_pixel_intensity", "w1_jet_pt")
    assert broadcast[0].shape == (len(keys),)
    assert list(logged) == [f"val/{k}" for k in keys]
    for k in keys:
        assert float(logged[f"val/{k}"]) == pytest.approx(expected[k], rel=1e-6)
    assert callback.history[0]["epoch"] == 0


def test_demo_floor_ratio_line_follows_the_demo_selection() -> None:
    from sparsegen.demo import floor_ratios

    result = {"w1m": {"value": 6.0, "error": 1.0}, "fpd": {"value": 1.0, "error": 0.1},
              "classifier_auc": {"value": 0.7, "error": 0.01},
              "truth_floor": {"w1m": {"value": 2.0, "error": 0.1}, "fpd": {"value": 0.0, "error": 0.1},
                              "classifier_auc": {"value": 0.5, "error": 0.01}}}
    line = floor_ratios(result)
    assert line == ("generated vs real in units of the truth floor: W1M 3×; "
                    "classifier AUC 0.700 (0.5: indistinguishable)")  # a zero floor gives no ratio
