"""The generative study's image recipes across jet classes: do they hold beyond the classes they were tuned
on?

A generative run's record (``OUT/[npixN/]CLASS/CONFIG/result.json``) holds the occupancy ratio and every
metric with its floor. For the classes of one study section — plus the gluon runs of the same output folder
when they are finished, the reference the recipes were tuned on — `summary` writes one table: per config and
class, the generated/real occupancy and W1M as a multiple of its floor, and findings computed from it: the
configs whose occupancy leaves ``OCCUPANCY_BAND`` of the real one, and each family's best W1M ratio per class
against its gluon value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparsegen.core.defaults import JET_CLASS_NAMES
from sparsegen.metrics.registry import get, ratio_to_floor

TUNED = ("g", "t")
"""The classes the image recipes were tuned on (the generative study's default): a run on none of them is
the recipes' check on the others and has its own section."""

REFERENCE = "g"
"""The tuned class every other class's ratios are compared to."""

OCCUPANCY_BAND = (0.5, 2.0)
"""Generated/real mean occupancy a recipe that holds stays inside."""

FAMILIES = {"gan": "GAN", "vae": "VAE"}


def _read(folder: Path) -> dict[str, Any] | None:
    path = folder / "result.json"
    return json.loads(path.read_text()) if path.exists() else None


def _w1m_ratio(r: dict[str, Any]) -> float | None:
    return ratio_to_floor(r["metrics"], get("w1m"))


def _occupancy(r: dict[str, Any]) -> float | None:
    return (r["metrics"].get("occupancy_ratio") or {}).get("value")


def summary(root: Path, types: Sequence[str], configs: Sequence[str]) -> str:
    """The by-class table and findings (empty when fewer than two classes have runs); ``root``: the folder
    holding ``CLASS/CONFIG`` runs."""
    shown = ([REFERENCE] if REFERENCE not in types else []) + list(types)
    runs = {(t, c): r for t in shown for c in configs if (r := _read(root / t / c)) is not None}
    shown = [t for t in shown if any((t, c) in runs for c in configs)]
    if len(shown) < 2:
        return ""
    names = {t: JET_CLASS_NAMES.get(t, t) for t in shown}
    header = ["config", *[f"{names[t]}: occupancy gen/real" for t in shown],
              *[f"{names[t]}: W1M ÷ floor" for t in shown]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for c in configs:
        occ = [_fmt(_occupancy(runs[t, c])) if (t, c) in runs else "—" for t in shown]
        w1m = [_fmt(_w1m_ratio(runs[t, c])) if (t, c) in runs else "—" for t in shown]
        lines.append("| " + " | ".join([f"`{c}`", *occ, *w1m]) + " |")
    found = "; ".join(findings(runs, shown, configs))
    return "\n".join(lines) + f"\n\nFindings (computed from the table): {found}.\n"


def findings(runs: dict[tuple[str, str], dict[str, Any]], types: Sequence[str],
             configs: Sequence[str]) -> list[str]:
    lo, hi = OCCUPANCY_BAND
    out = []
    outside = [f"`{c}` on {JET_CLASS_NAMES.get(t, t)} ({occ:.2f})" for t in types if t != REFERENCE
               for c in configs if (t, c) in runs and (occ := _occupancy(runs[t, c])) is not None
               and not lo <= occ <= hi]
    out.append(f"occupancy outside {lo:g}–{hi:g}× the real one: " + (", ".join(outside) or "none"))
    for family, label in FAMILIES.items():
        best = {}
        for t in types:
            scored = [(ratio, c) for c in configs if (t, c) in runs
                      and runs[t, c].get("parts", {}).get("kind") == family
                      and (ratio := _w1m_ratio(runs[t, c])) is not None]
            if scored:
                best[t] = min(scored)
        if REFERENCE not in best:
            continue
        ref = best[REFERENCE][0]
        for t in types:
            if t != REFERENCE and t in best:
                ratio, c = best[t]
                out.append(f"best {label} W1M on {JET_CLASS_NAMES.get(t, t)}: `{c}` {ratio:.1f}× the floor, "
                           f"{ratio / ref:.1f}× its {JET_CLASS_NAMES[REFERENCE]} value ({ref:.1f}×, "
                           f"`{best[REFERENCE][1]}`)")
    return out


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}" if x < 10 else f"{x:.0f}"
