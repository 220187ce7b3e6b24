"""Errors that the CLI turns into one line on stderr and exit status 2, and the parser that raises them."""

from __future__ import annotations

import argparse


class SparsegenInputError(ValueError):
    """Bad input (file, array, argument or config): the message names the input and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises `SparsegenInputError` (one line, exit 2) instead of printing usage and exiting.

    Every sparsegen command line (``sparsegen ...`` and ``python -m sparsegen.demo``) is built from it.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SparsegenInputError(self.prog, message)
