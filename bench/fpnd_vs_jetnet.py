"""FPND: sparsegen's implementation vs the JetNet library itself, on the same jets.

The JetNet library runs in its own venv (``bash bench/jetnet_env.sh`` makes ``.venv-jetnet``; JetNet is never
a dependency of sparsegen); sparsegen runs here. Both read JetNet's published resources from the
installed ``jetnet`` package. For every file (one class each: g, q or t, 30 particles) the same first
``--num-jets`` jets are scored by ``jetnet.evaluation.fpnd`` and by ``sparsegen.metrics.fpnd.fpnd``; the
table shows both and their relative difference, and the last line is JSON with the largest relative
difference, which must be <= ``--tolerance`` (1e-3) or the script exits 1.

Without ``--files`` it generates ``--num-jets`` jets per class with ``--preset`` (default ``jetnet``) and
``--seed`` into the generation cache first.

    bash bench/jetnet_env.sh
    python bench/fpnd_vs_jetnet.py                                  # g, q, t: 2,000 preset jets each
    python bench/fpnd_vs_jetnet.py --files g.h5 q.h5 t.h5 --num-jets 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sparsegen.core.defaults import JET_TYPES
from sparsegen.core.jets import Jets
from sparsegen.core.kinematics import relative_kinematics
from sparsegen.metrics.fpnd import FEATURE_MAXES, fpnd, fpnd_activations, load_particlenet

ROOT = Path(__file__).resolve().parents[1]
NUM_COMPARED_ACTIVATIONS = 512

# Runs inside the JetNet venv: FPND by the library, plus the activations of the first jets by its network.
JETNET_WORKER = r"""
import json, os, sys, time, warnings
import numpy as np, torch
torch.set_num_threads(int(sys.argv[4]))
warnings.simplefilter("ignore")
import jetnet
from jetnet.datasets import JetNet
from jetnet.evaluation import fpnd
import jetnet.evaluation.gen_metrics as gen_metrics
jets = np.load(sys.argv[1])
start = time.perf_counter()
value = fpnd(jets, jet_type=sys.argv[2], device="cpu", batch_size=int(sys.argv[5]), use_tqdm=False)
seconds = time.perf_counter() - start
pnet = gen_metrics.fpnd_dict["jetnet"][30][sys.argv[2]]["pnet"].eval()
first = JetNet.fpnd_norm(torch.tensor(jets[: int(sys.argv[6])]), inplace=False)
with torch.no_grad():
    act = pnet(first, ret_activations=True).double().numpy()
np.save(sys.argv[3], act)
res = os.path.join(os.path.dirname(gen_metrics.__file__), "fpnd_resources")
print(json.dumps({"fpnd": float(value), "seconds": seconds, "version": jetnet.__version__, "resources": res}))
"""


def jetnet_fpnd(python: Path, particles: np.ndarray, jet_type: str, threads: int, batch_size: int,
                workdir: str) -> tuple[dict, np.ndarray]:
    """FPND of ``particles`` (N, 30, 3) by the JetNet library in its venv, and its first activations."""
    jets_file = os.path.join(workdir, f"{jet_type}.npy")
    act_file = os.path.join(workdir, f"{jet_type}_act.npy")
    np.save(jets_file, particles)
    cmd = [str(python), "-c", JETNET_WORKER, jets_file, jet_type, act_file, str(threads), str(batch_size),
           str(NUM_COMPARED_ACTIVATIONS)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if out.returncode != 0:
        sys.exit(f"JetNet library failed for class {jet_type}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), np.load(act_file)


def resources_of(python: Path) -> str:
    code = ("import os, jetnet.evaluation.gen_metrics as g; "
            "print(os.path.join(os.path.dirname(g.__file__), 'fpnd_resources'))")
    out = subprocess.run([str(python), "-c", code], check=False, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"cannot import jetnet in {python}: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout.strip()


def feature_summary(jets: Jets) -> dict[str, float]:
    """Offline comparison with JetNet: maxima next to JetNet's stored FPND normalization maxima, quantiles."""
    parts = jets.particles[jets.mask]
    dr = np.hypot(parts[:, 0], parts[:, 1])
    _, _, _, m_rel = relative_kinematics(jets.particles, jets.mask)
    return {"max_abs_etarel": float(np.abs(parts[:, 0]).max()),
            "max_abs_phirel": float(np.abs(parts[:, 1]).max()),
            "max_ptrel": float(parts[:, 2].max()), "dr_q50": float(np.quantile(dr, 0.5)),
            "dr_q99": float(np.quantile(dr, 0.99)), "m_over_pt_q50": float(np.median(m_rel)),
            "pt_q50_gev": float(np.median(jets.pt)), "multiplicity_q50": float(np.median(jets.num_particles))}


def default_files(preset: str, num_jets: int, seed: int, workers: int) -> list[Path]:
    from sparsegen.data.cache import ensure_generated
    from sparsegen.data.presets import preset_config

    return [ensure_generated(preset_config(preset, jet_type, seed=seed), num_jets, workers=workers)
            for jet_type in ("g", "q", "t")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jetnet-venv", default=str(ROOT / ".venv-jetnet"),
                        help="venv made by bench/jetnet_env.sh")
    parser.add_argument("--files", nargs="*", default=None,
                        help="JetNet-layout files, one class (g/q/t) each")
    parser.add_argument("--num-jets", type=int, default=2000, help="first N jets of each file (default 2000)")
    parser.add_argument("--preset", default="jetnet", help="generation preset when no --files are given")
    parser.add_argument("--seed", type=int, default=0, help="generation seed when no --files are given")
    parser.add_argument("--workers", type=int, default=1,
                        help="generation processes when no --files are given")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on each side")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="ParticleNet batch (eval mode: no effect)")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--sparsegen-only", action="store_true",
                        help="score with sparsegen only "
                             "(no comparison; still reads the resources of the venv)")
    args = parser.parse_args()

    python = Path(args.jetnet_venv) / "bin" / "python"
    if not python.exists():
        sys.exit(f"{args.jetnet_venv}: no JetNet venv (make it with: bash bench/jetnet_env.sh)")
    torch.set_num_threads(args.threads)
    resources = resources_of(python)
    net = load_particlenet(resources)
    files = ([Path(f) for f in args.files] if args.files
             else default_files(args.preset, args.num_jets, args.seed, args.workers))
    rows, worst = [], 0.0
    print(f"{'file':<44} {'class':>5} {'jets':>6} {'JetNet':>10} {'sparsegen':>10} {'rel diff':>9} "
          f"{'max |Δact|':>10} {'s JetNet':>8} {'s ours':>7}")
    with tempfile.TemporaryDirectory() as workdir:
        for file in files:
            jets = Jets.load(file)[: args.num_jets]
            jet_type = JET_TYPES[int(np.bincount(jets.labels).argmax())]
            if args.sparsegen_only:
                ref, ref_act = {"fpnd": float("nan"), "seconds": float("nan"), "version": "-"}, None
            else:
                particles = np.where(jets.mask[..., None], jets.particles, 0.0).astype(np.float32)
                ref, ref_act = jetnet_fpnd(python, particles, jet_type, args.threads, args.batch_size,
                                           workdir)
            start = time.perf_counter()
            ours = fpnd(jets, resources, jet_type=jet_type, batch_size=args.batch_size)
            seconds = time.perf_counter() - start
            act_diff, rel = float("nan"), float("nan")
            if ref_act is not None:
                act = fpnd_activations(net, jets[:NUM_COMPARED_ACTIVATIONS])
                act_diff = float(np.abs(act - ref_act).max())
                rel = abs(ours - ref["fpnd"]) / abs(ref["fpnd"])
                worst = max(worst, rel)
            rows.append({"file": str(file), "jet_type": jet_type, "num_jets": len(jets),
                         "fpnd_jetnet": ref["fpnd"], "fpnd_sparsegen": ours, "rel_diff": rel,
                         "max_abs_activation_diff": act_diff,
                         "features": feature_summary(jets)})
            print(f"{str(file)[-44:]:<44} {jet_type:>5} {len(jets):>6} {ref['fpnd']:>10.4f} {ours:>10.4f} "
                  f"{rel:>9.1e} {act_diff:>10.1e} {ref['seconds']:>8.0f} {seconds:>7.0f}", flush=True)
    maxima = ", ".join(f"{name} {value:.3f}"
                       for name, value in zip(("|etarel|", "|phirel|", "ptrel"), FEATURE_MAXES))
    print(f"\nfeatures (JetNet's stored FPND normalization maxima: {maxima})")
    print(f"{'file':<44} {'max|eta|':>8} {'max|phi|':>8} {'max pt':>7} {'dR q50':>7} {'dR q99':>7} "
          f"{'m/pT q50':>8} {'pT q50':>7} {'mult':>5}")
    for row in rows:
        f = row["features"]
        print(f"{row['file'][-44:]:<44} {f['max_abs_etarel']:>8.3f} {f['max_abs_phirel']:>8.3f} "
              f"{f['max_ptrel']:>7.3f} {f['dr_q50']:>7.3f} {f['dr_q99']:>7.3f} {f['m_over_pt_q50']:>8.4f} "
              f"{f['pt_q50_gev']:>7.0f} {f['multiplicity_q50']:>5.0f}")
    ok = None if args.sparsegen_only else bool(worst <= args.tolerance)  # None: nothing was compared
    print(json.dumps({"bench": "fpnd_vs_jetnet", "jetnet_version": ref["version"],
                      "max_rel_diff": None if args.sparsegen_only else worst, "tolerance": args.tolerance,
                      "ok": ok, "rows": rows}))
    return 0 if ok is not False else 1


if __name__ == "__main__":
    sys.exit(main())
