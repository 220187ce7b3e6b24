"""What the classifier sees: the two-sample classifier AUC of a checkpoint's jets, by input.

The demo's AUC (`sparsegen.metrics.classifier`) reads every particle's (etarel, phirel, log ptrel) next to
five jet-level features (`CLASSIFIER_JET_FEATURES`: relative mass and pT, multiplicity, tau21, tau32). This
bench trains the same classifier, with the same settings, on subsets of those inputs — the particles alone,
the jet features alone, each jet feature alone — so a model's AUC can be traced to what gives it away.
``--calibrate`` also scores the jets after a monotone map of each jet's ptrel sum onto the training
distribution (fitted on a separate sample of the model), a diagnostic of how much the ptrel sum alone costs.

Real jets: the demo's held-out sample (seed + 1), ``--num-jets`` of them against as many generated; the floor
row is real against the other held-out half. Last line: JSON.

    .venv/bin/python bench/auc_breakdown.py --ckpt runs/quickstart/checkpoints/best.ckpt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from sparsegen.core.defaults import PRESET
from sparsegen.core.jets import Jets
from sparsegen.data.cache import load_or_generate
from sparsegen.metrics.classifier import classifier_auc
from sparsegen.metrics.definitions import CLASSIFIER_JET_FEATURES, classifier_jet_features
from sparsegen.metrics.registry import EvalSettings
from sparsegen.metrics.samples import Sample
from sparsegen.models.spec import load_model


def breakdown(real: Jets, gen: Jets, seed: int) -> dict[str, tuple[float, float]]:
    """AUC ± error of the classifier on each input subset (see the module docstring)."""
    cfg = EvalSettings()
    kw = {"max_jets": cfg.classifier_max_jets, "epochs": cfg.classifier_epochs, "seed": seed}
    fr, fg = (classifier_jet_features(Sample(j, None)) for j in (real, gen))
    r = Sample(real, None).jets
    g = Sample(gen, None).jets
    blank = [np.zeros((len(j), 1, 3), np.float32) for j in (r, g)]
    ones = [np.ones((len(j), 1), bool) for j in (r, g)]
    out = {"all (the metric)": classifier_auc(r, g, jet_features_real=fr, jet_features_gen=fg, **kw),
           "particles only": classifier_auc(r, g, **kw),
           "jet features only": classifier_auc(blank[0], blank[1], ones[0], ones[1], fr, fg, **kw)}
    for i, name in enumerate(CLASSIFIER_JET_FEATURES):
        out[f"{name} only"] = classifier_auc(blank[0], blank[1], ones[0], ones[1], fr[:, [i]], fg[:, [i]],
                                             **kw)
    return out


def ptrel_sum_calibrated(gen: Jets, calibration: Jets, train: Jets) -> Jets:
    """``gen`` with each jet's ptrel scaled so its ptrel sum moves to the training quantile of its rank in
    ``calibration`` (another sample of the same model)."""
    def sums(j: Jets) -> np.ndarray:
        return (j.particles[..., 2] * j.mask).sum(1)

    level = np.searchsorted(np.sort(sums(calibration)), sums(gen)) / len(calibration)
    target = np.quantile(sums(train), np.clip(level, 0.0, 1.0))
    particles = gen.particles.copy()
    particles[..., 2] *= (target / np.maximum(sums(gen), 1e-12))[:, None]
    return Jets.from_particles(particles, gen.mask, pt=gen.pt, eta=gen.eta, jet_type=gen.labels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", nargs="+", default=["runs/quickstart/checkpoints/best.ckpt"])
    p.add_argument("--num-jets", type=int, default=10_000)
    p.add_argument("--calibrate", action="store_true", help="also score the ptrel-sum-calibrated jets")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--preset", default=PRESET)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    missing = [c for c in args.ckpt if not Path(c).is_file()]
    if missing:
        print(f"bench/auc_breakdown.py: error: {missing[0]}: no such checkpoint", file=sys.stderr)
        sys.exit(2)
    models = {c: load_model(c) for c in args.ckpt}
    info = next(iter(models.values())).data_info
    jet_type, n = info.spec.classes[0], args.num_jets
    real = load_or_generate(jet_type, 2 * n, info.num_particles, args.seed + 1, workers=1, preset=args.preset)
    ref, other = real[:n], real[n:]
    rows = {"truth floor (real vs real)": breakdown(ref, other, args.seed)}
    train = load_or_generate(jet_type, n, info.num_particles, args.seed, workers=1, preset=args.preset) \
        if args.calibrate else None
    for path, model in models.items():
        gen = model.sample(n, seed=args.seed)
        rows[path] = breakdown(ref, gen, args.seed)
        if train is not None:
            calibration = model.sample(n // 2, seed=args.seed + 1000)
            calibrated = ptrel_sum_calibrated(gen, calibration, train)
            rows[f"{path}, ptrel sum calibrated"] = breakdown(ref, calibrated, args.seed)
        print(f"{path}: " + ", ".join(f"{k} {v[0]:.3f}" for k, v in rows[path].items()), flush=True)
    inputs = list(next(iter(rows.values())))
    print(f"\n| jets ({n} vs {n}) | " + " | ".join(inputs) + " |\n|" + "---|" * (len(inputs) + 1))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[k][0]:.3f} ± {r[k][1]:.3f}" for k in inputs) + " |")
    print(json.dumps({"bench": "auc_breakdown", "num_jets": n, "jet_type": jet_type,
                      "rows": {k: {i: round(v[0], 4) for i, v in r.items()} for k, r in rows.items()}}))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
