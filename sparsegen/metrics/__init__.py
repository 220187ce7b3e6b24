"""Distribution metrics for generated jets: the JetNet definitions plus sparsity-aware ones.

Every metric takes two samples (`Jets`, or arrays with a mask) and returns ``(value, error)``;
`evaluate` computes them all next to the real-vs-real truth floor (`sparsegen.metrics.evaluation`),
`sparsegen.metrics.report` formats and writes the result. The metrics `evaluate`, training and the
reports know are those of the registry (`sparsegen.metrics.registry`; built-ins in
`sparsegen.metrics.definitions`).

The names below are re-exported explicitly (``import x as x``); ``__all__`` is every public one of them.
"""

from types import ModuleType as _ModuleType

from sparsegen.metrics.classifier import classifier_auc as classifier_auc
from sparsegen.metrics.classifier import roc_auc as roc_auc
from sparsegen.metrics.distances import fpd as fpd
from sparsegen.metrics.distances import fpd_kpd_features as fpd_kpd_features
from sparsegen.metrics.distances import frechet_distance as frechet_distance
from sparsegen.metrics.distances import kpd as kpd
from sparsegen.metrics.distances import mmd_poly_unbiased as mmd_poly_unbiased
from sparsegen.metrics.distances import w1 as w1
from sparsegen.metrics.distances import w1efp as w1efp
from sparsegen.metrics.distances import w1efp_features as w1efp_features
from sparsegen.metrics.distances import w1m as w1m
from sparsegen.metrics.distances import w1p as w1p
from sparsegen.metrics.distances import w1p_features as w1p_features
from sparsegen.metrics.efp import efps as efps
from sparsegen.metrics.evaluation import METRIC_NAMES as METRIC_NAMES
from sparsegen.metrics.evaluation import evaluate as evaluate
from sparsegen.metrics.registry import PUBLISHED as PUBLISHED
from sparsegen.metrics.registry import QUICK as QUICK
from sparsegen.metrics.registry import EvalSettings as EvalSettings
from sparsegen.metrics.registry import Metric as Metric
from sparsegen.metrics.samples import Sample as Sample
from sparsegen.metrics.samples import pixel_readout as pixel_readout
from sparsegen.metrics.sparsity import occupancy as occupancy
from sparsegen.metrics.sparsity import occupancy_map as occupancy_map
from sparsegen.metrics.sparsity import occupancy_map_difference as occupancy_map_difference
from sparsegen.metrics.sparsity import w1_multiplicity as w1_multiplicity
from sparsegen.metrics.sparsity import w1_occupancy as w1_occupancy
from sparsegen.metrics.sparsity import w1_pixel_intensity as w1_pixel_intensity
from sparsegen.metrics.sparsity import w1_tau21 as w1_tau21
from sparsegen.metrics.sparsity import w1_tau32 as w1_tau32
from sparsegen.metrics.sparsity import zero_fraction as zero_fraction

__all__ = sorted(name for name, value in globals().items()
                 if not name.startswith("_") and not isinstance(value, _ModuleType))
