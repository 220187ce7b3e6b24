"""The ``sparsegen`` command: one parser for ``data``, ``sample``, ``evaluate``, ``study`` and ``demo``.

``fit | validate | test | predict`` go to LightningCLI (`sparsegen.models.training`), which parses configs.
Bad input raises :class:`~sparsegen.core.errors.SparsegenInputError`, printed as one line on stderr with
exit status 2 (``--debug`` anywhere on the command line shows the traceback instead); a diverging training
run exits 3; Ctrl-C exits 130; a closed stdout pipe (``| head``) exits 141 quietly.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence

from sparsegen import __version__, demo
from sparsegen.cli import data, evaluate, sample, study
from sparsegen.core.errors import ArgumentParser, SparsegenInputError

SUBCOMMANDS = {"data": data, "sample": sample, "evaluate": evaluate, "study": study, "demo": demo}
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def build_parser() -> ArgumentParser:
    """The parser of every non-Lightning subcommand."""
    parser = ArgumentParser(prog="sparsegen", description="Sparse deep generative modeling of jets.",
                            epilog="fit|validate|test|predict --config FILE|NAME: LightningCLI")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for name, module in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def _usage() -> str:
    lines = ["usage: sparsegen [--version] {" + ",".join([*SUBCOMMANDS, *LIGHTNING_SUBCOMMANDS]) + "} ..."]
    lines += [f"  {name:<26} {module.HELP}" for name, module in SUBCOMMANDS.items()]
    lines.append(f"  {'fit|validate|test|predict':<26} LightningCLI (--config FILE, or the name of a shipped "
                 "config such as points/flow_matching)")
    return "\n".join(lines)


def _dispatch(argv: list[str]) -> int:
    if argv[0] in LIGHTNING_SUBCOMMANDS:
        from sparsegen.models.training import run_lightning

        return int(run_lightning(argv) or 0)
    if argv[0] not in SUBCOMMANDS:
        raise SparsegenInputError("sparsegen", f"unknown subcommand '{argv[0]}' (see sparsegen --help)")
    parsed = build_parser().parse_args(argv)
    return int(parsed.run(parsed) or 0)


def main(args: Sequence[str] | None = None) -> int:
    """Entry point; returns (and, as a console script, exits with) the status code."""
    argv = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(f"sparsegen {__version__}")
        return 0
    try:
        with warnings.catch_warnings():
            # LightningCLI warns when given arguments while sys.argv holds others; ours are this command
            # line with each --config resolved (a name made a path, shared blocks merged in: core.compose),
            # or the arguments of a `fit` the demo or a study runs
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            return _dispatch(argv)
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


SIGPIPE_STATUS = 128 + 13
"""Exit status after the reader of stdout went away (``sparsegen data info f.h5 | head -1``): the status of
a process killed by SIGPIPE, what ``cat`` or ``grep`` report there too. Not 0 — the output was cut short,
and ``set -o pipefail`` scripts should see that as they do for any other tool; plain pipes report the last
command's status (``head``'s 0), so nothing changes for interactive use."""


def console() -> None:
    """Console-script wrapper: exit with main()'s status; a closed stdout pipe ends quietly."""
    try:
        status = main()
        sys.stdout.flush()  # inside the try: a pipe closed early fails here, not in the interpreter's exit
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull so the flush at exit does not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = SIGPIPE_STATUS
    sys.exit(status)
