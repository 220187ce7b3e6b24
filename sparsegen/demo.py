"""``make demo`` (``sparsegen demo`` = ``python -m sparsegen.demo``): the main job on generated Pythia jets.

1. data: generate (or reuse from the cache) the training jets of ``--jet-type`` with ``--num-particles``
   particles, ``--per-class`` jets of every other class (physics plots) and an independent held-out sample
   (seed + 1) for evaluation;
2. train the shipped ``quickstart`` config (``configs/quickstart.yaml``) on exactly that data (wandb
   offline logger; image panels logged during training; the config's kept checkpoint is used);
3. sample as many jets as half the held-out sample (10 000 by default) from the best checkpoint and score
   them against one half of it with the published JetNet settings, the real-vs-real truth floor from the
   other half;
4. write ``runs/quickstart/``: ``metrics.json``, ``plots/*.png``, ``physics/*.png``, ``checkpoints/{best,
   last}.ckpt``, ``config.yaml`` (resolved), ``real_heldout.h5``, ``generated.h5``; print the metrics table,
   each metric's ratio to its truth floor, where the plots are, the time every step took, and the commands
   that reproduce the numbers and sync the wandb run.

Every flag reaches the step that uses it: data settings go to the generation, the training config
(``--data.init_args.*``) and the evaluation alike.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from sparsegen import plotting
from sparsegen.core.defaults import EXTENT, JET_CLASS_NAMES, JET_TYPES, NPIX, NUM_PARTICLES, PRESET
from sparsegen.core.errors import ArgumentParser, SparsegenInputError
from sparsegen.core.io import atomic_write, write_text
from sparsegen.core.jets import Jets
from sparsegen.core.resources import config_path
from sparsegen.data.presets import preset_names

HELP = "the main job: data, training, sampling and evaluation (make demo)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jet-type", default="g", choices=JET_TYPES, help="class of the training jets")
    p.add_argument("--num-jets", type=int, default=10_000, help="training jets (split 0.7/0.15/0.15)")
    p.add_argument(
        "--per-class", type=int, default=1_000, help="jets of each other class for the comparison plots"
    )
    p.add_argument("--num-particles", type=int, default=NUM_PARTICLES, help="constituents kept per jet")
    p.add_argument("--preset", default=PRESET, choices=preset_names(),
                   help=f"generation settings (default {PRESET}: JetNet-equivalent jets; "
                        "r08: anti-kT R = 0.8)")
    p.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                   help="generation processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout", type=int, default=20_000,
                   help="independent real jets (seed + 1): half scored against as many generated jets, "
                        "half for "
                        "the truth floor")
    p.add_argument("--config", default="quickstart", help="config file, or a shipped config's name")
    p.add_argument("--max-time", default=None, help="override the training budget, DD:HH:MM:SS")
    p.add_argument("--no-wandb", action="store_true", help="log with CSV instead of wandb (offline)")
    p.add_argument("--quick-metrics", action="store_true", help="smaller metric sample sizes")
    p.add_argument("--out", default="runs/quickstart")


def _check(args: argparse.Namespace) -> None:
    for name in ("num_jets", "per_class", "num_particles", "workers", "heldout"):
        if getattr(args, name) < 1:
            raise SparsegenInputError(
                f"--{name.replace('_', '-')}", f"must be >= 1, got {getattr(args, name)}"
            )
    args.config = str(config_path(args.config))


def physics_data(args: argparse.Namespace) -> dict[str, Jets]:
    """The training class and one sample per other class (cached), all with ``--num-particles``."""
    from sparsegen.data.cache import cached_jets_path, ensure_generated
    from sparsegen.data.presets import preset_config

    jets = {}
    for t in JET_TYPES:
        n = args.num_jets if t == args.jet_type else args.per_class
        cfg = preset_config(args.preset, t, num_particles=args.num_particles, seed=args.seed)
        print(f"[{t}] {n} {JET_CLASS_NAMES[t]} jets -> {cached_jets_path(cfg, n)}")
        jets[t] = Jets.load(ensure_generated(cfg, n, workers=args.workers))
    return jets


def make_plots(jets: dict[str, Jets], out: Path) -> list[Path]:
    """Single and average jet images per class, mass / multiplicity / pT histograms (``out/physics``)."""
    plots = out / "physics"
    plots.mkdir(parents=True, exist_ok=True)
    written = []
    images = {t: j.to_images(npix=NPIX, extent=EXTENT) for t, j in jets.items()}
    for t, img in images.items():
        path = plots / f"jet_images_{t}.png"
        plotting.image_grid(
            img[:12], title=f"{JET_CLASS_NAMES[t]} jets ({NPIX}x{NPIX}, ptrel per pixel)", path=path
        )
        written.append(path)
    path = plots / "average_images.png"
    plotting.average_images({JET_CLASS_NAMES[t]: img for t, img in images.items()}, path=path)
    written.append(path)
    for name, values, bins, label in (
        (
            "mass",
            {JET_CLASS_NAMES[t]: j.mass for t, j in jets.items()},
            np.linspace(0, 300, 61),
            "jet mass [GeV]",
        ),
        (
            "pt",
            {JET_CLASS_NAMES[t]: j.pt for t, j in jets.items()},
            np.linspace(750, 1650, 46),
            "jet pT [GeV]",
        ),
        (
            "multiplicity",
            {JET_CLASS_NAMES[t]: j.num_particles for t, j in jets.items()},
            np.arange(0.5, max(j.max_particles for j in jets.values()) + 1.5),
            "constituents kept",
        ),
        (
            "occupancy",
            {JET_CLASS_NAMES[t]: (img > 0).mean((1, 2)) for t, img in images.items()},
            np.linspace(0, 0.05, 51),
            f"fraction of non-zero pixels ({NPIX}x{NPIX})",
        ),
    ):
        path = plots / f"{name}.png"
        plotting.histograms(values, bins=bins, xlabel=label, path=path)
        written.append(path)
    return written


def summary_table(jets: dict[str, Jets]) -> str:
    """Markdown table: mass peak / quantiles and multiplicity per class."""
    rows = [
        "| class | jets | mass mode [GeV] | mass 16/50/84 % [GeV] | multiplicity (kept) | occupancy "
        f"{NPIX}x{NPIX} |",
        "|---|---|---|---|---|---|",
    ]
    for t, j in jets.items():
        hist, edges = np.histogram(j.mass, bins=np.arange(0, 400, 5))
        mode = edges[hist.argmax()] + 2.5
        q = np.percentile(j.mass, [16, 50, 84])
        occ = (j.to_images() > 0).mean()
        rows.append(
            f"| {JET_CLASS_NAMES[t]} | {len(j)} | {mode:.0f} | {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} | "
            f"{j.num_particles.mean():.1f} ± {j.num_particles.std():.1f} | {occ:.3f} |"
        )
    return "\n".join(rows)


def training_overrides(args: argparse.Namespace) -> list[str]:
    """The LightningCLI arguments that make the config train on the demo's data."""
    data = {"jet_types": args.jet_type, "num_jets": args.num_jets, "num_particles": args.num_particles,
            "seed": args.seed, "generation_workers": args.workers, "preset": args.preset}
    argv = [item for key, value in data.items() for item in (f"--data.init_args.{key}", str(value))]
    if args.max_time:
        argv += ["--trainer.max_time", args.max_time]
    return argv


def train(args: argparse.Namespace) -> str:
    """Fit the config on the demo's data; returns the best checkpoint (copied to ``out/checkpoints``)."""
    from sparsegen.models.training import fit

    out = Path(args.out)
    # a fresh run each time: checkpoints of an earlier demo (other epochs, last-v1.ckpt, ...) would sit
    # next to this run's and could be mistaken for it
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    res = fit(args.config, out, seed=args.seed, logger="csv" if args.no_wandb else "wandb",
              overrides=training_overrides(args), progress_bar=True)
    if not res.best:
        raise RuntimeError("training wrote no checkpoint")
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)
    for src, name in ((res.best, "best.ckpt"), (res.last, "last.ckpt")):
        if src and Path(src).resolve() != (ckpt_dir / name).resolve():
            with atomic_write(ckpt_dir / name, suffix=".ckpt") as tmp:
                shutil.copyfile(src, tmp)
    return str(ckpt_dir / "best.ckpt")


RATIO_KEYS = (("w1m", "W1M"), ("w1p", "W1P"), ("w1efp", "W1EFP"), ("fpd", "FPD"), ("kpd", "KPD"),
              ("w1_tau21", "τ21 W1"), ("w1_tau32", "τ32 W1"), ("w1_multiplicity", "multiplicity W1"))


def floor_ratios(metrics: dict) -> str:
    """One line: every distance as a multiple of its truth floor (how far from a perfect generator)."""
    parts = []
    for key, label in RATIO_KEYS:
        value = (metrics.get(key) or {}).get("value")
        floor = (metrics.get("truth_floor", {}).get(key) or {}).get("value")
        if value is not None and floor:
            parts.append(f"{label} {value / floor:.2g}×")
    auc = (metrics.get("classifier_auc") or {}).get("value")
    return "generated vs real in units of the truth floor: " + ", ".join(parts) + (
        f"; classifier AUC {auc:.3f} (0.5: indistinguishable)" if auc is not None else "")


def reproduce_commands(out: Path, n_gen: int, seed: int, quick: bool) -> list[str]:
    """Shell commands that run as printed in a fresh shell (any folder): sample the best checkpoint again and
    score it exactly as the demo did (into ``out/reproduced/``), and sync the wandb run (after ``wandb
    login``)."""
    here = Path.cwd().resolve()
    bindir = Path(sys.executable).parent
    if bindir.resolve().is_relative_to(here):
        bindir = bindir.resolve().relative_to(here)
    exe, q = shlex.quote(str(bindir / "sparsegen")), lambda p: shlex.quote(str(p))
    cd = f"cd {q(here)} && "
    again = out / "reproduced"
    sample = (f"{exe} sample --ckpt {q(out / 'checkpoints' / 'best.ckpt')} --num-jets {n_gen} --seed {seed} "
              f"--out {q(again / 'gen.h5')}")
    score = (f"{exe} evaluate --real {q(out / 'real_heldout.h5')} --gen {q(again / 'gen.h5')} --seed {seed}"
             f"{' --quick' if quick else ''} --out {q(again / 'metrics.json')}")
    lines = [f"{cd}{sample} && {score}"]
    runs = sorted((out / "wandb").glob("offline-run-*")) if (out / "wandb").exists() else []
    if runs:
        lines.append(f"{cd}{shlex.quote(str(bindir / 'wandb'))} sync {q(runs[-1])}")
    return lines


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sparsegen.data.cache import load_or_generate
    from sparsegen.metrics.evaluation import evaluate
    from sparsegen.metrics.report import metrics_table, write_metrics
    from sparsegen.models.spec import load_model

    _check(args)
    start = time.perf_counter()
    times: dict[str, float] = {}
    out = Path(args.out)
    jets = physics_data(args)
    heldout = load_or_generate(
        args.jet_type, args.heldout, args.num_particles, args.seed + 1, workers=args.workers,
        preset=args.preset
    )
    times["data"] = time.perf_counter() - start
    written = make_plots(jets, out)
    write_text(out / "physics_summary.md", summary_table(jets) + "\n")
    print(summary_table(jets))
    print(f"physics plots ({len(written)}) in {out / 'physics'}/ [{time.perf_counter() - start:.0f} s]")

    step = time.perf_counter()
    best = train(args)
    times["training"] = time.perf_counter() - step
    model = load_model(best)
    n_gen = len(heldout) // 2
    step = time.perf_counter()
    gen = model.sample(n_gen, seed=args.seed, progress=True)
    times["sampling"] = time.perf_counter() - step
    heldout.save(out / "real_heldout.h5")
    gen.save(out / "generated.h5", attrs={"checkpoint": best, "seed": args.seed})
    real, gen = Jets.load(out / "real_heldout.h5"), Jets.load(out / "generated.h5")
    step = time.perf_counter()
    metrics = evaluate(
        real, gen, seed=args.seed, quick=args.quick_metrics, progress=True, plots_dir=out / "plots"
    )
    times["evaluation"] = time.perf_counter() - step
    write_metrics(out / "metrics.json", metrics)

    Console().print(
        metrics_table(metrics, title=f"quickstart: {n_gen} generated vs {n_gen} held-out real jets")
    )
    print(floor_ratios(metrics))
    print(f"\nplots: {out / 'plots'}/ (metrics), {out / 'physics'}/ (data); metrics: {out / 'metrics.json'}")
    cmds = reproduce_commands(out, n_gen, args.seed, args.quick_metrics)
    print("reproduce the metrics (-> reproduced/metrics.json, identical to metrics.json):", cmds[0],
          sep="\n  ")
    if len(cmds) > 1:
        print("sync the wandb run (after `wandb login`):", cmds[1], sep="\n  ")
    total = time.perf_counter() - start
    print(f"demo finished in {total:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
          + f" (sampling {n_gen / max(times['sampling'], 1e-9):.0f} jets/s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m sparsegen.demo [flags]`` (bad input: one line on stderr, exit 2)."""
    parser = ArgumentParser(prog="python -m sparsegen.demo", description=HELP)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except SparsegenInputError as exc:
        print(f"sparsegen demo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
