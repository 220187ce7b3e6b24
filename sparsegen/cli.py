"""The ``sparsegen`` command.

``sparsegen data …`` (generate / merge / info), ``sparsegen evaluate …`` and ``sparsegen sample …`` and ``sparsegen study …`` are
handled here; every other subcommand (``fit``, ``validate``, ``test``, ``predict``) goes to LightningCLI.
Bad input raises :class:`~sparsegen.errors.SparsegenInputError`, printed as one line on stderr with exit
status 2 (``--debug`` anywhere on the command line shows the traceback instead).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from sparsegen.errors import SparsegenInputError

# subcommand -> "module:function" taking argv (list[str]) and returning an exit status
SUBCOMMANDS: dict[str, str] = {
    "data": "sparsegen.data.cli:main",
    "evaluate": "sparsegen.metrics.evaluate:cli_main",
    "sample": "sparsegen.sampling:cli_main",
    "study": "sparsegen.studies.cli:main",
}
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _resolve(target: str) -> Callable[[list[str]], int]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def main(args: Sequence[str] | None = None) -> int:
    """Entry point; returns (and, as a console script, exits with) the status code."""
    argv = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: sparsegen {data,evaluate,sample,study,fit,validate,test,predict} ...\n"
            "  data generate|merge|info   make or inspect JetNet-layout HDF5 files\n"
            "  evaluate                   score generated jets against real ones\n"
            "  sample                     sample jets from a checkpoint\n"
            "  study NAME [--quick]       comparison studies -> docs/results.md\n"
            "  fit|validate|test|predict  LightningCLI (--config configs/....yaml)"
        )
        return 0 if argv else 2
    command = argv[0]
    try:
        if command in SUBCOMMANDS:
            status = _resolve(SUBCOMMANDS[command])(argv[1:])
        elif command in LIGHTNING_SUBCOMMANDS:
            status = _resolve("sparsegen.lightning_cli:run")(argv)
        else:
            raise SparsegenInputError("sparsegen", f"unknown subcommand '{command}' (see sparsegen --help)")
    except SparsegenInputError as exc:
        if debug:
            raise
        print(f"sparsegen: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        message = getattr(exc, "message", None)
        if message is None or debug:
            raise
        print(f"sparsegen: error: config: {message}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        if debug:
            raise
        print(f"sparsegen: error: {exc}; the last good checkpoint is kept", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("sparsegen: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def console() -> None:
    """Console-script wrapper: exit with main()'s status."""
    sys.exit(main())


if __name__ == "__main__":
    console()
