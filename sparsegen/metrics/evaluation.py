"""The evaluation report: every metric, real vs generated and real vs real (the truth floor).

``evaluate(real, gen)`` returns the metrics dict of DESIGN.md::

    {name: {"value": v, "error": e}, ..., "truth_floor": {name: {"value": v, "error": e}, ...}}

Sample split: the real jets are shuffled (seeded) and cut into two disjoint halves A and B of n jets,
n = min(len(real) // 2, len(gen), num_jets). The generated sample (n jets, seeded subset) is compared to
A; the truth floor is B compared to A, so both rows use the same sample sizes and the floor is the value
a perfect generator would get at this n. Metric settings default to JetNet 0.2.5's published values
(``PUBLISHED``); ``quick=True`` uses ``QUICK`` (smaller resampling sizes, for monitoring, not for tables).

Image metrics use ``gen.images`` when the generator produced images (the real jets are then pixelized on
the same grid), otherwise both samples are pixelized with ``Jets.to_images``. For an image model the
particle-level metrics compare like with like: the real jets are read out of their own (preprocessed)
images, one particle per active pixel at the pixel centre, as the generated jets are — otherwise the
real particles' sub-pixel positions and un-rotated frame would dominate W1P, W1M and the EFPs.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sparsegen.core.defaults import EXTENT, JET_TYPES, NPIX
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.core.kinematics import relative_kinematics, tau_ratios
from sparsegen.metrics import distances as D
from sparsegen.metrics import sparsity as S
from sparsegen.metrics.classifier import classifier_auc
from sparsegen.metrics.efp import W1EFP_INDICES, efps
from sparsegen.metrics.fpnd import FPND_CLASSES, FPNDScorer, check_jets
from sparsegen.metrics.resampling import shared_work, worker_threads

METRIC_NAMES: tuple[str, ...] = (
    "w1m", "w1p", "w1efp", "fpd", "kpd", "w1_multiplicity", "w1_occupancy", "w1_pixel_intensity",
    "w1_tau21", "w1_tau32", "classifier_auc",
)
EXTRA_NAMES: tuple[str, ...] = (
    "w1p_etarel", "w1p_phirel", "w1p_ptrel", "occupancy_map_diff", "zero_fraction",
)
MIN_JETS = 50
MEANINGFUL_JETS: dict[str, int] = {"fpd": 20_000, "kpd": 20_000}
"""Jets per sample below which a metric cannot separate close distributions (at 3 000 jets the FPD of gluon
vs gluon equals that of gluon vs quark; JetNet fits FPD between 20 000 and 50 000 jets)."""


class SmallSampleWarning(UserWarning):
    """A metric was computed on fewer jets than it needs to be meaningful (`MEANINGFUL_JETS`)."""


def warn_small_sample(n: int) -> None:
    """One warning naming every metric whose meaningful size exceeds the ``n`` jets per sample."""
    short = [name.upper() for name, need in MEANINGFUL_JETS.items() if n < need]
    if short:
        need = max(MEANINGFUL_JETS[name.lower()] for name in short)
        warnings.warn(SmallSampleWarning(
            f"{n} jets per sample: {' and '.join(short)} need ~{need} to be meaningful "
            "(JetNet evaluates 50 000); read them with their truth floor"), stacklevel=3)


@dataclass(frozen=True)
class EvalSettings:
    """Sample sizes of every metric (see :mod:`sparsegen.metrics.distances` for their meaning).

    ``max_jets``: jets per sample compared (JetNet: 50 000), capped by the inputs.
    """

    max_jets: int = 50_000
    num_eval_samples: int = 50_000
    num_batches: int = 5
    fpd_min_samples: int = 20_000
    fpd_max_samples: int = 50_000
    fpd_num_batches: int = 20
    fpd_num_points: int = 10
    kpd_num_batches: int = 10
    kpd_batch_size: int = 5_000
    classifier_max_jets: int = 50_000
    classifier_epochs: int = 20


PUBLISHED = EvalSettings()
QUICK = EvalSettings(max_jets=10_000, num_eval_samples=10_000, num_batches=5, fpd_min_samples=5_000,
                     fpd_max_samples=10_000, fpd_num_batches=10, fpd_num_points=5, kpd_num_batches=10,
                     kpd_batch_size=1_000, classifier_max_jets=5_000, classifier_epochs=10)


@dataclass
class _Sample:
    """Everything the metrics need from one sample, computed once."""

    jets: Jets  # particle-level metrics: at most the real sample's particle count (hardest first)
    multiplicity: np.ndarray  # of the full sample
    images: np.ndarray
    active: S.ActivePixels  # the pixels above the read-out threshold
    zero_fraction: np.ndarray  # per image
    efps: np.ndarray
    mass: np.ndarray
    pt: np.ndarray
    tau21: np.ndarray
    tau32: np.ndarray


def _prepare(jets: Jets, images: np.ndarray, num_particles: int, threshold: float) -> _Sample:
    kept = jets.hardest(num_particles)
    _, pt, _, mass = relative_kinematics(kept.particles, kept.mask)
    tau21, tau32 = tau_ratios(kept.particles, kept.mask)
    flat = images.reshape(len(images), -1)
    zero = np.count_nonzero(flat == 0, axis=1) / flat.shape[1]
    return _Sample(kept, jets.num_particles, images, S.ActivePixels.of(images, threshold), zero,
                   efps(kept.particles, kept.mask, "d<=4"), mass, pt, tau21, tau32)


def _entry(value: float, error: float) -> dict[str, float | None]:
    def clean(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None  # JSON has no inf/nan

    return {"value": clean(value), "error": clean(error)}


def _score(ref: _Sample, other: _Sample, cfg: EvalSettings, seed: int, threshold: float,
           step: Callable[[str], None]) -> dict[str, dict[str, float | None]]:
    """All metrics but the classifier between a reference (real) sample and another sample."""
    w1kw = {"num_eval_samples": cfg.num_eval_samples, "num_batches": cfg.num_batches, "seed": seed}
    out: dict[str, dict[str, float | None]] = {}
    step("W1 mass / particle features")
    out["w1m"] = _entry(*D.w1(ref.mass, other.mass, **w1kw))
    w1p_batches = D.w1p_batches(ref.jets, other.jets, None, None, True, cfg.num_eval_samples, cfg.num_batches,
                                seed)
    out["w1p"] = _entry(w1p_batches.mean(1).mean(), w1p_batches.mean(1).std())
    for i, name in enumerate(("etarel", "phirel", "ptrel")):
        out[f"w1p_{name}"] = _entry(w1p_batches[:, i].mean(), w1p_batches[:, i].std())
    step("W1 EFP")
    per_batch = D.w1_batches(ref.efps[:, W1EFP_INDICES], other.efps[:, W1EFP_INDICES], **w1kw).mean(1)
    out["w1efp"] = _entry(per_batch.mean(), per_batch.std())
    step("FPD")
    out["fpd"] = _entry(*D.fpd(ref.efps, other.efps, cfg.fpd_min_samples, cfg.fpd_max_samples,
                               cfg.fpd_num_batches, cfg.fpd_num_points, seed=seed))
    step("KPD")
    out["kpd"] = _entry(*D.kpd(ref.efps, other.efps, cfg.kpd_num_batches, cfg.kpd_batch_size, seed=seed))
    step("sparsity metrics")
    out["w1_multiplicity"] = _entry(*D.w1(ref.multiplicity, other.multiplicity, **w1kw))
    out["w1_occupancy"] = _entry(*S.w1_occupancy(ref.active, other.active, threshold, **w1kw))
    out["w1_pixel_intensity"] = _entry(*S.w1_pixel_intensity(ref.active, other.active, threshold, **w1kw))
    out["occupancy_map_diff"] = _entry(*S.occupancy_map_difference(ref.active, other.active, threshold,
                                                                   **w1kw))
    zero = other.zero_fraction
    out["zero_fraction"] = _entry(zero.mean(), zero.std() / math.sqrt(len(zero)))
    out["w1_tau21"] = _entry(*D.w1(ref.tau21, other.tau21, **w1kw))
    out["w1_tau32"] = _entry(*D.w1(ref.tau32, other.tau32, **w1kw))
    return out


def _classifier(ref: _Sample, other: _Sample, cfg: EvalSettings, seed: int) -> dict[str, float | None]:
    """The classifier two-sample test between a reference (real) sample and another sample."""
    jf_ref = np.stack([ref.mass, ref.pt, ref.jets.num_particles, ref.tau21, ref.tau32], axis=1)
    jf_other = np.stack([other.mass, other.pt, other.jets.num_particles, other.tau21, other.tau32], axis=1)
    return _entry(*classifier_auc(ref.jets, other.jets, jet_features_real=jf_ref, jet_features_gen=jf_other,
                                  max_jets=cfg.classifier_max_jets, epochs=cfg.classifier_epochs, seed=seed))


def _score_rows(ref: _Sample, others: list[_Sample], cfg: EvalSettings, seed: int, threshold: float,
                classifier: bool, step: Callable[[str], None]) -> list[dict[str, dict[str, float | None]]]:
    """Every metric of each row (``ref`` vs ``others[i]``: the generated sample, then the truth floor).

    The classifier trainings and the other metrics of all rows run as tasks on ``torch.get_num_threads()``
    threads with single-threaded torch (a long training overlaps the rest, and the first free thread takes
    the next task); the other metrics use the remaining threads, sharing the reference side between rows.
    """
    threads = torch.get_num_threads()
    prefixes = ["", "truth floor: "]

    def metrics() -> list[dict[str, dict[str, float | None]]]:
        with shared_work(), worker_threads(max(1, threads - 1) if classifier else threads):
            return [_score(ref, other, cfg, seed, threshold, lambda what, p=prefix: step(p + what))
                    for other, prefix in zip(others, prefixes)]

    if not classifier:
        return metrics()
    step("classifier two-sample test" + (" (both rows)" if len(others) > 1 else "") + ", beside the rest")
    trainings = [lambda other=other: _classifier(ref, other, cfg, seed) for other in others]
    tasks: list[Callable[[], Any]] = [trainings[0], metrics, *trainings[1:]]
    try:
        torch.set_num_threads(1)
        with ThreadPoolExecutor(threads) as pool:
            results = [future.result() for future in [pool.submit(task) for task in tasks]]
    finally:
        torch.set_num_threads(threads)
    rows = results[1]
    for row, entry in zip(rows, [results[0], *results[2:]]):
        row["classifier_auc"] = entry
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
) -> dict[str, Any]:
    """Score generated jets against real ones; returns the metrics dict (see module docstring).

    Args:
        real, gen: samples (particle counts may differ). ``gen.images`` set = image-model output.
        num_jets: compare at most this many jets per sample (the truth floor uses another num_jets real).
        quick: smaller sample sizes (``QUICK``) instead of JetNet's published ones (``PUBLISHED``).
        settings: explicit sample sizes (overrides ``quick``).
        threshold: pixel read-out threshold (ptrel units) for the occupancy / intensity metrics.
        plots_dir: if given, write the comparison PNGs there.
        fpnd_dir: if given, JetNet's FPND resources: adds ``fpnd`` (see module docstring).
    """
    cfg = settings or (QUICK if quick else PUBLISHED)
    scorer = FPNDScorer(fpnd_dir, check_jets(real)) if fpnd_dir is not None else None  # fail before any work
    ref, floor, other = split_samples(real, gen, min(num_jets or cfg.max_jets, cfg.max_jets), seed)
    warn_small_sample(len(ref))
    step = _Steps(progress)
    try:
        step("pixelizing")
        grid = _image_grid(gen, npix)
        ref_img, other_img = _images(ref, grid, extent), _images(other, grid, extent, own=True)
        floor_img = _images(floor, grid, extent) if truth_floor else None
        if gen.images is not None:
            # image model: compare in the image representation — the real jets become the particles of
            # their (preprocessed) pixels, exactly as the generated ones are read out of theirs
            ref = Jets.from_images(ref_img, pt=ref.pt, extent=extent, jet_type=ref.labels).hardest(
                ref.max_particles)
            if floor_img is not None:
                floor = Jets.from_images(floor_img, pt=floor.pt, extent=extent,
                                         jet_type=floor.labels).hardest(floor.max_particles)
        step("EFPs, N-subjettiness")
        cap = ref.max_particles
        s_ref, s_other = _prepare(ref, ref_img, cap, threshold), _prepare(other, other_img, cap, threshold)
        s_floor = _prepare(floor, floor_img, cap, threshold) if floor_img is not None else None
        rows = _score_rows(s_ref, [s_other] if s_floor is None else [s_other, s_floor], cfg, seed, threshold,
                           classifier, step)
        metrics: dict[str, Any] = rows[0]
        if s_floor is not None:
            metrics["truth_floor"] = rows[1]
        if scorer is not None:
            step("FPND")
            metrics["fpnd"] = _entry(scorer(s_other.jets), math.nan)
            if s_floor is not None:
                metrics["truth_floor"]["fpnd"] = _entry(scorer(s_floor.jets), math.nan)
        if plots_dir is not None:
            from sparsegen.plotting import evaluation_plots

            step("plots")
            evaluation_plots(plots_dir, {"real": _plot_data(s_ref), "generated": _plot_data(s_other)},
                             extent=extent, threshold=threshold)
    finally:
        step.close()
    return metrics


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


def _plot_data(s: _Sample) -> dict[str, np.ndarray]:
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

