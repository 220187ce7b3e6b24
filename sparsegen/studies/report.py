"""Markdown tables and the ``docs/results.md`` sections the studies write.

Each study owns its sections of the results file (the generative study one per family), each between
``<!-- BEGIN study:NAME -->`` and ``<!-- END study:NAME -->``; running a study replaces its own sections
only (atomically: temp file, then rename), so the studies can be rerun independently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sparsegen.core.io import write_json, write_text
from sparsegen.metrics.report import format_entry

__all__ = ["fmt", "markdown_table", "parse_table", "update_section", "write_json"]

HEADER = """# sparsegen results

Reproducible answers to "which method works for sparse data, and by how much". Every section below is
written by a committed command (`sparsegen study …`, stated in the section with its budget and seed);
rerunning a study replaces its own section and plots (`docs/results/`).
"""


def fmt(entry: dict | float | None, scale: float = 1.0) -> str:
    """``value ± error`` of a metrics entry (or a bare number), scaled, 3 significant digits."""
    return format_entry(entry, scale, digits=3)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table (cells are str()-ed)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def parse_table(text: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the first markdown table in ``text`` (the inverse of `markdown_table`)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    if len(lines) < 2:
        raise ValueError("no markdown table found")
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return cells[0], cells[2:]


def update_section(results_md: str | os.PathLike, name: str, body: str, order: Sequence[str]) -> None:
    """Replace (or add) the section of study ``name`` in ``results_md``; sections follow ``order`` (the
    studies': `sparsegen.studies.harness.SECTIONS`)."""
    path = Path(results_md)
    text = path.read_text() if path.exists() else HEADER
    begin, end = f"<!-- BEGIN study:{name} -->", f"<!-- END study:{name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        # a study's section at another grid or on other classes (``NAME_…``) follows the study's own
        base = max((o for o in order if name.startswith(o + "_")), key=len, default=name)
        later = (
            [o for o in order[order.index(base) + 1 :] if f"<!-- BEGIN study:{o} -->" in text]
            if base in order
            else []
        )
        if later:
            marker = f"<!-- BEGIN study:{later[0]} -->"
            head, rest = text.split(marker, 1)
            text = head + block + "\n\n" + marker + rest
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    write_text(path, text)


def section(text: str, name: str) -> str:
    """The body of study ``name``'s section in a results file's text."""
    begin, end = f"<!-- BEGIN study:{name} -->", f"<!-- END study:{name} -->"
    if begin not in text or end not in text:
        raise KeyError(f"no section for study '{name}'")
    return text.split(begin, 1)[1].split(end, 1)[0].strip()
