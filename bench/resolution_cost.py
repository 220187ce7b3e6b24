"""Cost against resolution: what a training step and a sampled jet cost at npix 32, 64 and 128 over the same
extent, for every image config and for the demo's point flow read out as images.

Each image config (``configs/images/``) is built from its YAML at each ``--npix`` (the data's
``npix``; everything else as shipped) with batch ``--batch-size`` on ``--num-jets`` cached gluon jets of all
their constituents, and trained by a plain Lightning Trainer for ``--warmup`` + ``--batches`` batches on
``--threads`` torch threads: seconds per training batch (a GAN: one critic step, plus the generator step of
every ``n_critic``-th batch). The model it leaves then samples ``--sample-jets`` jets (`timed_sample`: the
whole path to `Jets` with their images, after a warm-up). The point flow (``--flow``, the demo's
``quickstart``) trains on particles, whatever the grid, and its sampled jets are pixelized at each npix
(`Jets.to_images`, timed with the sampling).

Growth = cost at the largest npix over cost at the smallest. Sparse-aware configs state ``trunk_pixels``, so
their generators and decoders refine active cells instead of growing with the grid, and their sparse critics
and encoders read the active sites only (`sparsegen.models.components.image_refine`). Last line: JSON.

    .venv/bin/python bench/resolution_cost.py            # ~15 min on a 2-core CPU
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from train_throughput import throughput  # bench/ is the script's folder: its sibling's clock

from sparsegen.core.resources import config_path, model_configs
from sparsegen.models.speed import timed_sample


def occupancy(images: np.ndarray) -> float:
    return float((images > 0).mean())


def image_config(cfg: Path, npix: int, args: argparse.Namespace) -> dict:
    extra = ["--data.init_args.npix", str(npix), "--data.init_args.num_jets", str(args.num_jets)]
    models: list = []
    step = throughput(cfg, extra, args.batches, args.warmup, args.batch_size, args.seed, models)
    jets, seconds = timed_sample(models[0], args.sample_jets, seed=args.seed, threads=args.threads)
    return {"seconds_per_step": step["seconds_per_batch"], "jets_per_s": args.sample_jets / seconds,
            "occupancy": occupancy(jets.images)}


def point_flow(cfg: Path, npixes: list[int], args: argparse.Namespace, extent: float) -> dict[int, dict]:
    models: list = []
    step = throughput(cfg, ["--data.init_args.num_jets", str(args.num_jets)], args.batches, args.warmup,
                      args.batch_size, args.seed, models)
    jets, seconds = timed_sample(models[0], args.sample_jets, seed=args.seed, threads=args.threads)
    out = {}
    for npix in npixes:
        start = time.perf_counter()
        images = jets.to_images(npix=npix, extent=extent)
        pixelize = time.perf_counter() - start
        out[npix] = {"seconds_per_step": step["seconds_per_batch"],
                     "jets_per_s": args.sample_jets / (seconds + pixelize), "occupancy": occupancy(images)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--npix", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--batches", type=int, default=8, help="timed training batches per config and npix")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--num-jets", type=int, default=6000, help="training jets (cost does not depend on it)")
    p.add_argument("--sample-jets", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--configs", nargs="*", default=None, help="image config stems (default: all)")
    p.add_argument("--flow", default="quickstart", help="the point flow read out as images ('none': skip)")
    p.add_argument("--extent", type=float, default=0.4, help="the images' half-width (the image configs')")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    configs = [c for c in model_configs("images") if not args.configs or c.stem in args.configs]
    rows: dict[str, dict[int, dict]] = {}
    for cfg in configs:
        rows[cfg.stem] = {}
        for npix in args.npix:
            rows[cfg.stem][npix] = image_config(cfg, npix, args)
            r = rows[cfg.stem][npix]
            print(f"{cfg.stem} @ {npix}²: {r['seconds_per_step']:.3f} s/step, {r['jets_per_s']:.0f} jets/s, "
                  f"occupancy {r['occupancy']:.4f}", flush=True)
    if args.flow != "none":
        name = f"{Path(args.flow).stem} (points, pixelized)"
        rows[name] = point_flow(config_path(args.flow), args.npix, args, args.extent)
        print(f"{name}: {rows[name]}", flush=True)
    lo, hi = min(args.npix), max(args.npix)
    head = " | ".join(f"{n}² s/step | {n}² jets/s" for n in args.npix)
    print(f"\n| model ({args.threads} thread, batch {args.batch_size}) | {head} | step growth {lo}²→{hi}² | "
          f"sampling growth {lo}²→{hi}² |")
    print("|---|" + "---|" * (2 * len(args.npix) + 2))
    summary = {}
    for name, by in rows.items():
        cells = " | ".join(f"{by[n]['seconds_per_step']:.3f} | {by[n]['jets_per_s']:.0f}" for n in args.npix)
        step_growth = by[hi]["seconds_per_step"] / by[lo]["seconds_per_step"]
        sample_growth = by[lo]["jets_per_s"] / by[hi]["jets_per_s"]
        print(f"| {name} | {cells} | {step_growth:.2f}× | {sample_growth:.2f}× |")
        summary[name] = {"step_growth": round(step_growth, 2), "sampling_growth": round(sample_growth, 2),
                         **{f"seconds_per_step_{n}": round(by[n]["seconds_per_step"], 4) for n in args.npix},
                         **{f"jets_per_s_{n}": round(by[n]["jets_per_s"], 1) for n in args.npix},
                         **{f"occupancy_{n}": round(by[n]["occupancy"], 5) for n in args.npix}}
    print(json.dumps({"bench": "resolution_cost", "threads": args.threads, "batch_size": args.batch_size,
                      "npix": args.npix, "models": summary}))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
