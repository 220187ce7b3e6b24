"""What every study does the same way: resume, run, prepare the data, state its command and budget, file its
section.

* **Runs and resume** (`run_all`): a study is a list of named runs; run ``NAME`` writes
  ``OUT/NAME/result.json`` last, so its presence marks the run as finished. A rerun reads finished runs
  back (delete a folder to redo it) and runs the others, in this process or in ``jobs`` worker processes
  (`run_tasks`), after the study has prepared its data once.
* **Data** (`prepare_jets`): the generated jets every timed run reads, made before the first run starts, so
  no run's budget pays for generation.
* **Command and budget** (`command`, `budget`, `head`): every section opens with the command that
  reproduces it, built from the study's settings (`sparsegen.studies.settings`), and its budget.
* **Sections** (`SECTIONS`, `write_section`): each study owns sections of the results file, in one order.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sparsegen.studies import report as R
from sparsegen.studies import settings as S

SECTIONS = ("generative_images", "generative_points", "generative_by_resolution", "sparse_input",
            "sparse_coding", "conditional", "convergence")
"""The studies' sections of the results file, in order (a section not listed goes at the end)."""

QUICK = "quick (one short epoch per run, for the tests)"
"""The budget of a training study at ``--quick`` scale."""


# ----------------------------------------------------------------------------- runs
def result_path(s: Any, name: str) -> Path:
    return Path(s.out) / name / "result.json"


def run_all(s: Any, runs: Sequence[tuple[str, tuple]], run_one: Callable[..., dict], *,
            prepare: Callable[[], None], desc: str, progress: bool = True,
            rescore: Callable[..., dict] | None = None) -> list[dict[str, Any]]:
    """The result of every run, in the order of ``runs``: (name, args) pairs, the run's folder under
    ``s.out`` and the arguments of ``run_one(*args, s)``, a module-level function that writes
    ``OUT/name/result.json`` last and returns it.

    A finished run is read back, or, given ``rescore``, handed to ``rescore(*args, s)`` (scored again from
    its checkpoint). The others run after ``prepare()``, in ``s.jobs`` processes (1 when it has none).
    """
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for name, args in runs:
        done = result_path(s, name)
        if done.exists() and rescore is None:
            results[name] = json.loads(done.read_text())
        else:
            todo.append((name, rescore if done.exists() else run_one, args))
    if todo:
        prepare()
        for (name, _, _), r in zip(todo, run_tasks([(fn, args, s) for _, fn, args in todo], _call,
                                                   getattr(s, "jobs", 1), desc, progress)):
            results[name] = r
    return [results[name] for name, _ in runs]


def _call(job: tuple[Callable[..., dict], tuple, Any]) -> dict[str, Any]:
    """One run, in this process or a worker: ``fn(*args, s)`` with ``s.threads`` torch threads."""
    import torch

    fn, args, s = job
    torch.set_num_threads(s.threads)
    return fn(*args, s)


def run_tasks(tasks: Sequence[Any], task: Callable[[Any], Any], jobs: int, desc: str,
              progress: bool = True) -> list[Any]:
    """``[task(t) for t in tasks]`` in order: in this process (``jobs`` ≤ 1) or in ``jobs`` spawned worker
    processes (``task`` must be a module-level function), with a progress bar of finished runs."""
    import concurrent.futures as cf
    import multiprocessing as mp

    from tqdm.auto import tqdm

    out: list[Any] = []
    with tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress) as bar:
        if jobs <= 1:
            for t in tasks:
                out.append(task(t))
                bar.update()
        else:
            # one run per worker process: a run's data and model go back to the system when it ends
            fresh = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
            with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), **fresh) as pool:
                for r in pool.map(task, tasks):
                    out.append(r)
                    bar.update()
    return out


# ----------------------------------------------------------------------------- data
def prepare_jets(jet_types: Iterable[str], num_jets: int, particle_counts: Iterable[int], seed: int,
                 workers: int = 2) -> None:
    """Generate (or find in the cache) ``num_jets`` jets of every class at every particle count, with the
    default preset's settings: the files the runs' data modules read."""
    from sparsegen.core.defaults import PRESET
    from sparsegen.data.cache import ensure_generated
    from sparsegen.data.presets import preset_config

    for t in jet_types:
        for p in sorted(set(particle_counts)):
            ensure_generated(preset_config(PRESET, t, num_particles=p, seed=seed), num_jets, workers=workers,
                             progress=False)


# ----------------------------------------------------------------------------- command and budget
def command(s: Any, **overrides: Any) -> str:
    """``sparsegen study NAME --option value …``: every reproducing option of the settings ``s`` in field
    order (``overrides`` replace values; ``None`` and false flags are left out)."""
    words = ["sparsegen", "study", type(s).name]
    for f in S.options(type(s)):
        if not f.metadata["reproduce"]:
            continue
        value = overrides.get(f.name, getattr(s, f.name))
        flag = "--" + f.name.replace("_", "-")
        if value is None or value is False:
            continue
        words += [flag] if value is True else [flag, S.format_value(value)]
    return " ".join(words)


def clock_minutes(minutes: float, clock: str) -> str:
    """"10 min of CPU time" / "10 min of wall clock"."""
    return f"{minutes:g} min of {'CPU time' if clock == 'cpu' else 'wall clock'}"


def budget(s: Any, scale: str) -> str:
    """"Budget: SCALE, T torch thread(s) per run, J run(s) at a time, seed S" (without ``jobs``: "T torch
    thread(s), seed S"); no final full stop."""
    if hasattr(s, "jobs"):
        return (f"Budget: {scale}, {s.threads} torch thread(s) per run, {s.jobs} run(s) at a time, "
                f"seed {s.seed}")
    return f"Budget: {scale}, {s.threads} torch thread(s), seed {s.seed}"


def head(s: Any, scale: str, **overrides: Any) -> str:
    """The opening of a section: "Command: `…` (results file `…`). Budget: …" (no final full stop)."""
    return f"Command: `{command(s, **overrides)}` (results file `{s.results}`). {budget(s, scale)}"


# ----------------------------------------------------------------------------- sections
def write_section(s: Any, name: str, body: str) -> str:
    """Replace section ``name`` of the results file ``s.results`` with ``body`` (in `SECTIONS` order)."""
    R.update_section(s.results, name, body, SECTIONS)
    return body


def plot_dir(s: Any) -> Path:
    """Where a study's figures go: ``results/`` next to the results file (linked from it as such)."""
    return Path(s.results).parent / "results"


def read_config(config: str | Path) -> dict[str, Any]:
    """A config file (path or shipped name) as a dict: the one place the studies read a config's text."""
    from sparsegen.core.compose import resolved_config  # its shared blocks (configs/base/) merged in

    return resolved_config(config)
