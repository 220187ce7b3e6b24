"""``sparsegen study generative|sparse-input|sparse-coding|conditional|convergence [--quick] …``: run a
study, update the results file.

The options of each study are the fields of its settings dataclass (`sparsegen.studies.settings`: default,
help, type, choices there), so a default is stated once."""

from __future__ import annotations

import argparse
import dataclasses

from sparsegen.core.errors import ArgumentParser
from sparsegen.studies import settings as S

HELP = "comparison studies -> docs/results.md"


def _add_option(p: argparse.ArgumentParser, f: dataclasses.Field) -> None:
    meta, default = f.metadata, S.default(f)
    flag = "--" + f.name.replace("_", "-")
    if isinstance(default, bool):
        p.add_argument(flag, action="store_true", help=meta["help"].replace("%", "%%"))
        return
    kwargs = {k: meta[k] for k in ("type", "choices", "nargs") if meta[k] is not None}
    shown = f" (default {S.format_value(default)})" if default is not None else ""
    if f.name == "results":  # the default depends on --quick (see `settings_from`)
        default = None
    p.add_argument(flag, default=default, help=(meta["help"] + shown).replace("%", "%%"), **kwargs)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="study", required=True, parser_class=ArgumentParser)
    for name, cls in S.STUDIES.items():
        sp = sub.add_parser(name, help=cls.__doc__)
        for f in S.options(cls):
            _add_option(sp, f)
        sp.add_argument("--no-progress", action="store_true", help="no progress bars")


def settings_from(args: argparse.Namespace) -> object:
    """The study's settings, every option from its argument, --quick caps applied; the results file
    defaults to OUT/results.md at --quick scale."""
    cls = S.STUDIES[args.study]
    values = {}
    for f in S.options(cls):
        value = getattr(args, f.name)
        cap = f.metadata["quick"]
        values[f.name] = min(value, cap) if args.quick and cap is not None else value
    if values["results"] is None:
        values["results"] = f"{args.out}/results.md" if args.quick else S.default(
            next(f for f in S.options(cls) if f.name == "results"))
    return cls(**values)


def run(args: argparse.Namespace) -> int:
    import importlib

    s = settings_from(args)
    S.check(s)
    study = importlib.import_module(f"sparsegen.studies.{args.study.replace('-', '_')}")
    study.run(s, progress=not args.no_progress)
    print(f"wrote {s.results}")
    return 0
