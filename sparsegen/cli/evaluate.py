"""``sparsegen evaluate --real R.h5 --gen G.h5 [--out metrics.json] [--plots DIR] [--overwrite]
[--num-jets N] [--seed S] [--quick] [--fpnd DIR] [--metrics NAME ...]``: print the metrics table, write the
JSON and the plots. The metrics are those of the registry (`sparsegen.metrics.registry`; ``--metrics``
picks some by name).
When the real file holds several classes, each class is also scored on its own (with its own truth floor):
JSON key ``by_class``, one table; FPND (``--fpnd``) is then computed per class. The outputs are checked
before any scoring (`check_output`): an existing JSON, or PNGs already in ``--plots``, only with
``--overwrite``."""

from __future__ import annotations

import argparse
import sys
import warnings

from sparsegen.core.errors import SparsegenInputError, number
from sparsegen.core.io import check_output, check_output_folder

HELP = "score generated jets against real ones"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--real", required=True, help="real jets, JetNet-layout HDF5")
    parser.add_argument("--gen", required=True, help="generated jets, JetNet-layout HDF5 (optional 'images')")
    parser.add_argument("--out", default=None,
                        help="metrics JSON path (written atomically; an existing file only with --overwrite)")
    parser.add_argument("--plots", default=None,
                        help="folder for comparison PNGs (one that already holds PNGs only with --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file and the PNGs in --plots")
    parser.add_argument("--num-jets", type=number(int, low=1), default=None,
                        help="N generated jets vs N real jets, truth floor from another N real "
                             "(default: JetNet's 50 000, capped by the files)")
    parser.add_argument("--seed", type=number(int, low=0), default=0)
    parser.add_argument("--quick", action="store_true", help="smaller sample sizes (not for publication)")
    parser.add_argument("--no-classifier", action="store_true", help="skip the classifier two-sample test")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                        help="compute only these metrics (names of sparsegen.metrics.registry; default: all)")
    parser.add_argument("--fpnd", default=None, metavar="DIR",
                        help="also FPND against real JetNet jets of the real file's class "
                             "(g/q/t, 30 particles); "
                             "DIR = jetnet/evaluation/fpnd_resources of the unzipped jetnet wheel")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sparsegen.core.jets import Jets
    from sparsegen.metrics.evaluation import MIN_JETS, PUBLISHED, QUICK, SmallSampleWarning, evaluate_by_class
    from sparsegen.metrics.registry import select
    from sparsegen.metrics.report import class_table, metrics_table, write_metrics

    if args.metrics is not None:
        select(args.metrics)  # an unknown name is one error line, before any work

    if args.num_jets is not None and args.num_jets < MIN_JETS:
        raise SparsegenInputError("--num-jets", f"must be at least {MIN_JETS}, got {args.num_jets}")
    if args.out is not None:
        check_output(args.out, overwrite=args.overwrite)
    if args.plots is not None:
        check_output_folder(args.plots, "--plots", overwrite=args.overwrite)
    real = Jets.load(args.real)
    gen = Jets.load(args.gen)
    if len(real) < 2 * MIN_JETS:
        raise SparsegenInputError(args.real, f"has {len(real)} jets; "
                                  f"evaluation needs at least {2 * MIN_JETS} real jets")
    if len(gen) < MIN_JETS:
        raise SparsegenInputError(args.gen, f"has {len(gen)} jets; evaluation needs at least {MIN_JETS}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SmallSampleWarning)
        metrics = evaluate_by_class(real, gen, num_jets=args.num_jets, seed=args.seed, quick=args.quick,
                                    classifier=not args.no_classifier, progress=True, plots_dir=args.plots,
                                    fpnd_dir=args.fpnd, metrics=args.metrics)
    for message in dict.fromkeys(str(w.message) for w in caught
                                 if issubclass(w.category, SmallSampleWarning)):
        print(f"sparsegen evaluate: warning: {message}", file=sys.stderr)
    if args.out is not None:  # before the tables: a reader that closes stdout early loses no metrics
        write_metrics(args.out, metrics)
    n = min(len(real) // 2, len(gen), args.num_jets or (QUICK if args.quick else PUBLISHED).max_jets)
    console = Console()
    console.on_broken_pipe = _broken_pipe  # type: ignore[method-assign]
    console.print(metrics_table(metrics, title=f"sparsegen evaluate: {n} jets per sample, seed {args.seed}"
                                               f"{', quick' if args.quick else ''}"))
    if "by_class" in metrics:
        console.print(class_table(metrics, title="by class: generated vs real (truth floor)"))
    return 0


def _broken_pipe() -> None:
    """rich exits 1 on a closed stdout pipe; re-raised, the command ends as everywhere (`console`: 141)."""
    raise BrokenPipeError
