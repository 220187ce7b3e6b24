"""What each study can be asked: its settings, their defaults and help, stated once.

Every study runs from one dataclass here. A field made with `option` is also a command-line option of
``sparsegen study NAME`` (``--num-jets`` for ``num_jets``; `sparsegen.cli.study` builds the parser from
these fields) and, unless ``reproduce=False``, part of the command a results section prints to reproduce
itself (`sparsegen.studies.harness.command`). Plain fields are internal settings with no option.

This module imports nothing heavy, so the command line builds its parser without torch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sparsegen.core.defaults import JET_TYPES
from sparsegen.core.errors import SparsegenInputError, number

COUNT = number(int, above=0)
MINUTES = number(float, above=0)


def option(default: Any, help: str, *, type: Any = None, choices: Any = None, nargs: str | None = None,
           quick: int | None = None, least: int | None = None, reproduce: bool = True) -> Any:
    """A settings field that is a command-line option. ``quick``: the cap ``--quick`` puts on it; ``least``:
    the smallest value the study can work with; ``reproduce``: part of the reproducing command."""
    meta = {"help": help, "type": type, "choices": choices, "nargs": nargs, "quick": quick, "least": least,
            "reproduce": reproduce}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def options(cls: type) -> list[dataclasses.Field]:
    """The fields of a settings class that are command-line options, in order."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def format_value(v: Any) -> str:
    """A setting as the command line writes it (floats as ``%g``, lists space-separated)."""
    if isinstance(v, (list, tuple)):
        return " ".join(format_value(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def check(s: Any) -> None:
    """One `SparsegenInputError` for a value below its field's ``least`` (then the study's own checks)."""
    for f in options(type(s)):
        least = f.metadata["least"]
        if least is not None and getattr(s, f.name) < least:
            flag = "--" + f.name.replace("_", "-")
            raise SparsegenInputError(flag, f"the {type(s).name} study needs at least {least} (its "
                                            "held-out splits must hold enough jets to score), "
                                            f"got {getattr(s, f.name)}")
    if hasattr(s, "check"):
        s.check()


# the options every study has
def _seed() -> Any:
    return option(0, "seed of the data, the training and the scoring", type=number(int, low=0))


def _threads() -> Any:
    return option(1, "torch threads per run", type=COUNT)


def _jobs() -> Any:
    return option(1, "runs at a time (processes)", type=COUNT)


def _quick() -> Any:
    return option(False, "test scale (seconds): tiny data, one short epoch")


def _out(folder: str) -> Any:
    return option(folder, "folder of the runs", reproduce=False)


def _results() -> Any:
    return option("docs/results.md", "results file; OUT/results.md at --quick scale", reproduce=False)


def _clock() -> Any:
    return option("cpu", "minutes of the run's CPU time (the same training on a busy machine) or of wall "
                         "clock", choices=("cpu", "wall"))


def _npix() -> Any:
    return option(None, "image grid of every run, over the same extent (default: the configs' own, 32); its "
                        "own section, figures and run folder", type=COUNT)


def check_npix(n: int | None) -> None:
    """A grid the stride-2 networks can halve down to 4×4 (or None: the default grid)."""
    if n is not None and (n < 8 or n % 4 or (n // 4) & (n // 4 - 1)):
        raise SparsegenInputError("--npix", f"must be 4 times a power of two, at least 8, got {n}")


@dataclasses.dataclass
class Generative:
    """every image and point config, same budget"""

    name = "generative"
    family: str | None = option(None, "only this family's configs (its own section of the results file)",
                                choices=("images", "points"))
    minutes: float = option(10.0, "training budget per run", type=MINUTES)
    clock: str = _clock()
    num_jets: int = option(35_000, "generated jets per class (a scored sample: half the held-out 30 %)",
                           type=COUNT, quick=400, least=400)
    seed: int = _seed()
    jet_types: list[str] = option(["g", "t"], "jet classes", nargs="+", choices=JET_TYPES)
    jobs: int = _jobs()
    threads: int = _threads()
    configs: list[str] | None = option(None, "config stems (default: every image and point config)",
                                       nargs="+")
    npix: int | None = _npix()
    quick: bool = _quick()
    rescore: bool = option(False, "sample and score finished runs again from their checkpoints (after a "
                                  "metrics change)", reproduce=False)
    out: str = _out("runs/study_generative")
    results: str = _results()

    def check(self) -> None:
        check_npix(self.npix)


@dataclasses.dataclass
class Resolution:
    """image models and the point flow (pixelized) by image grid, from the generative study's runs"""

    name = "resolution"
    grids: list[int] = option([32, 64, 128], "image grids (the generative study's --npix runs at each)",
                              type=COUNT, nargs="+")
    jet_types: list[str] = option(["g", "t"], "jet classes", nargs="+", choices=JET_TYPES)
    point_config: str = option("points/flow_matching", "the point model, trained once per class on every "
                                                       "constituent and pixelized at every grid")
    minutes: float = option(10.0, "training budget of the point model (the image runs': the generative "
                                  "study's)", type=MINUTES)
    clock: str = _clock()
    num_jets: int = option(35_000, "generated jets per class (as the generative study's)", type=COUNT,
                           quick=400, least=400)
    seed: int = _seed()
    threads: int = _threads()
    quick: bool = _quick()
    out: str = _out("runs/study_generative")
    results: str = _results()

    def check(self) -> None:
        for n in self.grids:
            check_npix(n)


@dataclasses.dataclass
class SparseInput:
    """does a CNN with sparse input converge?"""

    name = "sparse-input"
    epochs: int = option(10, "training epochs per variant", type=COUNT)
    num_jets: int = option(3_000, "jets per class (gluon, top)", type=COUNT, least=40)
    seed: int = _seed()
    threads: int = _threads()
    npix: int | None = _npix()
    variants: list[str] | None = option(None, "only these variants, by key: the table's name in lower case, "
                                              "every other character run a '-' (ae-mse-baseline, "
                                              "tagger-cnn-baseline, ...; default: all)", nargs="+")
    quick: bool = _quick()
    out: str = _out("runs/study_sparse_input")
    results: str = _results()
    batch_size: int = 128
    num_particles: int = 150

    def check(self) -> None:
        check_npix(self.npix)


@dataclasses.dataclass
class SparseCoding:
    """deep sparse coding taggers"""

    name = "sparse-coding"
    epochs: int = option(15, "training epochs per tagger", type=COUNT)
    num_jets: int = option(5_000, "jets per label (QCD: half gluon, half quark)", type=COUNT, least=40)
    seed: int = _seed()
    threads: int = _threads()
    penalties: tuple[float, ...] = option((0.0, 0.5, 2.0), "l1 feature-penalty weights on each layer's "
                                          "mean |code| (>= 0)", type=number(float, low=0), nargs="+")
    quick: bool = _quick()
    out: str = _out("runs/study_sparse_coding")
    results: str = _results()
    batch_size: int = 128
    ista_iters: int = 2

    def __post_init__(self) -> None:
        self.penalties = tuple(self.penalties)


@dataclasses.dataclass
class Conditional:
    """one conditional model vs one model per class, equal total budget"""

    name = "conditional"
    minutes: float = option(15.0, "budget of the conditional model; each per-class model gets minutes / "
                                  "#classes", type=MINUTES)
    clock: str = _clock()
    num_jets: int = option(10_000, "training jets per class", type=COUNT, quick=150, least=100)
    heldout: int = option(4_000, "independent held-out jets per class", type=COUNT)
    config: str = option("points/flow_matching_conditional", "config file, or a shipped config's name")
    seed: int = _seed()
    jet_types: list[str] = option(list(JET_TYPES), "jet classes (at least two)", nargs="+", choices=JET_TYPES)
    jobs: int = _jobs()
    threads: int = _threads()
    quick: bool = _quick()
    out: str = _out("runs/study_conditional")
    results: str = _results()

    def check(self) -> None:
        if len(self.jet_types) < 2 or len(set(self.jet_types)) != len(self.jet_types):
            raise SparsegenInputError("--jet-types",
                                      f"needs at least two different classes, got {self.jet_types}")


@dataclasses.dataclass
class Convergence:
    """quality per CPU-minute of one config (default: the demo's), one run per budget"""

    name = "convergence"
    minutes: list[float] = option([2.0, 4.0, 8.0, 16.0, 32.0], "training budgets in CPU-minutes (CPU time of "
                                  "the run's process), one run each", type=MINUTES, nargs="+")
    config: str = option("quickstart", "config file, or a shipped config's name")
    jet_type: str = option("g", "jet class", choices=JET_TYPES)
    num_jets: int = option(10_000, "generated training jets", type=COUNT, quick=200, least=100)
    eval_jets: int = option(10_000, "jets sampled and scored (held-out sample: twice as many, seed + 1)",
                            type=COUNT, quick=100)
    seed: int = _seed()
    jobs: int = _jobs()
    threads: int = _threads()
    quick: bool = _quick()
    out: str = _out("runs/study_convergence")
    results: str = _results()

    def __post_init__(self) -> None:
        self.minutes = sorted(self.minutes)  # the table and the plot run from the smallest budget up

    def check(self) -> None:
        if len(set(self.minutes)) != len(self.minutes):
            raise SparsegenInputError("--minutes", f"budgets must differ, got {self.minutes}")


STUDIES: dict[str, type] = {cls.name: cls for cls in (Generative, Resolution, SparseInput, SparseCoding,
                                                      Conditional, Convergence)}
"""The studies by command-line name, in the order of the results file."""
