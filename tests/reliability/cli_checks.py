"""Shared assertions of the bad-command-line tests: one line on stderr, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path


def error_line(stderr: str) -> str:
    """The one ``sparsegen: error:`` line that bad input must print (and nothing else, no traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sparsegen: error:") and "Traceback" not in lines[0], lines
    return lines[0]


def listing(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its content (None for folders): compared before/after a refusal."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}
