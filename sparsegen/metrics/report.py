"""Presenting a metrics dict: ``value ± error`` strings, the rich table, the JSON file.

The metrics dict itself (``{name: {"value", "error"}, ..., "truth_floor": {...}}``) is computed by
`sparsegen.metrics.evaluation.evaluate`; this module only formats and writes it. Rows follow the metric
registry (`sparsegen.metrics.registry`): the headline metrics (tag ``table``) first, then every other
result key (components, extras), in registration order.
"""

from __future__ import annotations

import math
import os
from typing import Any

from sparsegen.core.io import write_json
from sparsegen.metrics import registry


def report_keys() -> tuple[str, ...]:
    """The result keys of the report's rows: the headline metrics, then every other registered key."""
    headline = registry.names(tag="table")
    return headline + tuple(k for k in registry.result_keys() if k not in headline)


def format_entry(entry: dict | float | None, scale: float = 1.0, digits: int = 4) -> str:
    """``value ± error`` of a metrics entry (or a bare number), scaled; ``-`` when missing or not finite."""
    if entry is None:
        return "-"
    if not isinstance(entry, dict):
        return "-" if not math.isfinite(float(entry)) else f"{float(entry) * scale:.{digits}g}"
    if entry.get("value") is None:
        return "-"
    v, e = entry["value"] * scale, entry.get("error")
    return f"{v:.{digits}g} ± {e * scale:.2g}" if e is not None else f"{v:.{digits}g}"


def metrics_table(metrics: dict[str, Any], title: str = "sparsegen evaluate") -> Any:
    """A rich Table: metric, generated vs real, truth floor (real vs real)."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("generated vs real", justify="right")
    table.add_column("truth floor (real vs real)", justify="right")
    floor = metrics.get("truth_floor", {})
    for name in report_keys():
        if name in metrics:
            table.add_row(name, format_entry(metrics[name]), format_entry(floor.get(name)))
    return table


def class_table(metrics: dict[str, Any], title: str = "by class") -> Any:
    """A rich Table of a multi-class result: metric × (combined, each class), "generated (floor)" per cell."""
    from rich.table import Table

    columns = {"combined": metrics, **metrics.get("by_class", {})}
    table = Table(title=title)
    table.add_column("metric")
    for name in columns:
        table.add_column(f"{name}: generated (floor)", justify="right")
    for metric in registry.names(tag="table"):
        if metric in metrics:
            cells = [
                f"{format_entry(m.get(metric), digits=3)} "
                f"({format_entry(m.get('truth_floor', {}).get(metric), digits=2)})"
                for m in columns.values()
            ]
            table.add_row(metric, *cells)
    return table


def write_metrics(path: str | os.PathLike, metrics: dict[str, Any]) -> None:
    """The metrics JSON, written atomically."""
    write_json(path, metrics)
