"""Short real training of every image config at the same wall-clock budget, scored with the metrics.

Each config in ``configs/images/`` is trained on the same cached Pythia gluon jets (10k, seed 0) for
``--minutes`` of wall clock (Lightning ``max_time``), the best checkpoint by ``val/w1m`` is restored, as
many jets as the validation+test splits hold are sampled and compared with them by
`sparsegen.metrics.evaluate` (quick sample sizes, truth floor included). Prints a markdown table and,
last, one JSON line.

    .venv/bin/python bench/image_models.py --minutes 3            # ~25 min on a 2-core CPU
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from _budget import fit_with_budget, fmt

from sparsegen.metrics.evaluate import evaluate
from sparsegen.metrics.sparsity import occupancy

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("w1m", "w1_occupancy", "w1_pixel_intensity", "w1_multiplicity")


def run_config(config: Path, minutes: float, out: Path, num_jets: int, seed: int) -> dict:
    run_dir = out / config.stem
    fit = fit_with_budget(config, minutes, run_dir, num_jets, seed)
    model, real, best = fit["cli"].model, fit["real"], fit["best"]
    start = time.perf_counter()
    gen = model.sample(len(real) // 2, seed=seed)
    sample_s = time.perf_counter() - start
    metrics = evaluate(real, gen, seed=seed, quick=True, classifier=False, plots_dir=run_dir / "plots")
    real_occ = float(occupancy(real.to_images(32, 0.8)).mean())
    gen_occ = float(occupancy(gen.images if gen.images is not None else gen.to_images(32, 0.8)).mean())
    return {
        "config": config.stem, "train_s": fit["train_s"], "epochs": fit["epochs"], "load_average": fit["load"],
        "best_checkpoint": os.path.basename(best), "sample_jets_per_s": len(gen) / sample_s,
        "occupancy_real": real_occ, "occupancy_gen": gen_occ, "zero_fraction_gen": float((gen.images == 0).mean()),
        "metrics": metrics,
    }


def table(rows: list[dict]) -> str:
    head = ("| config | epochs | W1M ×10³ | occupancy W1 ×10³ | pixel-spectrum W1 | multiplicity W1 | "
            "mean occupancy gen / real |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        m, tf = r["metrics"], r["metrics"].get("truth_floor", {})
        lines.append(
            f"| {r['config']} | {r['epochs']} | {fmt(m.get('w1m'), 1e3)} | {fmt(m.get('w1_occupancy'), 1e3)} | "
            f"{fmt(m.get('w1_pixel_intensity'))} | {fmt(m.get('w1_multiplicity'))} | "
            f"{r['occupancy_gen']:.4f} / {r['occupancy_real']:.4f} |")
    if rows:
        tf = rows[0]["metrics"].get("truth_floor", {})
        lines.append(f"| *truth floor (real vs real)* | | {fmt(tf.get('w1m'), 1e3)} | {fmt(tf.get('w1_occupancy'), 1e3)} | "
                     f"{fmt(tf.get('w1_pixel_intensity'))} | {fmt(tf.get('w1_multiplicity'))} | |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0, help="wall-clock training budget per config")
    p.add_argument("--num-jets", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--configs", nargs="*", default=None, help="config stems (default: all in configs/images)")
    p.add_argument("--out", default="runs/image_models")
    args = p.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    configs = sorted((ROOT / "configs" / "images").glob("*.yaml"))
    if args.configs:
        configs = [c for c in configs if c.stem in args.configs]
    out = Path(args.out)
    rows = []
    for cfg in configs:
        print(f"== {cfg.stem}: training for {args.minutes} min", flush=True)
        rows.append(run_config(cfg, args.minutes, out, args.num_jets, args.seed))
        print(table(rows[-1:]), flush=True)
    md = table(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(md + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1, default=float))
    print(md)
    summary = {r["config"]: {"w1m": r["metrics"]["w1m"]["value"], "w1_occupancy": r["metrics"]["w1_occupancy"]["value"],
                             "occupancy_ratio_gen_over_real": r["occupancy_gen"] / r["occupancy_real"],
                             "epochs": r["epochs"]} for r in rows}
    print(json.dumps({"bench": "image_models", "minutes_per_config": args.minutes, "results": summary},
                     default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
