"""Refuse a request that cannot fit in memory before anything big is allocated.

A huge ``--num-jets`` otherwise fails deep inside torch or NumPy with an allocator traceback (or, worse,
swaps the machine to a halt). Callers pass a lower bound of what the request needs, so a refusal is never
wrong; requests that fit the bound may still run out of memory later.
"""

from __future__ import annotations

import os

from sparsegen.core.errors import SparsegenInputError


def memory_bytes() -> tuple[int | None, int | None]:
    """(available, total) bytes of RAM, None where the platform does not say.

    Available is the kernel's ``MemAvailable`` (free + reclaimable page cache) where /proc/meminfo exists,
    else the free pages of ``os.sysconf``.
    """
    total = available = None
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return available, total


def format_bytes(n: float) -> str:
    """1234567890 -> '1.2 GB' (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_memory(source: str, need: float, what: str) -> None:
    """Raise `SparsegenInputError` on ``source`` when ``need`` bytes (a lower bound for ``what``) exceed
    the memory available now; do nothing where the platform does not report its memory."""
    available, total = memory_bytes()
    if available is None or need <= available:
        return
    has = f"{format_bytes(available)} available" + (f" ({format_bytes(total)} in total)" if total else "")
    raise SparsegenInputError(source, f"{what} need at least {format_bytes(need)} of memory, "
                                      f"this machine has {has}")
