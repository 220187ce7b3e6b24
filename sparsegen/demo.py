"""``make demo``: the main job on the embedded default (generated Pythia8 + FastJet jets).

1. data: generate (or reuse from the cache) 10k gluon jets with 30 particles, 1k jets of every other class
   (physics plots) and an independent held-out sample of 4k gluon jets (seed 1) for evaluation;
2. train ``configs/quickstart.yaml`` (wandb offline logger; image panels logged during training);
3. restore the best checkpoint (by ``val/w1m``), sample as many jets as half the held-out sample,
   evaluate against it with the real-vs-real truth floor;
4. write ``runs/quickstart/``: ``metrics.json``, ``plots/*.png``, ``checkpoints/{best,last}.ckpt``,
   ``config.yaml`` (resolved), ``real_heldout.h5``, ``generated.h5``; print the metrics table, where the
   plots are, and the commands that reproduce the numbers and sync the wandb run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sparsegen import plotting
from sparsegen.data.datamodule import cached_jets_path, load_or_generate
from sparsegen.data.generate import GenerationConfig
from sparsegen.data.io import JET_TYPES
from sparsegen.errors import SparsegenInputError
from sparsegen.jets import Jets

ROOT = Path(__file__).resolve().parents[1]
CLASS_NAMES = {"g": "gluon", "q": "light quark", "t": "top", "w": "W", "z": "Z"}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sparsegen.demo", description=__doc__)
    p.add_argument("--num-jets", type=int, default=10_000, help="gluon jets in the default dataset")
    p.add_argument("--per-class", type=int, default=1_000, help="jets of each other class for the comparison plots")
    p.add_argument("--num-particles", type=int, default=30)
    p.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout", type=int, default=4_000, help="independent real gluon jets (seed+1) for evaluation")
    p.add_argument("--config", default=str(ROOT / "configs" / "quickstart.yaml"))
    p.add_argument("--max-time", default=None, help="override the training budget, DD:HH:MM:SS")
    p.add_argument("--no-wandb", action="store_true", help="log with CSV instead of wandb (offline)")
    p.add_argument("--quick-metrics", action="store_true", help="smaller metric sample sizes")
    p.add_argument("--out", default="runs/quickstart")
    return p.parse_args(argv)


def physics_data(args: argparse.Namespace) -> dict[str, Jets]:
    """The default gluon dataset and one sample per other class (cached)."""
    jets = {}
    for t in JET_TYPES:
        n = args.num_jets if t == "g" else args.per_class
        cfg = GenerationConfig(t, num_particles=args.num_particles, seed=args.seed)
        print(f"[{t}] {n} {CLASS_NAMES[t]} jets -> {cached_jets_path(cfg, n)}")
        jets[t] = load_or_generate(t, n, args.num_particles, args.seed, workers=args.workers)
    return jets


def make_plots(jets: dict[str, Jets], out: str) -> list[str]:
    """Single and average jet images per class, mass / multiplicity / pT histograms (``out/physics``)."""
    plots = os.path.join(out, "physics")
    os.makedirs(plots, exist_ok=True)
    written = []
    images = {t: j.to_images(npix=32, extent=0.8) for t, j in jets.items()}
    for t, img in images.items():
        path = os.path.join(plots, f"jet_images_{t}.png")
        plotting.image_grid(img[:12], title=f"{CLASS_NAMES[t]} jets (32x32, ptrel per pixel)", path=path)
        written.append(path)
    path = os.path.join(plots, "average_images.png")
    plotting.average_images({CLASS_NAMES[t]: img for t, img in images.items()}, path=path)
    written.append(path)
    for name, values, bins, label in (
        ("mass", {CLASS_NAMES[t]: j.mass for t, j in jets.items()}, np.linspace(0, 300, 61), "jet mass [GeV]"),
        ("pt", {CLASS_NAMES[t]: j.pt for t, j in jets.items()}, np.linspace(750, 1650, 46), "jet pT [GeV]"),
        ("multiplicity", {CLASS_NAMES[t]: j.num_particles for t, j in jets.items()},
         np.arange(0.5, max(j.max_particles for j in jets.values()) + 1.5), "constituents kept"),
        ("occupancy", {CLASS_NAMES[t]: (img > 0).mean((1, 2)) for t, img in images.items()},
         np.linspace(0, 0.05, 51), "fraction of non-zero pixels (32x32)"),
    ):
        path = os.path.join(plots, f"{name}.png")
        plotting.histograms(values, bins=bins, xlabel=label, path=path)
        written.append(path)
    return written


def summary_table(jets: dict[str, Jets]) -> str:
    """Markdown table: mass peak / quantiles and multiplicity per class."""
    rows = ["| class | jets | mass mode [GeV] | mass 16/50/84 % [GeV] | multiplicity (kept) | occupancy 32x32 |",
            "|---|---|---|---|---|---|"]
    for t, j in jets.items():
        hist, edges = np.histogram(j.mass, bins=np.arange(0, 400, 5))
        mode = edges[hist.argmax()] + 2.5
        q = np.percentile(j.mass, [16, 50, 84])
        occ = (j.to_images() > 0).mean()
        rows.append(f"| {CLASS_NAMES[t]} | {len(j)} | {mode:.0f} | {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} | "
                    f"{j.num_particles.mean():.1f} ± {j.num_particles.std():.1f} | {occ:.3f} |")
    return "\n".join(rows)


def train(args: argparse.Namespace) -> tuple[object, str]:
    """Fit the quickstart config; returns (cli, best checkpoint path)."""
    from sparsegen.lightning_cli import build_cli

    out = Path(args.out)
    argv = ["--config", args.config]
    if args.no_wandb:
        argv += ["--trainer.logger", "pytorch_lightning.loggers.CSVLogger", "--trainer.logger.save_dir", str(out)]
    else:
        argv += ["--config", str(ROOT / "configs" / "logger" / "wandb.yaml"), "--trainer.logger.init_args.save_dir",
                 str(out), "--trainer.logger.init_args.name", "quickstart"]
    argv += ["--trainer.default_root_dir", str(out), "--data.init_args.num_jets", str(args.num_jets),
             "--data.init_args.seed", str(args.seed), "--seed_everything", str(args.seed)]
    if args.max_time:
        argv += ["--trainer.max_time", args.max_time]
    cli = build_cli(argv, run=False)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(cli.parser.dump(cli.config, skip_none=False))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)
    cbs = cli.trainer.checkpoint_callbacks
    best = next((c.best_model_path for c in cbs if c.monitor and c.best_model_path), "")
    last = next((c.last_model_path for c in cbs if c.last_model_path), "")
    if not (best or last):
        raise RuntimeError("training wrote no checkpoint")
    for src, name in ((best or last, "best.ckpt"), (last, "last.ckpt")):
        if src and Path(src).resolve() != (ckpt_dir / name).resolve():
            shutil.copyfile(src, ckpt_dir / name)
    return cli, str(ckpt_dir / "best.ckpt")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    start = time.perf_counter()
    out = Path(args.out)
    try:
        jets = physics_data(args)
        heldout = load_or_generate("g", args.heldout, args.num_particles, args.seed + 1, workers=args.workers)
    except SparsegenInputError as exc:
        print(f"sparsegen demo: error: {exc}", file=sys.stderr)
        return 2
    written = make_plots(jets, str(out))
    (out / "physics_summary.md").write_text(summary_table(jets) + "\n")
    print(summary_table(jets))
    print(f"physics plots ({len(written)}) in {out / 'physics'}/ [{time.perf_counter() - start:.0f} s]")

    cli, best = train(args)
    from sparsegen.metrics.evaluate import evaluate, metrics_table, write_json_atomic
    from sparsegen.models.spec import load_model

    model = load_model(best)
    n_gen = len(heldout) // 2
    gen = model.sample(n_gen, seed=args.seed, progress=True)
    heldout.save(out / "real_heldout.h5")
    gen.save(out / "generated.h5", attrs={"checkpoint": best, "seed": args.seed})
    real, gen = Jets.load(out / "real_heldout.h5"), Jets.load(out / "generated.h5")
    metrics = evaluate(real, gen, seed=args.seed, quick=args.quick_metrics, progress=True, plots_dir=out / "plots")
    write_json_atomic(out / "metrics.json", metrics)

    from rich.console import Console

    Console().print(metrics_table(metrics, title=f"quickstart: {n_gen} generated vs {n_gen} held-out real jets"))
    print(f"\nplots: {out / 'plots'}/ (metrics), {out / 'physics'}/ (data); metrics: {out / 'metrics.json'}")
    print("reproduce: sparsegen sample --ckpt {0}/checkpoints/best.ckpt --num-jets {1} --seed {2} --images "
          "--out gen.h5 && sparsegen evaluate --real {0}/real_heldout.h5 --gen gen.h5 --seed {2}{3}"
          .format(out, n_gen, args.seed, " --quick" if args.quick_metrics else ""))
    runs = sorted((out / "wandb").glob("offline-run-*")) if (out / "wandb").exists() else []
    if runs:
        print(f"wandb (offline): wandb sync {runs[-1]}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
