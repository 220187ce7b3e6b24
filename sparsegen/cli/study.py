"""``sparsegen study generative|sparse-input|sparse-coding|conditional|convergence [--quick] …``: run a
study, update the results file."""

from __future__ import annotations

import argparse

from sparsegen.core.defaults import JET_TYPES
from sparsegen.core.errors import ArgumentParser, SparsegenInputError, number

HELP = "comparison studies -> docs/results.md"
COUNT = number(int, above=0)
MINUTES = number(float, above=0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="study", required=True, parser_class=ArgumentParser)
    common = ArgumentParser(add_help=False)
    common.add_argument(
        "--quick", action="store_true", help="test scale (seconds): tiny data, one short epoch"
    )
    common.add_argument("--seed", type=number(int, low=0), default=0)
    common.add_argument(
        "--results", default=None, help="results file (default docs/results.md; --quick: OUT/results.md)"
    )
    common.add_argument("--threads", type=COUNT, default=1, help="torch threads per run")
    common.add_argument("--no-progress", action="store_true")

    g = sub.add_parser("generative", parents=[common], help="every image and point config, same budget")
    g.add_argument("--minutes", type=MINUTES, default=10.0, help="training budget per run")
    g.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="minutes of the run's CPU time (default: same training on a busy machine) or wall")
    g.add_argument("--num-jets", type=COUNT, default=35_000,
                   help="generated jets per class (35 000: 5 250 held-out jets per scored sample)")
    g.add_argument("--jet-types", nargs="+", default=["g", "t"], choices=JET_TYPES)
    g.add_argument("--family", choices=("images", "points"), default=None,
                   help="only this family's configs (its own section of the results file)")
    g.add_argument(
        "--configs", nargs="+", default=None, help="config stems (default: every image and point config)"
    )
    g.add_argument("--jobs", type=COUNT, default=1, help="runs at a time (processes)")
    g.add_argument("--out", default="runs/study_generative")
    g.add_argument(
        "--rescore",
        action="store_true",
        help="sample and score finished runs again from their best checkpoints (after a metrics change)",
    )

    si = sub.add_parser("sparse-input", parents=[common], help="does a CNN with sparse input converge?")
    si.add_argument("--epochs", type=COUNT, default=10)
    si.add_argument("--num-jets", type=COUNT, default=3_000, help="jets per class (gluon, top)")
    si.add_argument("--out", default="runs/study_sparse_input")

    sc = sub.add_parser("sparse-coding", parents=[common], help="deep sparse coding taggers")
    sc.add_argument("--epochs", type=COUNT, default=15)
    sc.add_argument(
        "--num-jets", type=COUNT, default=5_000, help="jets per label (QCD: half gluon, half quark)"
    )
    sc.add_argument("--penalties", type=number(float, low=0), nargs="+", default=[0.0, 0.5, 2.0],
                    help="l1 feature-penalty weights (>= 0)")
    sc.add_argument("--out", default="runs/study_sparse_coding")

    co = sub.add_parser("conditional", parents=[common],
                        help="one conditional model vs one model per class, equal total budget")
    co.add_argument("--minutes", type=MINUTES, default=15.0,
                    help="budget of the conditional model; each per-class model gets minutes / #classes")
    co.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="minutes of the run's CPU time (default: same training on a busy machine) or wall")
    co.add_argument("--num-jets", type=COUNT, default=10_000, help="training jets per class")
    co.add_argument(
        "--heldout", type=COUNT, default=4_000, help="independent held-out jets per class"
    )
    co.add_argument("--jet-types", nargs="+", default=list(JET_TYPES), choices=JET_TYPES)
    co.add_argument("--config", default="points/flow_matching_conditional",
                    help="config file, or a shipped config's name")
    co.add_argument("--jobs", type=COUNT, default=1, help="runs at a time (processes)")
    co.add_argument("--out", default="runs/study_conditional")

    cv = sub.add_parser("convergence", parents=[common],
                        help="quality per CPU-minute of one config (default: the demo's), one run per budget")
    cv.add_argument("--minutes", type=MINUTES, nargs="+", default=[2.0, 4.0, 8.0, 16.0, 32.0],
                    help="training budgets in CPU-minutes (CPU time of the run's process)")
    cv.add_argument("--config", default="quickstart", help="config file, or a shipped config's name")
    cv.add_argument("--jet-type", default="g", choices=JET_TYPES)
    cv.add_argument("--num-jets", type=COUNT, default=10_000, help="generated training jets")
    cv.add_argument("--eval-jets", type=COUNT, default=10_000,
                    help="jets sampled and scored (held-out sample: twice as many, seed + 1)")
    cv.add_argument("--jobs", type=COUNT, default=1, help="runs at a time (processes)")
    cv.add_argument("--out", default="runs/study_convergence")


# --quick caps on the jets of each study (test scale)
QUICK_JETS = {"generative": {"num_jets": 400}, "conditional": {"num_jets": 150},
              "convergence": {"num_jets": 200, "eval_jets": 100}}
MIN_JETS = {"generative": 400, "sparse-input": 40, "sparse-coding": 40, "conditional": 100,
            "convergence": 100}
MODULES = {"generative": "generative", "sparse-input": "sparse_input", "sparse-coding": "sparse_coding",
           "conditional": "conditional", "convergence": "convergence"}


def settings_from(args: argparse.Namespace, cls: type, **values):
    """The study's Settings dataclass, every field taken from the argument of the same name (``values``
    first), --quick caps applied; fields without an argument keep their defaults."""
    import dataclasses

    caps = QUICK_JETS.get(args.study, {}) if args.quick else {}
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            out[f.name] = values[f.name]
        elif hasattr(args, f.name):
            value = getattr(args, f.name)
            out[f.name] = min(value, caps[f.name]) if f.name in caps else value
    return cls(**out)


def _check(args: argparse.Namespace) -> None:
    """Study-specific argument checks (one `SparsegenInputError` each)."""
    if args.num_jets < MIN_JETS[args.study]:
        raise SparsegenInputError(
            "--num-jets",
            f"the {args.study} study needs at least {MIN_JETS[args.study]} jets per class "
            f"(held-out splits must hold both classes / enough jets to score), "
            f"got {args.num_jets}",
        )
    if args.study == "conditional" and (len(args.jet_types) < 2
                                        or len(set(args.jet_types)) != len(args.jet_types)):
        raise SparsegenInputError("--jet-types",
                                  f"needs at least two different classes, got {args.jet_types}")
    if args.study == "convergence" and len(set(args.minutes)) != len(args.minutes):
        raise SparsegenInputError("--minutes", f"budgets must differ, got {args.minutes}")


def run(args: argparse.Namespace) -> int:
    import importlib

    _check(args)
    results = args.results or ("docs/results.md" if not args.quick else f"{args.out}/results.md")
    study = importlib.import_module(f"sparsegen.studies.{MODULES[args.study]}")
    values: dict = {"results": results}
    if args.study == "sparse-coding":
        values["penalties"] = tuple(args.penalties)
    if args.study == "convergence":
        values["minutes"] = sorted(args.minutes)
    kwargs = {"rescore": args.rescore} if args.study == "generative" else {}
    study.run(settings_from(args, study.Settings, **values), progress=not args.no_progress, **kwargs)
    print(f"wrote {results}")
    return 0
