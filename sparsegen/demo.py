"""``make demo``: the main job on the embedded default (generated Pythia8 + FastJet jets).

Generates (or reuses from the cache) the default dataset, 10k gluon jets with 30 particles, plus a
smaller sample of every other class, and writes jet-image and physics plots to ``runs/demo/plots``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Sequence

import numpy as np

from sparsegen.data.cli import file_info
from sparsegen.data.datamodule import cached_jets_path, load_or_generate
from sparsegen.data.generate import GenerationConfig
from sparsegen.data.io import JET_TYPES
from sparsegen.errors import SparsegenInputError
from sparsegen.jets import Jets
from sparsegen import plotting

CLASS_NAMES = {"g": "gluon", "q": "light quark", "t": "top", "w": "W", "z": "Z"}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sparsegen.demo", description=__doc__)
    p.add_argument("--num-jets", type=int, default=10_000, help="gluon jets in the default dataset")
    p.add_argument("--per-class", type=int, default=1_000, help="jets of each other class for the comparison plots")
    p.add_argument("--num-particles", type=int, default=30)
    p.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/demo")
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
    """Single and average jet images per class, mass / multiplicity / pT histograms."""
    plots = os.path.join(out, "plots")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    start = time.perf_counter()
    try:
        jets = physics_data(args)
    except SparsegenInputError as exc:
        print(f"sparsegen demo: error: {exc}", file=sys.stderr)
        return 2
    written = make_plots(jets, args.out)
    table = summary_table(jets)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "physics_summary.md"), "w") as f:
        f.write(table + "\n")
    g_file = cached_jets_path(GenerationConfig("g", num_particles=args.num_particles, seed=args.seed), args.num_jets)
    with open(os.path.join(args.out, "dataset.json"), "w") as f:
        json.dump(file_info(g_file), f, indent=2)
    print()
    print(table)
    print(f"\nplots ({len(written)}) in {os.path.join(args.out, 'plots')}/; default dataset: {g_file}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
