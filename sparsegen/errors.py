"""Errors that the CLI turns into one line on stderr and exit status 2."""

from __future__ import annotations


class SparsegenInputError(ValueError):
    """Bad input (file, array, argument or config): the message names the input and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")
