"""Short real training of every point config at the same wall-clock budget, scored with the metrics.

Each config in ``configs/points/`` is trained on the same cached Pythia gluon jets (10k, 30 particles, seed 0)
for ``--minutes`` of wall clock (Lightning ``max_time``), the best checkpoint by ``val/w1m`` is restored, as
many jets as the validation+test splits hold are sampled and compared with them by
`sparsegen.metrics.evaluate` (quick sample sizes, classifier two-sample test and truth floor included).
Prints a markdown table (``load``: the machine's 1-minute load average during training — on a shared CPU,
other jobs take part of the budget) and, last, one JSON line.

    .venv/bin/python bench/point_models.py --minutes 5            # ~40 min on a 2-core CPU
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

ROOT = Path(__file__).resolve().parents[1]
METRICS = (("w1m", "W1M ×10³", 1e3), ("w1p", "W1P ×10³", 1e3), ("w1efp", "W1EFP ×10⁵", 1e5),
           ("fpd", "FPD ×10³", 1e3), ("kpd", "KPD ×10³", 1e3), ("w1_multiplicity", "multiplicity W1", 1.0),
           ("classifier_auc", "classifier AUC", 1.0))


def run_config(config: Path, minutes: float, out: Path, num_jets: int, seed: int, classifier: bool) -> dict:
    run_dir = out / config.stem
    fit = fit_with_budget(config, minutes, run_dir, num_jets, seed)
    model, real, best = fit["cli"].model, fit["real"], fit["best"]
    start = time.perf_counter()
    gen = model.sample(len(real), batch_size=1000, seed=seed)
    sample_s = time.perf_counter() - start
    metrics = evaluate(real, gen, seed=seed, quick=True, classifier=classifier, plots_dir=run_dir / "plots")
    return {
        "config": config.stem, "train_s": fit["train_s"], "epochs": fit["epochs"],
        "steps": fit["steps"], "critic_steps": fit["critic_steps"],
        "best_checkpoint": os.path.basename(best), "sample_jets_per_s": len(gen) / sample_s,
        "negative_ptrel_fraction": float((gen.particles[..., 2][gen.mask] <= 0).mean()),
        "load_average": fit["load"],
        "metrics": metrics,
    }


def table(rows: list[dict]) -> str:
    head = "| config | epochs | steps | load | " + " | ".join(label for _, label, _ in METRICS) + " |"
    lines = [head, "|" + "---|" * (4 + len(METRICS))]
    for r in rows:
        m = r["metrics"]
        lines.append(f"| {r['config']} | {r['epochs']} | {r['steps']} | {r.get('load_average', float('nan')):.1f} | "
                     + " | ".join(fmt(m.get(k), s) for k, _, s in METRICS) + " |")
    if rows:
        tf = rows[0]["metrics"].get("truth_floor", {})
        lines.append("| *truth floor (real vs real)* | | | | " + " | ".join(fmt(tf.get(k), s) for k, _, s in METRICS) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0, help="wall-clock training budget per config")
    p.add_argument("--num-jets", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--configs", nargs="*", default=None, help="config stems (default: all in configs/points)")
    p.add_argument("--no-classifier", action="store_true", help="skip the classifier two-sample test")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (1: on a shared 2-core CPU, oversubscribed threads stall)")
    p.add_argument("--out", default="runs/point_models")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    configs = sorted((ROOT / "configs" / "points").glob("*.yaml"))
    if args.configs:
        configs = [c for c in configs if c.stem in args.configs]
    out = Path(args.out)
    rows = []
    for cfg in configs:
        print(f"== {cfg.stem}: training for {args.minutes} min", flush=True)
        rows.append(run_config(cfg, args.minutes, out, args.num_jets, args.seed, not args.no_classifier))
        print(table(rows[-1:]), flush=True)
    md = table(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(md + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1, default=float))
    print(md)
    best = min(rows, key=lambda r: r["metrics"]["fpd"]["value"] or np.inf)["config"] if rows else None
    summary = {r["config"]: {k: r["metrics"][k]["value"] for k, _, _ in METRICS if k in r["metrics"]}
               | {"epochs": r["epochs"], "steps": r["steps"], "sample_jets_per_s": r["sample_jets_per_s"]}
               for r in rows}
    print(json.dumps({"bench": "point_models", "minutes_per_config": args.minutes, "threads": args.threads,
                      "best_by_fpd": best,
                      "results": summary}, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
