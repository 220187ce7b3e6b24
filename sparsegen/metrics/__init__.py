"""Distribution metrics for generated jets (JetNet definitions plus sparsity-aware ones).

Public API (imported lazily, so ``sparsegen.metrics.observables`` stays light for `Jets`)::

    evaluate(real, gen, ...) -> dict                  # the full report with truth floor
    efps(particles, mask=None, efpset="d<=4") -> (N, 36 | 5)
    w1m / w1p / w1efp / fpd / kpd(real, gen, ...) -> (value, error)
    w1_multiplicity / w1_occupancy / w1_pixel_intensity / w1_tau21 / w1_tau32 / occupancy_map_difference
    classifier_auc(real, gen, ...) -> (auc, error)
    nsubjettiness / tau_ratios / jet_mass / jet_pt / multiplicity
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "evaluate": "evaluate", "EvalSettings": "evaluate", "PUBLISHED": "evaluate", "QUICK": "evaluate",
    "METRIC_NAMES": "evaluate", "metrics_table": "evaluate", "write_json_atomic": "evaluate",
    "efps": "efp",
    "w1": "distances", "w1m": "distances", "w1p": "distances", "w1p_features": "distances", "w1efp": "distances",
    "w1efp_features": "distances", "fpd": "distances", "kpd": "distances", "frechet_distance": "distances",
    "mmd_poly_unbiased": "distances", "fpd_kpd_features": "distances",
    "w1_multiplicity": "sparsity", "w1_occupancy": "sparsity", "w1_pixel_intensity": "sparsity",
    "w1_tau21": "sparsity", "w1_tau32": "sparsity", "occupancy": "sparsity", "occupancy_map": "sparsity",
    "occupancy_map_difference": "sparsity", "zero_fraction": "sparsity",
    "classifier_auc": "classifier", "roc_auc": "classifier",
    "jet_kinematics": "observables", "jet_mass": "observables", "jet_pt": "observables",
    "multiplicity": "observables", "nsubjettiness": "observables", "tau_ratios": "observables",
}

__all__ = [
    "METRIC_NAMES",
    "PUBLISHED",
    "QUICK",
    "EvalSettings",
    "classifier_auc",
    "efps",
    "evaluate",
    "fpd",
    "fpd_kpd_features",
    "frechet_distance",
    "jet_kinematics",
    "jet_mass",
    "jet_pt",
    "kpd",
    "metrics_table",
    "mmd_poly_unbiased",
    "multiplicity",
    "nsubjettiness",
    "occupancy",
    "occupancy_map",
    "occupancy_map_difference",
    "roc_auc",
    "tau_ratios",
    "w1",
    "w1_multiplicity",
    "w1_occupancy",
    "w1_pixel_intensity",
    "w1_tau21",
    "w1_tau32",
    "w1efp",
    "w1efp_features",
    "w1m",
    "w1p",
    "w1p_features",
    "write_json_atomic",
    "zero_fraction",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"sparsegen.metrics.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'sparsegen.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
