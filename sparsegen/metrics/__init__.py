"""Distribution metrics for generated jets: the JetNet definitions plus sparsity-aware ones.

Every metric takes two samples (`Jets`, or arrays with a mask) and returns ``(value, error)``;
`evaluate` computes them all next to the real-vs-real truth floor (`sparsegen.metrics.evaluation`),
`sparsegen.metrics.report` formats and writes the result.
"""

from sparsegen.metrics.classifier import classifier_auc, roc_auc
from sparsegen.metrics.distances import (
    fpd,
    fpd_kpd_features,
    frechet_distance,
    kpd,
    mmd_poly_unbiased,
    w1,
    w1efp,
    w1efp_features,
    w1m,
    w1p,
    w1p_features,
)
from sparsegen.metrics.efp import efps
from sparsegen.metrics.evaluation import METRIC_NAMES, PUBLISHED, QUICK, EvalSettings, evaluate
from sparsegen.metrics.sparsity import (
    occupancy,
    occupancy_map,
    occupancy_map_difference,
    w1_multiplicity,
    w1_occupancy,
    w1_pixel_intensity,
    w1_tau21,
    w1_tau32,
    zero_fraction,
)

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
    "kpd",
    "mmd_poly_unbiased",
    "occupancy",
    "occupancy_map",
    "occupancy_map_difference",
    "roc_auc",
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
    "zero_fraction",
]
