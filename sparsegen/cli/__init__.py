"""The ``sparsegen`` command line: one argument parser for every subcommand (`sparsegen.cli.main`).

Each subcommand module (``data``, ``sample``, ``evaluate``, ``study``) defines ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; ``demo`` comes from `sparsegen.demo` (which
``python -m sparsegen.demo`` also runs); ``fit | validate | test | predict`` go to LightningCLI
(`sparsegen.models.training`).
"""

from sparsegen.cli.main import console, main

__all__ = ["console", "main"]
