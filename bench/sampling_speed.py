"""Speed at quality: jets/s of a generator against Pythia8+FastJet, with the quality of the same model at the
same setting, in one run.

In one process, one core each:

* Pythia8 + FastJet: one ``--pythia-jets`` chunk of the checkpoint's jet class with the settings of its
  training data (the `jetnet` preset unless the data said otherwise), the full pipeline the data module uses
  (Pythia initialization and events, anti-kT clustering, truth matching, constituent features);
* every checkpoint (``--ckpt``, default the demo's ``runs/quickstart/checkpoints/best.ckpt``) at every number
  of network evaluations per jet in ``--nfe`` (a flow-matching teacher: midpoint steps of two evaluations,
  one Euler step for 1; classifier-free guidance doubles the evaluations of a step; a distilled student:
  its own step count only): ``model.sample`` of ``--num-jets`` jets on ``--threads`` torch threads, the
  whole path to `Jets`, timed after a warm-up; then those jets scored against ``--num-jets`` held-out real
  jets (seed + 1, the demo's held-out sample) with the published settings, the truth floor from as many
  other held-out jets.

Ratios are model jets/s over Pythia jets/s. Quality columns are multiples of the truth floor.
Last line: JSON.

    .venv/bin/python bench/sampling_speed.py                                    # the demo's model
    .venv/bin/python bench/sampling_speed.py --ckpt teacher.ckpt student.ckpt --nfe 1 2 4 8 16 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from sparsegen.core.defaults import PRESET
from sparsegen.data.cache import load_or_generate
from sparsegen.data.generate import simulation_speed
from sparsegen.data.presets import preset_config
from sparsegen.metrics.evaluation import evaluate
from sparsegen.metrics.registry import ratio_to_floor, select
from sparsegen.models import FlowDistillation, FlowMatching, GenerativeModel
from sparsegen.models.spec import load_model
from sparsegen.models.speed import network_evaluations, timed_sample


def settings(model: GenerativeModel, nfe: list[int]) -> list[dict]:
    """The sampling settings that run the model at each number of evaluations per jet it can run at (a
    distilled student, or a model that is not a flow: its own)."""
    if isinstance(model, FlowDistillation) or not isinstance(model, FlowMatching):
        return [{}]
    per_eval = 2 if float(model.hparams.get("guidance", 0.0)) > 0 else 1
    out = []
    for n in nfe:
        evals = n // per_eval
        if evals == 1:
            out.append({"num_steps": 1, "solver": "euler"})
        elif evals >= 2 and evals % 2 == 0:
            out.append({"num_steps": evals // 2, "solver": "midpoint"})
    return out


def ratios(metrics: dict) -> dict[str, float]:
    """The demo's selection: each distance as a multiple of its truth floor, the AUC as its value."""
    out = {}
    for m in select(tag="demo"):
        entry = metrics.get(m.name) or {}
        value = ratio_to_floor(metrics, m) if m.better == "lower" else entry.get("value")
        if value is not None:
            out[m.name] = value
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", nargs="+", default=["runs/quickstart/checkpoints/best.ckpt"])
    p.add_argument("--nfe", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64],
                   help="network evaluations per jet (flow-matching teachers)")
    p.add_argument("--num-jets", type=int, default=10_000, help="jets sampled and real jets scored against")
    p.add_argument("--pythia-jets", type=int, default=500, help="jets generated with Pythia8+FastJet")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads for the models")
    p.add_argument("--preset", default=PRESET, help="generation settings of the training data")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    missing = [path for path in args.ckpt if not Path(path).is_file()]
    if missing:
        print(f"bench/sampling_speed.py: error: {missing[0]}: no such checkpoint (the default is the demo's: "
              "run `make demo` first, or give --ckpt)", file=sys.stderr)
        sys.exit(2)
    models = {path: load_model(path) for path in args.ckpt}
    info = next(iter(models.values())).data_info
    jet_type, preset = info.spec.classes[0], args.preset
    cfg = preset_config(preset, jet_type, num_particles=info.num_particles, seed=args.seed)
    pythia = simulation_speed(cfg, args.pythia_jets)
    print(f"Pythia8+FastJet ({jet_type} jets, preset {preset}, 1 process): {pythia:.0f} jets/s", flush=True)
    real = load_or_generate(jet_type, 2 * args.num_jets, info.num_particles, args.seed + 1, workers=1,
                            preset=preset)
    rows = []
    for path, model in models.items():
        for overrides in settings(model, args.nfe):
            nfe = network_evaluations(model, **overrides)
            jets, seconds = timed_sample(model, args.num_jets, args.seed, args.threads, **overrides)
            metrics = evaluate(real, jets, seed=args.seed)
            row = {"ckpt": path, "model": type(model).__name__, "nfe": nfe, **overrides,
                   "jets_per_s": round(len(jets) / seconds, 1),
                   "vs_pythia": round(len(jets) / seconds / pythia, 2),
                   "quality": {k: round(v, 3) for k, v in ratios(metrics).items()}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    chosen = select(tag="demo")
    head = " | ".join(m.label for m in chosen)
    print(f"\n| model | evaluations / jet | jets/s | × Pythia8+FastJet | {head} |\n|"
          + "---|" * (4 + len(chosen)))
    for r in rows:
        q = r["quality"]
        cells = " | ".join("–" if m.name not in q else f"{q[m.name]:.2g}×" if m.better == "lower"
                           else f"{q[m.name]:.3f}" for m in chosen)
        print(f"| {Path(r['ckpt']).name} ({r['model']}) | {r['nfe']} | {r['jets_per_s']:.0f} | "
              f"{r['vs_pythia']:.1f} | {cells} |")
    print(json.dumps({"bench": "sampling_speed", "threads": args.threads, "cpu_count": os.cpu_count(),
                      "num_jets": args.num_jets, "jet_type": jet_type, "pythia_jets_per_s": round(pythia, 1),
                      "rows": rows}))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
