"""The evaluation report: every metric, real vs generated and real vs real (the truth floor).

``evaluate(real, gen)`` returns the metrics dict (docs/metrics.md "Report"), one entry per result key of the
metric registry (:mod:`sparsegen.metrics.registry`)::

    {name: {"value": v, "error": e}, ..., "truth_floor": {name: {"value": v, "error": e}, ...}}

Sample split: the real jets are shuffled (seeded) and cut into two disjoint halves A and B of n jets,
n = min(len(real) // 2, len(gen), num_jets). The generated sample (n jets, seeded subset) is compared to
A; the truth floor is B compared to A, so both rows use the same sample sizes and the floor is the value
a perfect generator would get at this n. Metric settings default to JetNet 0.2.5's published values
(``PUBLISHED``); ``quick=True`` uses ``QUICK`` (smaller resampling sizes, for monitoring, not for tables).

Image metrics use ``gen.images`` when the generator produced images (the real jets are then pixelized on
the same grid), otherwise both samples are pixelized with ``Jets.to_images``. For an image model the
particle-level metrics compare like with like: the real jets are read out of their own pixels
(`sparsegen.metrics.samples.pixel_readout`), as the generated jets are.

Particle-level metrics (W1M, W1P, EFPs, FPD, KPD, N-subjettiness, classifier) see at most the real
sample's particle count P per jet, the hardest first (JetNet's convention: JetNet-30 is the 30 hardest
particles). This matters for image models, whose every non-zero pixel is a particle: a generator that
fills empty pixels with noise keeps its mass but not its multiplicity, occupancy and intensity spectrum,
which are computed on the full sample.

FPND (optional, ``fpnd_dir`` = JetNet's ``fpnd_resources`` folder; :mod:`sparsegen.metrics.fpnd`): scores
against JetNet's stored statistics of real JetNet jets of the real sample's class (g, q or t, 30
particles), not against ``real``. Value: FPND of the generated subset G (n jets); truth floor: FPND of the
held-out real half B (n jets), i.e. how far the real sample itself is from JetNet at the same n.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from sparsegen.core.defaults import EXTENT, JET_TYPES, NPIX
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.metrics import registry
from sparsegen.metrics import sparsity as S
from sparsegen.metrics.definitions import FPND
from sparsegen.metrics.fpnd import FPND_CLASSES, FPNDScorer, check_jets
from sparsegen.metrics.registry import PUBLISHED, QUICK, EvalSettings, Metric, Pair
from sparsegen.metrics.resampling import shared_work, worker_threads
from sparsegen.metrics.samples import Sample, pixel_readout

METRIC_NAMES: tuple[str, ...] = registry.names(tag="table")
"""The headline metrics of the built-in registry (the report's table)."""
MIN_JETS = 50
Row = dict[str, dict[str, float | None]]


class SmallSampleWarning(UserWarning):
    """A metric was computed on fewer jets than it needs to be meaningful (`Metric.meaningful_jets`)."""


def warn_small_sample(n: int, metrics: Iterable[Metric] | None = None) -> None:
    """One warning naming every metric whose meaningful size exceeds the ``n`` jets per sample."""
    short = [m for m in (registry.select() if metrics is None else metrics) if n < m.meaningful_jets]
    if short:
        need = max(m.meaningful_jets for m in short)
        warnings.warn(SmallSampleWarning(
            f"{n} jets per sample: {' and '.join(m.label for m in short)} need ~{need} to be meaningful "
            "(JetNet evaluates 50 000); read them with their truth floor"), stacklevel=3)


def _entry(value: float, error: float) -> dict[str, float | None]:
    def clean(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None  # JSON has no inf/nan

    return {"value": clean(value), "error": clean(error)}


def entries(metric: Metric, result: Pair | Mapping[str, Pair]) -> Row:
    """A compute's result as report entries (``{key: {"value", "error"}}``; non-finite numbers are None)."""
    if not isinstance(result, Mapping):
        return {metric.name: _entry(*result)}
    if set(result) != set(metric.keys):
        raise ValueError(f"metric {metric.name} returned {sorted(result)}, declares {list(metric.keys)}")
    return {key: _entry(*result[key]) for key in metric.keys}


def score(ref: Sample, other: Sample, metrics: Iterable[Metric], cfg: EvalSettings, seed: int,
          step: Callable[[str], None] = lambda what: None) -> Row:
    """These metrics between a reference (real) sample and another sample, one after the other."""
    out: Row = {}
    for metric in metrics:
        step(metric.label)
        out.update(entries(metric, metric.compute(ref, other, cfg, seed)))
    return out


def _score_rows(ref: Sample, others: list[Sample], metrics: tuple[Metric, ...], cfg: EvalSettings, seed: int,
                step: Callable[[str], None]) -> list[Row]:
    """Every metric of each row (``ref`` vs ``others[i]``: the generated sample, then the truth floor).

    The expensive metrics (the classifier trainings) of every row and the other metrics of all rows run as
    tasks on ``torch.get_num_threads()`` threads with single-threaded torch (a long training overlaps the
    rest, and the first free thread takes the next task); the other metrics use the remaining threads,
    sharing the reference side between rows.
    """
    threads = torch.get_num_threads()
    prefixes = ["", "truth floor: "]
    cheap = [m for m in metrics if not m.expensive]
    expensive = [m for m in metrics if m.expensive]

    def rest() -> list[Row]:
        with shared_work(), worker_threads(max(1, threads - 1) if expensive else threads):
            return [score(ref, other, cheap, cfg, seed, lambda what, p=prefix: step(p + what))
                    for other, prefix in zip(others, prefixes)]

    if not expensive:
        return rest()
    step(", ".join(m.label for m in expensive) + (" (both rows)" if len(others) > 1 else "")
         + ", beside the rest")
    jobs = [(i, lambda other=other, m=m: entries(m, m.compute(ref, other, cfg, seed)))
            for i, other in enumerate(others) for m in expensive]
    first = [job for job in jobs if job[0] == 0]
    tasks: list[Callable[[], Any]] = [job for _, job in first] + [rest] + [job for i, job in jobs if i]
    try:
        torch.set_num_threads(1)
        with ThreadPoolExecutor(threads) as pool:
            results = [future.result() for future in [pool.submit(task) for task in tasks]]
    finally:
        torch.set_num_threads(threads)
    rows = results[len(first)]
    for (i, _), result in zip(jobs, results[:len(first)] + results[len(first) + 1:]):
        rows[i].update(result)
    return rows


def _image_grid(gen: Jets, npix: int) -> int:
    """Pixels per side of the compared images: the generator's own (square) images if it made any."""
    if gen.images is None:
        return npix
    h, w = gen.images.shape[1:]
    if h != w:
        raise SparsegenInputError("generated images", f"images must be square to compare, got {h}x{w}")
    return h


def _images(jets: Jets, npix: int, extent: float, own: bool = False) -> np.ndarray:
    """Images of a sample on the compared grid: the generator's own (``own``) if it made any, else pixelized.

    Real jets are always pixelized from their particles with ``Jets.to_images`` (the preprocessing image
    models are trained on), never taken from an ``images`` dataset of unknown provenance.
    """
    if own and jets.images is not None:
        return jets.images
    return jets.to_images(npix=npix, extent=extent)


class _Steps:
    """Progress for long steps: a rich status line on stderr (no-op when disabled)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.console = None
        self.status: Any = None
        self.start = time.perf_counter()
        if enabled:
            from rich.console import Console

            self.console = Console(stderr=True)

    def __call__(self, what: str) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if self.status is None:
            self.status = self.console.status(what)
            self.status.start()
        self.status.update(f"[{elapsed:5.1f} s] {what}")

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()


def split_samples(real: Jets, gen: Jets, num_jets: int | None = None,
                  seed: int = 0) -> tuple[Jets, Jets, Jets]:
    """(A, B, G): disjoint real halves and the generated subset, n jets each (see module docstring)."""
    n = min(len(real) // 2, len(gen), num_jets if num_jets is not None else len(gen))
    if n < MIN_JETS:
        raise SparsegenInputError(
            "evaluate", f"needs at least {MIN_JETS} generated jets and {2 * MIN_JETS} real jets "
                        f"(got {len(gen)} generated, {len(real)} real, num_jets={num_jets})")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(real))
    gen_idx = np.sort(rng.permutation(len(gen))[:n])
    return real[np.sort(perm[:n])], real[np.sort(perm[n:2 * n])], gen[gen_idx]


def evaluate(
    real: Jets,
    gen: Jets,
    num_jets: int | None = None,
    seed: int = 0,
    quick: bool = False,
    settings: EvalSettings | None = None,
    npix: int = NPIX,
    extent: float = EXTENT,
    threshold: float = S.DEFAULT_THRESHOLD,
    truth_floor: bool = True,
    classifier: bool = True,
    progress: bool = False,
    plots_dir: str | os.PathLike | None = None,
    fpnd_dir: str | os.PathLike | None = None,
    metrics: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Score generated jets against real ones; returns the metrics dict (see module docstring).

    Args:
        real, gen: samples (particle counts may differ). ``gen.images`` set = image-model output.
        num_jets: compare at most this many jets per sample (the truth floor uses another num_jets real).
        quick: smaller sample sizes (``QUICK``) instead of JetNet's published ones (``PUBLISHED``).
        settings: explicit sample sizes (overrides ``quick``).
        threshold: pixel read-out threshold (ptrel units) for the occupancy / intensity metrics.
        plots_dir: if given, write the comparison PNGs there.
        classifier: False skips the expensive metrics (the classifier two-sample test).
        fpnd_dir: if given, JetNet's FPND resources: adds ``fpnd`` (see module docstring).
        metrics: names of the registered metrics to compute (default: all of them).
    """
    cfg = settings or (QUICK if quick else PUBLISHED)
    selected = tuple(m for m in registry.select(metrics, computed=True) if classifier or not m.expensive)
    scorer = FPNDScorer(fpnd_dir, check_jets(real)) if fpnd_dir is not None else None  # fail before any work
    ref, floor, other = split_samples(real, gen, min(num_jets or cfg.max_jets, cfg.max_jets), seed)
    warn_small_sample(len(ref), selected)
    step = _Steps(progress)
    try:
        step("pixelizing")
        grid = _image_grid(gen, npix)
        ref_img, other_img = _images(ref, grid, extent), _images(other, grid, extent, own=True)
        floor_img = _images(floor, grid, extent) if truth_floor else None
        if gen.images is not None:  # image model: compare in the image representation
            ref = pixel_readout(ref, ref_img, extent, ref.max_particles)
            if floor_img is not None:
                floor = pixel_readout(floor, floor_img, extent, floor.max_particles)
        step("EFPs, N-subjettiness")
        cap = ref.max_particles
        needs = list(dict.fromkeys(f for m in selected for f in m.needs))
        s_ref = Sample(ref, ref_img, cap, threshold).prepare(needs)
        s_other = Sample(other, other_img, cap, threshold).prepare(needs)
        s_floor = Sample(floor, floor_img, cap, threshold).prepare(needs) if floor_img is not None else None
        rows = _score_rows(s_ref, [s_other] if s_floor is None else [s_other, s_floor], selected, cfg, seed,
                           step)
        result: dict[str, Any] = rows[0]
        if s_floor is not None:
            result["truth_floor"] = rows[1]
        if scorer is not None:
            step(FPND.label)
            result[FPND.name] = _entry(scorer(s_other.jets), math.nan)
            if s_floor is not None:
                result["truth_floor"][FPND.name] = _entry(scorer(s_floor.jets), math.nan)
        if plots_dir is not None:
            from sparsegen.plotting import evaluation_plots

            step("plots")
            evaluation_plots(plots_dir, {"real": _plot_data(s_ref), "generated": _plot_data(s_other)},
                             extent=extent, threshold=threshold)
    finally:
        step.close()
    return result


def evaluate_by_class(real: Jets, gen: Jets, plots_dir: str | os.PathLike | None = None,
                      fpnd_dir: str | os.PathLike | None = None, **kwargs: Any) -> dict[str, Any]:
    """`evaluate` on the whole samples (the combined row, at the top level of the result) and, when the real
    jets hold several classes, on each class separately with its own truth floor (``result["by_class"]``).

    Every class of the real sample must be in the generated one (a conditional model sampled with the real
    file's conditions, ``sparsegen sample --conditions-from``). Plots: combined in ``plots_dir``, each
    class in ``plots_dir/<class>``. FPND (``fpnd_dir``) is a per-class score: with several classes it is
    computed for each of g, q and t, not for the combined row.
    """
    classes = [int(c) for c in np.unique(real.labels)]
    if len(classes) < 2:
        return evaluate(real, gen, plots_dir=plots_dir, fpnd_dir=fpnd_dir, **kwargs)
    if fpnd_dir is not None:
        FPNDScorer(fpnd_dir, "g")  # a missing or foreign folder fails before any work
    result = evaluate(real, gen, plots_dir=plots_dir, **kwargs)
    missing = [JET_TYPES[c] for c in classes if not np.any(gen.labels == c)]
    if missing:
        raise SparsegenInputError(
            "evaluate", f"the generated jets hold no {', '.join(missing)} jets, the real ones do "
                        "(sample a conditional model with --conditions-from the real file)")
    result["by_class"] = {}
    for c in classes:
        name = JET_TYPES[c]
        sub_plots = None if plots_dir is None else os.path.join(os.fspath(plots_dir), name)
        result["by_class"][name] = evaluate(real[np.flatnonzero(real.labels == c)],
                                            gen[np.flatnonzero(gen.labels == c)], plots_dir=sub_plots,
                                            fpnd_dir=fpnd_dir if name in FPND_CLASSES else None, **kwargs)
    return result


def _plot_data(s: Sample) -> dict[str, np.ndarray]:
    parts = s.jets.particles[s.jets.mask]
    return {"mass": s.mass * s.jets.pt, "pt": s.pt, "multiplicity": s.multiplicity, "etarel": parts[:, 0],
            "phirel": parts[:, 1], "ptrel": parts[:, 2], "tau21": s.tau21, "tau32": s.tau32,
            "images": s.images}


__all__ = [
    "METRIC_NAMES",
    "PUBLISHED",
    "QUICK",
    "EvalSettings",
    "evaluate",
    "evaluate_by_class",
    "split_samples",
]

