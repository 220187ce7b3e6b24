"""``make demo`` (``sparsegen demo`` = ``python -m sparsegen.demo``): the main job on generated Pythia jets.

1. data: generate (or reuse from the cache) the training jets of ``--jet-type`` with ``--num-particles``
   particles, ``--per-class`` jets of every other class (physics plots) and an independent held-out sample
   (seed + 1) for evaluation;
2. train the teacher, the shipped ``quickstart`` config (a flow on particle sets), on exactly that data, then
   distil it into the fast model, ``distill/quickstart`` (a student that samples in one network
   evaluation per jet; ``--distill none`` keeps the teacher); wandb offline logger, image panels logged
   during training, each config's kept checkpoint is used;
3. sample as many jets as half the held-out sample (10 000 by default) from the scored model and score
   them against one half of it with the published JetNet settings, the real-vs-real truth floor from the
   other half;
4. time Pythia8 + FastJet (one ``--speed-jets`` chunk) and the models (one torch thread each) in this
   process: jets/s and the ratio;
5. write ``runs/quickstart/``: ``metrics.json`` (the scored model), ``teacher_metrics.json`` (its teacher,
   scored the same way, with ``--score-teacher``), ``speed.json``, ``plots/*.png``, ``physics/*.png``,
   ``checkpoints/{best,last,teacher}.ckpt`` (best: the scored model), ``config.yaml`` (its resolved
   config), ``teacher/`` and ``student/`` (the two fits: configs, logs, wandb runs), ``real_heldout.h5``,
   ``generated.h5``; print the metrics table, each metric's ratio to its truth floor, the speeds, where the
   plots are, the time every step took, and the commands that reproduce the numbers and sync the wandb
   runs.

Every flag reaches the step that uses it: data settings go to the generation, the training config
(``--data.init_args.*``) and the evaluation alike.
"""

from __future__ import annotations

import argparse
import json
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
    p.add_argument("--config", default="quickstart",
                   help="the teacher's config (file, or a shipped config's name)")
    p.add_argument("--distill", default="distill/quickstart",
                   help="config of the fast student distilled from the teacher, the model scored; 'none': "
                        "score the teacher itself")
    p.add_argument("--max-time", default=None, help="override the teacher's training budget, DD:HH:MM:SS")
    p.add_argument("--distill-max-time", default=None, help="override the distillation budget, DD:HH:MM:SS")
    p.add_argument("--score-teacher", action="store_true",
                   help="also sample and score the teacher like the fast model (teacher_metrics.json)")
    p.add_argument("--speed-jets", type=int, default=500,
                   help="Pythia8+FastJet jets timed against the models (same run, one core each)")
    p.add_argument("--no-wandb", action="store_true", help="log with CSV instead of wandb (offline)")
    p.add_argument("--quick-metrics", action="store_true", help="smaller metric sample sizes")
    p.add_argument("--out", default="runs/quickstart")


def _check(args: argparse.Namespace) -> None:
    for name in ("num_jets", "per_class", "num_particles", "workers", "heldout", "speed_jets"):
        if getattr(args, name) < 1:
            raise SparsegenInputError(
                f"--{name.replace('_', '-')}", f"must be >= 1, got {getattr(args, name)}"
            )
    args.config = str(config_path(args.config))
    args.distill = None if args.distill == "none" else str(config_path(args.distill))


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


def training_overrides(args: argparse.Namespace, max_time: str | None) -> list[str]:
    """The LightningCLI arguments that make a config train on the demo's data."""
    data = {"jet_types": args.jet_type, "num_jets": args.num_jets, "num_particles": args.num_particles,
            "seed": args.seed, "generation_workers": args.workers, "preset": args.preset}
    argv = [item for key, value in data.items() for item in (f"--data.init_args.{key}", str(value))]
    if max_time:
        argv += ["--trainer.max_time", max_time]
    return argv


def train(args: argparse.Namespace, config: str, run_dir: Path, max_time: str | None,
          extra: list[str] = ()) -> tuple[str, str]:
    """Fit ``config`` on the demo's data into ``run_dir``; returns (kept, last) checkpoint paths."""
    from sparsegen.models.training import fit

    # a fresh run each time: checkpoints of an earlier demo (other epochs, last-v1.ckpt, ...) would sit
    # next to this run's and could be mistaken for it
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    res = fit(config, run_dir, seed=args.seed, logger="csv" if args.no_wandb else "wandb",
              overrides=[*training_overrides(args, max_time), *extra], progress_bar=True)
    if not res.checkpoint:
        raise RuntimeError(f"training {config} wrote no checkpoint")
    return res.checkpoint, res.last or res.checkpoint


def publish(out: Path, checkpoints: dict[str, str], config: Path) -> None:
    """Copy the demo's checkpoints to ``out/checkpoints/NAME.ckpt`` and the scored model's resolved config
    to ``out/config.yaml`` (atomically)."""
    ckpt_dir = out / "checkpoints"
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    ckpt_dir.mkdir(parents=True)
    for name, src in checkpoints.items():
        with atomic_write(ckpt_dir / f"{name}.ckpt", suffix=".ckpt") as tmp:
            shutil.copyfile(src, tmp)
    write_text(out / "config.yaml", config.read_text())


def speed(args: argparse.Namespace, models: dict[str, object]) -> dict[str, dict]:
    """Pythia8+FastJet and each model, one core each, in this process: jets/s, and the ratio to Pythia."""
    from sparsegen.data.generate import simulation_speed
    from sparsegen.data.presets import preset_config
    from sparsegen.models.speed import network_evaluations, timed_sample

    cfg = preset_config(args.preset, args.jet_type, num_particles=args.num_particles, seed=args.seed + 2)
    pythia = simulation_speed(cfg, args.speed_jets)
    rows = {"pythia8_fastjet": {"jets_per_s": pythia}}
    for name, model in models.items():
        nfe = network_evaluations(model)
        num = max(200, min(args.speed_jets * 20, 40_000 // nfe))  # about the same seconds for every model
        jets, seconds = timed_sample(model, num, seed=args.seed + 2, threads=1)
        rows[name] = {"jets_per_s": len(jets) / seconds, "vs_pythia": len(jets) / seconds / pythia,
                      "network_evaluations": nfe, "jets": len(jets)}
    return rows


def speed_lines(rows: dict[str, dict]) -> list[str]:
    pythia = rows["pythia8_fastjet"]["jets_per_s"]
    lines = [f"  Pythia8+FastJet (one core): {pythia:.0f} jets/s"]
    for name, r in rows.items():
        if name != "pythia8_fastjet":
            lines.append(f"  {name} ({r['network_evaluations']} network evaluation"
                         f"{'s' if r['network_evaluations'] > 1 else ''} per jet, one torch thread): "
                         f"{r['jets_per_s']:.0f} jets/s = {r['vs_pythia']:.1f}× Pythia8+FastJet")
    return lines


def floor_ratios(metrics: dict) -> str:
    """One line: every distance of the registry's ``demo`` selection as a multiple of its truth floor (how
    far from a perfect generator), then the metrics best at 0.5 (the classifier AUC) as values."""
    from sparsegen.metrics.registry import ratio_to_floor, select

    chosen = select(tag="demo")
    ratios = [(m.label, ratio_to_floor(metrics, m)) for m in chosen if m.better == "lower"]
    halves = [(m.label, (metrics.get(m.name) or {}).get("value")) for m in chosen if m.better == "half"]
    return "generated vs real in units of the truth floor: " + ", ".join(
        f"{label} {r:.2g}×" for label, r in ratios if r is not None) + "".join(
        f"; {label} {v:.3f} (0.5: indistinguishable)" for label, v in halves if v is not None)


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
    runs = sorted(out.glob("*/wandb/offline-run-*"))
    if runs:
        lines.append(f"{cd}{shlex.quote(str(bindir / 'wandb'))} sync " + " ".join(q(r) for r in runs))
    return lines


def run(args: argparse.Namespace) -> int:
    import torch
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
    teacher, teacher_last = train(args, args.config, out / "teacher", args.max_time)
    times["training"] = time.perf_counter() - step
    kept = {"teacher": teacher}
    best, last, config = teacher, teacher_last, out / "teacher" / "config.yaml"
    if args.distill:
        step = time.perf_counter()
        best, last = train(args, args.distill, out / "student", args.distill_max_time,
                           ["--model.init_args.teacher", teacher])
        config = out / "student" / "config.yaml"
        times["distillation"] = time.perf_counter() - step
    kept.update(best=best, last=last)
    publish(out, kept, config)
    best = str(out / "checkpoints" / "best.ckpt")
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
    label = "fast model (distilled)" if args.distill else "model"
    timed = {label: model}
    teacher_metrics = None
    if args.distill:
        timed["teacher"] = load_model(out / "checkpoints" / "teacher.ckpt")
    if args.distill and args.score_teacher:  # scored the same way: what the speed costs in quality
        step = time.perf_counter()
        teacher_jets = timed["teacher"].sample(n_gen, seed=args.seed, progress=True)
        teacher_metrics = evaluate(real, teacher_jets, seed=args.seed, quick=args.quick_metrics)
        write_metrics(out / "teacher_metrics.json", teacher_metrics)
        times["teacher scoring"] = time.perf_counter() - step
    step = time.perf_counter()
    rows = speed(args, timed)
    times["speed"] = time.perf_counter() - step
    write_text(out / "speed.json", json.dumps(rows, indent=1) + "\n")

    Console().print(
        metrics_table(metrics, title=f"{label}: {n_gen} generated vs {n_gen} held-out real jets")
    )
    print(floor_ratios(metrics))
    if teacher_metrics is not None:
        nfe = rows["teacher"]["network_evaluations"]
        print(f"the teacher ({nfe} network evaluations per jet), scored the same way: "
              + floor_ratios(teacher_metrics).split(": ", 1)[1])
    print("speed, measured in this run:", *speed_lines(rows), sep="\n")
    print(f"\nplots: {out / 'plots'}/ (metrics), {out / 'physics'}/ (data); metrics: {out / 'metrics.json'}")
    cmds = reproduce_commands(out, n_gen, args.seed, args.quick_metrics)
    print("reproduce the metrics (-> reproduced/metrics.json, identical to metrics.json):", cmds[0],
          sep="\n  ")
    if len(cmds) > 1:
        print("sync the wandb run (after `wandb login`):", cmds[1], sep="\n  ")
    total, rate = time.perf_counter() - start, n_gen / max(times["sampling"], 1e-9)
    print(f"demo finished in {total:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
          + f" (sampling on {torch.get_num_threads()} torch thread(s): {rate:.0f} jets/s)")
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
