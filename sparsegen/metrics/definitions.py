"""The built-in metrics: one `Metric` each, registered on import (docs/metrics.md "Definitions").

Each compute reads the prepared samples' features (`sparsegen.metrics.samples.Sample`) and calls the
resampling functions of :mod:`sparsegen.metrics.distances` / :mod:`sparsegen.metrics.sparsity`, so the
report computes exactly what the public functions of the same name compute on the same jets.

Tags name the selections of the consumers:

* ``table``: the headline metrics of the report (``evaluate``'s table, the generative study's columns);
* ``demo``: the demo's line of ratios to the truth floor (and the AUC);
* ``periodic``: what `PeriodicMetrics` logs by default during training;
* ``conditional``, ``convergence``: the columns of those studies; ``convergence_target_2.5`` and
  ``convergence_target_5``: the metrics the convergence study asks within 2.5× / 5× of the floor;
* ``findings``: the metrics whose best run the generative study names; ``sparse_vs_dense``: the
  sparsity-aware metrics of its sparse-aware vs dense comparison, ``sparse_vs_dense_reference``: the dense
  metric shown after them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from sparsegen.metrics import distances as D
from sparsegen.metrics import sparsity as S
from sparsegen.metrics.classifier import classifier_auc
from sparsegen.metrics.efp import W1EFP_INDICES
from sparsegen.metrics.registry import EvalSettings, Metric, Pair, register
from sparsegen.metrics.samples import Sample

KINEMATICS, TAUS, EFPS = Sample.kinematics, Sample.taus, Sample.efps
ACTIVE, ZERO_FRACTION = Sample.active, Sample.zero_fraction
W1P_FEATURES = ("etarel", "phirel", "ptrel")


def _w1m(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return D.w1(ref.mass, other.mass, **cfg.w1_kwargs(seed))


def _w1p(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Mapping[str, Pair]:
    batches = D.w1p_batches(ref.jets, other.jets, None, None, True, cfg.num_eval_samples, cfg.num_batches,
                            seed)
    out = {"w1p": (batches.mean(1).mean(), batches.mean(1).std())}
    for i, name in enumerate(W1P_FEATURES):
        out[f"w1p_{name}"] = (batches[:, i].mean(), batches[:, i].std())
    return out


def _w1efp(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    per_batch = D.w1_batches(ref.efps[:, W1EFP_INDICES], other.efps[:, W1EFP_INDICES],
                             **cfg.w1_kwargs(seed)).mean(1)
    return per_batch.mean(), per_batch.std()


def _fpd(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return D.fpd(ref.efps, other.efps, cfg.fpd_min_samples, cfg.fpd_max_samples, cfg.fpd_num_batches,
                 cfg.fpd_num_points, seed=seed)


def _kpd(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return D.kpd(ref.efps, other.efps, cfg.kpd_num_batches, cfg.kpd_batch_size, seed=seed)


def _w1_multiplicity(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return D.w1(ref.multiplicity, other.multiplicity, **cfg.w1_kwargs(seed))


def _w1_occupancy(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return S.w1_occupancy(ref.active, other.active, ref.threshold, **cfg.w1_kwargs(seed))


def _w1_pixel_intensity(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return S.w1_pixel_intensity(ref.active, other.active, ref.threshold, **cfg.w1_kwargs(seed))


def _occupancy_map_diff(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return S.occupancy_map_difference(ref.active, other.active, ref.threshold, **cfg.w1_kwargs(seed))


def _zero_fraction(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    zero = other.zero_fraction  # of the compared sample alone; error: standard error over images
    return zero.mean(), zero.std() / math.sqrt(len(zero))


def _w1_tau21(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return D.w1(ref.tau21, other.tau21, **cfg.w1_kwargs(seed))


def _w1_tau32(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return D.w1(ref.tau32, other.tau32, **cfg.w1_kwargs(seed))


CLASSIFIER_JET_FEATURES = ("relative mass", "relative pT", "multiplicity", "tau21", "tau32")
"""The classifier's jet-level inputs, in the column order of `classifier_jet_features`."""


def classifier_jet_features(s: Sample) -> np.ndarray:
    """(N, 5) the classifier's jet-level inputs (`CLASSIFIER_JET_FEATURES`)."""
    return np.stack([s.mass, s.pt, s.jets.num_particles, s.tau21, s.tau32], axis=1)


def _classifier_auc(ref: Sample, other: Sample, cfg: EvalSettings, seed: int) -> Pair:
    return classifier_auc(ref.jets, other.jets, jet_features_real=classifier_jet_features(ref),
                          jet_features_gen=classifier_jet_features(other), max_jets=cfg.classifier_max_jets,
                          epochs=cfg.classifier_epochs, seed=seed)


# Registration order is the order of the JSON and of every table.
register(Metric("w1m", "W1M", _w1m, scale=1e3, needs=(KINEMATICS,),
                tags={"table", "demo", "periodic", "conditional", "convergence", "convergence_target_2.5",
                      "findings", "sparse_vs_dense_reference"}))
register(Metric("w1p", "W1P", _w1p, scale=1e3, components=tuple(f"w1p_{f}" for f in W1P_FEATURES),
                tags={"table", "demo", "conditional", "convergence", "convergence_target_2.5", "findings"}))
register(Metric("w1efp", "W1EFP", _w1efp, scale=1e5, needs=(EFPS,),
                tags={"table", "demo", "conditional", "convergence", "convergence_target_2.5"}))
register(Metric("fpd", "FPD", _fpd, scale=1e3, needs=(EFPS,), meaningful_jets=20_000,
                tags={"table", "demo", "conditional", "convergence", "convergence_target_5", "findings"}))
register(Metric("kpd", "KPD", _kpd, scale=1e3, needs=(EFPS,), meaningful_jets=20_000, tags={"table", "demo"}))
register(Metric("w1_multiplicity", "multiplicity W1", _w1_multiplicity, short="mult. W1",
                tags={"table", "demo", "conditional"}))
register(Metric("w1_occupancy", "occupancy W1", _w1_occupancy, scale=1e3, short="occ. W1", needs=(ACTIVE,),
                tags={"table", "periodic", "findings", "sparse_vs_dense"}))
register(Metric("w1_pixel_intensity", "pixel-spectrum W1", _w1_pixel_intensity, scale=1e3, needs=(ACTIVE,),
                tags={"table", "periodic", "findings", "sparse_vs_dense"}))
register(Metric("occupancy_map_diff", "occupancy-map difference", _occupancy_map_diff, scale=1e3,
                needs=(ACTIVE,)))
register(Metric("zero_fraction", "zero fraction", _zero_fraction, needs=(ZERO_FRACTION,)))
register(Metric("w1_tau21", "τ21 W1", _w1_tau21, scale=1e3, needs=(TAUS,),
                tags={"table", "demo", "conditional", "convergence", "convergence_target_5"}))
register(Metric("w1_tau32", "τ32 W1", _w1_tau32, scale=1e3, needs=(TAUS,), tags={"table", "demo"}))
register(Metric("classifier_auc", "classifier AUC", _classifier_auc, better="half", short="AUC",
                expensive=True, needs=(KINEMATICS, TAUS),
                tags={"table", "demo", "conditional", "convergence", "findings"}))
# computed by `evaluate` itself from JetNet's files (``fpnd_dir``); no error (JetNet defines none)
FPND = register(Metric("fpnd", "FPND", None))
