"""How fast do the point models sample, against Pythia8+FastJet and an MPGAN-sized generator? jets/s and
ratios.

In one run, on the same machine and the same number of cores:

* Pythia8 + FastJet: ``generate_chunk`` of one default 500-jet chunk of gluon jets (the full pipeline the
  data module uses: Pythia init and events, anti-kT clustering, truth matching, constituent features) in
  one process;
* every config in ``configs/points/``: built from its config, trained for ``--train-steps`` optimizer steps
  on the cached gluon jets (speed does not depend on the weights, but this is a real trained model), then
  ``model.sample(num_jets, batch_size)`` — the whole path to `Jets` (un-normalization, sorting, jet
  features) — timed after a small warm-up (message-passing generators in batches of ``--mp-batch-size``);
* the published-size MPGAN generator (fully connected message passing, fe=[96, 160, 192], fn=[256, 256],
  32 features per particle, 2 iterations) in a `WGANGP`, sampled the same way.

``--threads`` (default 1) sets torch's intra-op threads for the models; Pythia runs in one process, so the
default compares one core with one core. Ratios are model jets/s over Pythia jets/s and over the
MPGAN-sized generator's jets/s. The best point model by FPD is read from the generative study's gluon runs
(``sparsegen study generative``, ``--results`` folder) when they exist. Last line: JSON.

    .venv/bin/python bench/sampling_speed.py                      # ~3 min on a 2-core CPU
    .venv/bin/python bench/sampling_speed.py --num-jets 2000 --batch-size 2000 --train-steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sparsegen.data.generate import GenerationConfig, generate_chunk
from sparsegen.models import WGANGP, GenerativeModel
from sparsegen.models.components import MPCritic, MPGenerator
from sparsegen.models.training import fit

ROOT = Path(__file__).resolve().parents[1]


def pythia_jets_per_s(num_jets: int, seed: int) -> float:
    """Full Pythia8 + FastJet pipeline, one process: jets/s of one chunk (initialization included)."""
    cfg = GenerationConfig("g", num_particles=30, seed=seed)
    start = time.perf_counter()
    pf, _, _ = generate_chunk(cfg, 0, num_jets)
    return len(pf) / (time.perf_counter() - start)


def trained_model(config: Path, steps: int, num_jets: int, seed: int) -> tuple[GenerativeModel, object]:
    """The config's model after ``steps`` optimizer steps (no validation)."""
    with tempfile.TemporaryDirectory() as run_dir:
        res = fit(config, run_dir, seed=seed, num_jets=num_jets, save_config=False,
                  overrides=["--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "0",
                             "--trainer.num_sanity_val_steps", "0", "--trainer.enable_model_summary", "false",
                             "--trainer.accelerator", "cpu"])
    return res.model, res.datamodule


def jets_per_s(model: GenerativeModel, num_jets: int, batch_size: int, seed: int) -> float:
    model.sample(min(200, num_jets), batch_size=min(200, batch_size), seed=seed)  # warm-up
    start = time.perf_counter()
    jets = model.sample(num_jets, batch_size=batch_size, seed=seed)
    return len(jets) / (time.perf_counter() - start)


def best_by_fpd(results: Path) -> str | None:
    """The point config with the lowest FPD among the study's ``<results>/<config>/result.json``."""
    rows = (
        [json.loads(f.read_text()) for f in sorted(results.glob("*/result.json"))] if results.is_dir() else []
    )
    scored = [
        r
        for r in rows
        if r.get("family") == "points" and r["metrics"].get("fpd", {}).get("value") is not None
    ]
    return min(scored, key=lambda r: r["metrics"]["fpd"]["value"])["config"] if scored else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-jets", type=int, default=10_000, help="jets sampled per point model")
    p.add_argument("--batch-size", type=int, default=10_000, help="sample() batch size")
    p.add_argument(
        "--mp-batch-size",
        type=int,
        default=1000,
        help="sample() batch size of message-passing generators (their (B, P, P, edge) tensors take "
        "GBs at 10k jets)",
    )
    p.add_argument("--mpgan-jets", type=int, default=1000, help="jets sampled from the MPGAN-sized generator")
    p.add_argument("--pythia-jets", type=int, default=500, help="jets generated with Pythia8+FastJet")
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--train-jets", type=int, default=10_000, help="cached gluon jets for the training steps")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads for the models")
    p.add_argument("--configs", nargs="*", default=None, help="config stems (default: all in configs/points)")
    p.add_argument(
        "--results", default="runs/study_generative/g", help="generative-study runs of one jet class"
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    configs = sorted((ROOT / "configs" / "points").glob("*.yaml"))
    if args.configs:
        configs = [c for c in configs if c.stem in args.configs]

    pythia = pythia_jets_per_s(args.pythia_jets, args.seed)
    print(f"Pythia8+FastJet (1 process): {pythia:.0f} jets/s", flush=True)
    rates: dict[str, float] = {}
    datamodule = None
    for cfg in configs:
        model, datamodule = trained_model(cfg, args.train_steps, args.train_jets, args.seed)
        message_passing = isinstance(getattr(model, "generator", None), MPGenerator)
        batch = min(args.batch_size, args.mp_batch_size) if message_passing else args.batch_size
        rates[cfg.stem] = jets_per_s(model, args.num_jets, batch, args.seed)
        print(f"{cfg.stem}: {rates[cfg.stem]:.0f} jets/s", flush=True)
    mpgan = WGANGP(MPGenerator(), MPCritic(), ema_decay=None)
    if datamodule is not None:
        mpgan.data_info = datamodule.data_info()
        mpgan.on_data_info()
    mpgan_rate = jets_per_s(mpgan, args.mpgan_jets, min(args.batch_size, args.mp_batch_size, 500), args.seed)
    print(
        f"MPGAN-sized generator (fe=[96,160,192], fn=[256,256], 2 iterations): {mpgan_rate:.0f} jets/s",
        flush=True,
    )

    print("\n| model | jets/s | × Pythia8+FastJet | × MPGAN-sized generator |\n|---|---|---|---|")
    for name, r in rates.items():
        print(f"| {name} | {r:.0f} | {r / pythia:.1f} | {r / mpgan_rate:.1f} |")
    print(f"| MPGAN-sized generator | {mpgan_rate:.0f} | {mpgan_rate / pythia:.2f} | 1 |")
    print(f"| Pythia8+FastJet | {pythia:.0f} | 1 | {pythia / mpgan_rate:.2f} |")
    best = best_by_fpd(Path(args.results))
    summary = {
        "bench": "sampling_speed",
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "num_jets": args.num_jets,
        "batch_size": args.batch_size,
        "train_steps": args.train_steps,
        "pythia_jets_per_s": round(pythia, 1),
        "mpgan_sized_jets_per_s": round(mpgan_rate, 1),
        "models": {
            k: {
                "jets_per_s": round(v, 1),
                "vs_pythia": round(v / pythia, 2),
                "vs_mpgan_sized": round(v / mpgan_rate, 2),
            }
            for k, v in rates.items()
        },
        "best_by_fpd": best,
    }
    if best in rates:
        summary["best_vs_pythia"] = round(rates[best] / pythia, 2)
        summary["best_vs_mpgan_sized"] = round(rates[best] / mpgan_rate, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
