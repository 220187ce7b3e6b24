"""The metric registry: every metric defined once, and everything that reads metrics selects from here.

A `Metric` is a result key (``name``, the key of ``evaluate``'s JSON and of ``val/<name>`` in training), how
it is shown (``label``, table ``scale``), which direction is better (``"lower"``, or ``"half"``: closer to
0.5, the classifier AUC), and a ``compute(ref, other, settings, seed)`` of two prepared samples
(`sparsegen.metrics.samples.Sample`) returning ``(value, error)``. Consumers (``evaluate``, the report,
``PeriodicMetrics``, the demo, the studies) select metrics by name or by tag and never spell a key; the
tags naming each consumer's selection are set on the built-in definitions
(:mod:`sparsegen.metrics.definitions`, where a new metric is added: docs/metrics.md "Adding a metric").

``register`` / ``unregister`` (or ``temporarily``) add and remove metrics at run time (tests register a
metric of their own); registration order is the order of every selection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparsegen.core.errors import SparsegenInputError

if TYPE_CHECKING:
    from sparsegen.metrics.samples import Sample

REPRESENTATIONS = ("points", "images")
DIRECTIONS = ("lower", "half")


@dataclass(frozen=True)
class EvalSettings:
    """Sample sizes of every metric (see :mod:`sparsegen.metrics.distances` for their meaning).

    ``max_jets``: jets per sample compared (JetNet: 50 000), capped by the inputs.
    """

    max_jets: int = 50_000
    num_eval_samples: int = 50_000
    num_batches: int = 5
    fpd_min_samples: int = 20_000
    fpd_max_samples: int = 50_000
    fpd_num_batches: int = 20
    fpd_num_points: int = 10
    kpd_num_batches: int = 10
    kpd_batch_size: int = 5_000
    classifier_max_jets: int = 50_000
    classifier_epochs: int = 20

    def w1_kwargs(self, seed: int) -> dict[str, int]:
        """The resampling arguments of every W1 function."""
        return {"num_eval_samples": self.num_eval_samples, "num_batches": self.num_batches, "seed": seed}


PUBLISHED = EvalSettings()
QUICK = EvalSettings(max_jets=10_000, num_eval_samples=10_000, num_batches=5, fpd_min_samples=5_000,
                     fpd_max_samples=10_000, fpd_num_batches=10, fpd_num_points=5, kpd_num_batches=10,
                     kpd_batch_size=1_000, classifier_max_jets=5_000, classifier_epochs=10)


def periodic_settings(num_jets: int) -> EvalSettings:
    """The cheap settings of training-time monitoring (`PeriodicMetrics`): one W1 batch of all ``num_jets``
    jets, FPD on at most 1 000 jets with 5 sizes × 5 draws (values only: errors of one batch mean nothing)."""
    fpd_max = min(num_jets, 1000)
    return EvalSettings(max_jets=num_jets, num_eval_samples=num_jets, num_batches=1,
                        fpd_min_samples=fpd_max // 2,
                        fpd_max_samples=fpd_max, fpd_num_batches=5, fpd_num_points=5)


Pair = tuple[float, float]
Compute = Callable[["Sample", "Sample", EvalSettings, int], "Pair | Mapping[str, Pair]"]


@dataclass(frozen=True)
class Metric:
    """One metric.

    ``compute(ref, other, settings, seed)``: ``ref`` is the real sample; returns ``(value, error)``, or a
    mapping ``{key: (value, error)}`` of ``name`` and the keys in ``components`` (per-feature entries computed
    on the same draws). ``compute=None``: a metric ``evaluate`` adds itself when asked (FPND, which needs
    JetNet's files). ``needs``: the `Sample` features it reads, computed once per sample before any metric
    runs. ``expensive``: runs as its own task per row beside the others (the classifier training).
    ``meaningful_jets``: jets per sample below which the metric cannot separate close distributions
    (``evaluate`` warns). ``short``: a shorter label for wide tables.
    """

    name: str
    label: str
    compute: Compute | None
    scale: float = 1.0
    better: str = "lower"
    representations: tuple[str, ...] = REPRESENTATIONS
    tags: frozenset[str] = field(default_factory=frozenset)
    needs: tuple[Any, ...] = ()
    components: tuple[str, ...] = ()
    expensive: bool = False
    meaningful_jets: int = 0
    short: str | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise SparsegenInputError("metric", f"name must be an identifier, got {self.name!r}")
        if self.better not in DIRECTIONS:
            raise SparsegenInputError(f"metric {self.name}", f"better must be one of {DIRECTIONS}, "
                                                             f"got {self.better!r}")
        unknown = set(self.representations) - set(REPRESENTATIONS)
        if unknown:
            raise SparsegenInputError(f"metric {self.name}", f"unknown representations {sorted(unknown)}; "
                                                             f"use {REPRESENTATIONS}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise SparsegenInputError(f"metric {self.name}", f"scale must be > 0, got {self.scale}")
        object.__setattr__(self, "tags", frozenset((self.tags,) if isinstance(self.tags, str) else self.tags))
        object.__setattr__(self, "representations", tuple(self.representations))

    @property
    def keys(self) -> tuple[str, ...]:
        """The result keys it writes: its name, then its components."""
        return (self.name, *self.components)


_METRICS: dict[str, Metric] = {}


def _registry() -> dict[str, Metric]:
    from sparsegen.metrics import definitions  # noqa: F401  (the built-in metrics register on import)

    return _METRICS


def register(metric: Metric) -> Metric:
    """Add a metric (after the registered ones); a result key that is already taken is refused."""
    taken = {k for m in _registry().values() for k in m.keys}
    clash = [k for k in metric.keys if k in taken]
    if clash or len(set(metric.keys)) != len(metric.keys):
        raise SparsegenInputError(f"metric {metric.name}", f"result key {clash or list(metric.keys)} "
                                                           "is already registered")
    _METRICS[metric.name] = metric
    return metric


def unregister(name: str) -> Metric:
    """Remove a registered metric; returns it."""
    get(name)
    return _METRICS.pop(name)


@contextmanager
def temporarily(metric: Metric) -> Iterator[Metric]:
    """``with temporarily(metric):`` the metric is registered inside the block only."""
    register(metric)
    try:
        yield metric
    finally:
        unregister(metric.name)


def get(name: str) -> Metric:
    """The registered metric of this name (one error line naming the known ones otherwise)."""
    metrics = _registry()
    if name not in metrics:
        raise SparsegenInputError("metric", f"unknown metric {name!r}; known: {', '.join(metrics)}")
    return metrics[name]


def select(names: Iterable[str] | None = None, tag: str | None = None,
           representation: str | None = None, computed: bool | None = None) -> tuple[Metric, ...]:
    """Registered metrics, in registration order: those named (unknown names are refused), with ``tag``,
    applying to ``representation`` (``"points"`` / ``"images"``), and (``computed``) with or without a
    ``compute``; every filter given must hold."""
    if representation is not None and representation not in REPRESENTATIONS:
        raise SparsegenInputError("representation",
                                  f"must be one of {REPRESENTATIONS}, got {representation!r}")
    wanted = None if names is None else {get(n).name for n in ([names] if isinstance(names, str) else names)}
    return tuple(m for m in _registry().values()
                 if (wanted is None or m.name in wanted) and (tag is None or tag in m.tags)
                 and (representation is None or representation in m.representations)
                 and (computed is None or (m.compute is not None) == computed))


def names(**filters: Any) -> tuple[str, ...]:
    """The names of ``select(**filters)``."""
    return tuple(m.name for m in select(**filters))


def result_keys(metrics: Iterable[Metric] | None = None) -> tuple[str, ...]:
    """Every result key of these metrics (default: all registered), components after their metric."""
    return tuple(k for m in (select() if metrics is None else metrics) for k in m.keys)


def owner(key: str) -> Metric | None:
    """The metric that writes this result key (a component's metric), None for a key no metric writes."""
    return next((m for m in _registry().values() if key in m.keys), None)


def badness(entry: Mapping[str, Any] | None, metric: Metric, sigmas: float = 0.0) -> float | None:
    """What ranks results of one metric, lower is better: the value (``"half"``: its distance from 0.5),
    plus ``sigmas`` times the error (1σ keeps an unstable estimate from winning); None without a value."""
    value = (entry or {}).get("value")
    if value is None:
        return None
    base = abs(value - 0.5) if metric.better == "half" else value
    return base + sigmas * ((entry or {}).get("error") or 0.0)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def column_label(metric: Metric, short: bool = False) -> str:
    """The column heading of a table of scaled values: ``"W1M ×10³"`` for scale 1e3 (``short``: the short
    label if the metric has one)."""
    label = (metric.short or metric.label) if short else metric.label
    if metric.scale == 1:
        return label
    exponent = math.log10(metric.scale)
    if exponent == round(exponent):
        return f"{label} ×10{str(int(round(exponent))).translate(_SUPERSCRIPT)}"
    return f"{label} ×{metric.scale:g}"


def columns(tag: str | None = None, short: bool = True, **filters: Any) -> tuple[tuple[str, str, float], ...]:
    """``(name, column_label, scale)`` of every selected metric: the columns of a table of scaled values."""
    return tuple((m.name, column_label(m, short), m.scale) for m in select(tag=tag, **filters))


def ratio_to_floor(result: Mapping[str, Any], metric: Metric) -> float | None:
    """Generated-vs-real value over its truth floor in an ``evaluate`` result: how far from a perfect
    generator. None when either is missing, the floor is 0, or the metric is not a distance (``"half"``)."""
    if metric.better != "lower":
        return None
    value = (result.get(metric.name) or {}).get("value")
    floor = ((result.get("truth_floor") or {}).get(metric.name) or {}).get("value")
    if value is None or not floor:
        return None
    return value / floor


__all__ = [
    "PUBLISHED",
    "QUICK",
    "EvalSettings",
    "Metric",
    "badness",
    "column_label",
    "columns",
    "get",
    "names",
    "owner",
    "periodic_settings",
    "ratio_to_floor",
    "register",
    "result_keys",
    "select",
    "temporarily",
    "unregister",
]
