"""Errors that the CLI turns into one line on stderr and exit status 2, and the parser that raises them."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


class SparsegenInputError(ValueError):
    """Bad input (file, array, argument or config): the message names the input and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # raised in worker processes (data generation): unpickling must call __init__ with both arguments
        return type(self), (self.source, self.problem)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises `SparsegenInputError` (one line, exit 2) instead of printing usage and exiting.

    Every sparsegen command line (``sparsegen ...`` and ``python -m sparsegen.demo``) is built from it.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SparsegenInputError(self.prog, message)


def number(kind: type = float, *, low: float | None = None,
           above: float | None = None) -> Callable[[str], int | float]:
    """argparse ``type=`` for every numeric option: a finite ``kind`` (int or float), ``>= low`` and/or
    ``> above`` when given.

    Plain ``type=float`` accepts 'nan' and 'inf', which pass every ``<`` check and only fail far from the
    option, after the work (sampling, training) has run; this refuses them while parsing, as one line.
    """

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            expected = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {expected}, got '{text}'") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got '{text}'")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low:g}, got {text}")
        if above is not None and not value > above:
            bound = "positive (> 0)" if above == 0 else f"> {above:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse
