"""Full evaluation at JetNet's published protocol: the time of `sparsegen evaluate` and of the JetNet library.

    bash bench/jetnet_env.sh                        # once: the JetNet library in its own venv (.venv-jetnet)
    python bench/evaluate_speed.py                  # 100,000 real + 50,000 generated gluon jets
    python bench/evaluate_speed.py --files real.h5 gen.h5 [--threads 2] [--repeats 2]

1. **Full report**: ``sparsegen.metrics.evaluation.evaluate(real, gen)`` with the published settings
   (``PUBLISHED``): 50,000 generated vs 50,000 real jets and the truth floor (another 50,000 real jets vs the
   same 50,000), every metric of the report — W1M, W1P, W1EFP, FPD, KPD, the sparsity metrics, the
   N-subjettiness W1s and the classifier AUC — with pixelization, EFPs and N-subjettiness included.
2. **JetNet metric set** (W1M, W1P, W1EFP, FPD, KPD from the jets, EFPs and jet masses included) on the same
   50,000 vs 50,000 jets: by sparsegen here, and by the JetNet library (``jetnet.evaluation``, 0.2.5) in a
   subprocess of its own venv — it cannot share ours (``--jetnet-venv``; skipped with a note when absent).
   JetNet has no truth floor, N-subjettiness or classifier: compare like with like.

Both sides get ``--threads`` threads (torch; JetNet's numba KPD threads and energyflow EFP jobs). Untimed
warm-up calls on 200 jets come first on both sides (JetNet's numba kernels compile there). The load average
of the machine is printed next to every timing: on shared cores the times grow with it.

Without ``--files`` the jets come from the generation cache (``sparsegen.data.cache``, preset ``jetnet``):
100,000 real gluon jets (seed 0) and 50,000 "generated" ones (seed 1, an independent sample). The first run
generates them with Pythia8 + FastJet at ~150 jets/s per core: ~15 minutes with ``--workers 2``, an hour with
one busy core. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sparsegen.core.jets import Jets
from sparsegen.core.kinematics import relative_mass
from sparsegen.metrics import distances as D
from sparsegen.metrics import evaluation as E
from sparsegen.metrics.efp import W1EFP_INDICES, efps

ROOT = Path(__file__).resolve().parents[1]
JETNET_SET = ("w1m", "w1p", "w1efp", "fpd", "kpd")

# Runs inside the JetNet venv: the JetNet metric set on two .npz files of (N, P, 3) particles and masks.
JETNET_WORKER = r"""
import json, os, sys, time, warnings
import numpy as np, torch
threads = int(sys.argv[3])
torch.set_num_threads(threads)
warnings.simplefilter("ignore")
import jetnet
from jetnet.evaluation import fpd, get_fpd_kpd_jet_features, kpd, w1efp, w1m, w1p
real, gen = np.load(sys.argv[1]), np.load(sys.argv[2])
xr, mr, xg, mg = real["particles"], real["mask"], gen["particles"], gen["mask"]

def run(xr, mr, xg, mg, n_eval, fpd_sizes, kpd_size):
    out, times = {}, {}
    def timed(name, fn):
        start = time.perf_counter()
        value = fn()
        times[name] = time.perf_counter() - start
        return value
    def per_feature(result):
        means, stds = result
        return [float(np.mean(means)), [float(v) for v in means], [float(v) for v in stds]]
    out["w1m"] = [float(v) for v in timed("w1m", lambda: w1m(xr, xg, num_eval_samples=n_eval))]
    out["w1p"] = per_feature(timed("w1p", lambda: w1p(xr, xg, mr, mg, num_eval_samples=n_eval)))
    out["w1efp"] = per_feature(timed("w1efp", lambda: w1efp(xr, xg, num_eval_samples=n_eval,
                                                              efp_jobs=threads)))
    fr, fg = timed("efps", lambda: [get_fpd_kpd_jet_features(x, efp_jobs=threads) for x in (xr, xg)])
    fpd_value = timed("fpd", lambda: fpd(fr, fg, min_samples=fpd_sizes[0], max_samples=fpd_sizes[1]))
    out["fpd"] = [float(v) for v in fpd_value]
    kpd_value = timed("kpd", lambda: kpd(fr, fg, batch_size=kpd_size, num_threads=threads))
    out["kpd"] = [float(v) for v in kpd_value]
    return out, times

run(xr[:200], mr[:200], xg[:200], mg[:200], 200, (100, 200), 100)  # warm-up: numba compiles here
start = time.perf_counter()
values, times = run(xr, mr, xg, mg, 50_000, (20_000, 50_000), 5_000)
times["total"] = time.perf_counter() - start
print(json.dumps({"version": jetnet.__version__, "values": values, "times": times}))
"""


def load_jets(args: argparse.Namespace) -> tuple[Jets, Jets]:
    """(real, generated) jets: the files given, or the generation cache (generated on first use)."""
    if args.files:
        return Jets.load(args.files[0]), Jets.load(args.files[1])
    from sparsegen.data.cache import load_or_generate

    real = load_or_generate("g", args.num_real, seed=0, workers=args.workers)
    return real, load_or_generate("g", args.num_gen, seed=1, workers=args.workers)


def load_average() -> float:
    return os.getloadavg()[0]


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, 1-minute load average at the end)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start, load_average()


def ours_jetnet_set(ref: Jets, gen: Jets, n_eval: int = 50_000, fpd_sizes: tuple[int, int] = (20_000, 50_000),
                    kpd_size: int = 5_000) -> tuple[dict[str, Any], dict[str, float]]:
    """The JetNet metric set by sparsegen (from the jets: masses and EFPs included), with per-step times."""
    values: dict[str, Any] = {}
    times: dict[str, float] = {}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - start
        return out

    values["w1m"] = step("w1m", lambda: D.w1(relative_mass(ref), relative_mass(gen), n_eval))
    batches = step("w1p", lambda: D.w1p_batches(ref, gen, num_eval_samples=n_eval))
    values["w1p"] = (float(batches.mean()), batches.mean(0).tolist(), batches.std(0).tolist())
    fr, fg = step("efps", lambda: (efps(ref.particles, ref.mask), efps(gen.particles, gen.mask)))
    batches = step("w1efp", lambda: D.w1_batches(fr[:, W1EFP_INDICES], fg[:, W1EFP_INDICES], n_eval))
    values["w1efp"] = (float(batches.mean()), batches.mean(0).tolist(), batches.std(0).tolist())
    values["fpd"] = step("fpd", lambda: D.fpd(fr, fg, min_samples=fpd_sizes[0], max_samples=fpd_sizes[1]))
    values["kpd"] = step("kpd", lambda: D.kpd(fr, fg, batch_size=kpd_size))
    times["total"] = sum(times.values())
    return values, times


def jetnet_set(python: Path, ref: Jets, gen: Jets, threads: int) -> dict[str, Any]:
    """The JetNet metric set by the JetNet library in its venv (subprocess), on the same jets."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, jets in (("real", ref), ("gen", gen)):
            files.append(os.path.join(tmp, f"{name}.npz"))
            particles = np.where(jets.mask[..., None], jets.particles, 0.0).astype(np.float32)
            np.savez(files[-1], particles=particles, mask=jets.mask)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
        out = subprocess.run([str(python), "-c", JETNET_WORKER, *files, str(threads)], check=False,
                             capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"the JetNet library failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(value: Any) -> str:
    """'value ± error' of a metric result (tuple), or its mean over features."""
    if isinstance(value, list | tuple) and len(value) == 3 and isinstance(value[1], list):
        return f"{value[0]:.3e} (per feature)"
    return f"{value[0]:.3e} ± {value[1]:.1e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs=2, metavar=("REAL", "GEN"), help="real (100,000 jets) and generated")
    parser.add_argument("--num-real", type=int, default=100_000, help="cached real jets without --files")
    parser.add_argument("--num-gen", type=int, default=50_000, help="cached generated jets without --files")
    parser.add_argument("--workers", type=int, default=2, help="generation processes on first use")
    parser.add_argument("--threads", type=int, default=2, help="threads of each side (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of the full report (the best counts)")
    parser.add_argument("--jetnet-venv", default=str(ROOT / ".venv-jetnet"), help="see bench/jetnet_env.sh")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    real, gen = load_jets(args)
    ref, _, other = E.split_samples(real, gen, E.PUBLISHED.max_jets, args.seed)
    print(f"{len(real)} real, {len(gen)} generated jets: {len(ref)} vs {len(other)} compared, truth floor "
          f"{len(ref)} more real; {args.threads} threads, {os.cpu_count()} CPUs, load {load_average():.2f}")

    E.evaluate(real[:400], gen[:200], settings=E.QUICK, seed=args.seed)  # warm-up: imports, thread pools
    ours_jetnet_set(ref[:200], other[:200], 200, (100, 200), 100)
    fulls = []
    for _ in range(args.repeats):
        metrics, seconds, load = timed(lambda: E.evaluate(real, gen, seed=args.seed))
        fulls.append((seconds, load))
        print(f"full report: {seconds:.1f} s (load {load:.2f})", flush=True)
    (values, times), _, set_load = timed(lambda: ours_jetnet_set(ref, other))

    python = Path(args.jetnet_venv) / "bin" / "python"
    jetnet: dict[str, Any] | None = None
    if python.exists():
        jetnet, _, jetnet_load = timed(lambda: jetnet_set(python, ref, other, args.threads))
    else:
        print(f"{args.jetnet_venv}: no JetNet venv (bash bench/jetnet_env.sh makes it): JetNet not timed")
        jetnet_load = float("nan")

    print(f"\n{'step':<24} {'sparsegen':>10} {'JetNet':>10} {'ratio':>7}   {'sparsegen value':<26} "
          "JetNet value")
    for name in ("w1m", "w1p", "efps", "w1efp", "fpd", "kpd", "total"):
        theirs = jetnet["times"][name] if jetnet else float("nan")
        ours_v = fmt(values[name]) if name in values else ""
        theirs_v = fmt(jetnet["values"][name]) if jetnet and name in jetnet["values"] else ""
        label = {"efps": "EFPs d<=4 (FPD/KPD)", "total": "JetNet set, total"}.get(name, name.upper())
        ratio = theirs / times[name]
        print(f"{label:<24} {times[name]:>9.2f}s {theirs:>9.2f}s {ratio:>6.1f}x   {ours_v:<26} {theirs_v}")
    best, best_load = min(fulls)
    print(f"{'full report (evaluate)':<24} {best:>9.1f}s {'-':>10} {'':>7}   truth floor, sparsity, tau, "
          f"classifier included")
    loads = ", ".join(f"{x[1]:.2f}" for x in fulls)
    print(f"load average: full report {loads}; JetNet set: ours {set_load:.2f}, JetNet {jetnet_load:.2f}")
    print(json.dumps({
        "bench": "evaluate_speed", "num_jets": len(ref), "threads": args.threads, "cpus": os.cpu_count(),
        "full_s": round(best, 2), "full_runs_s": [round(x[0], 2) for x in fulls],
        "jetnet_set_ours_s": round(times["total"], 2),
        "jetnet_set_jetnet_s": round(jetnet["times"]["total"], 2) if jetnet else None,
        "ratio": round(jetnet["times"]["total"] / times["total"], 1) if jetnet else None,
        "ours_steps_s": {k: round(v, 3) for k, v in times.items()},
        "jetnet_steps_s": {k: round(v, 3) for k, v in jetnet["times"].items()} if jetnet else None,
        "load": {"full": [round(x[1], 2) for x in fulls], "set_ours": round(set_load, 2),
                 "set_jetnet": round(jetnet_load, 2)},
        "jetnet_version": jetnet["version"] if jetnet else None,
        "full_report": {k: metrics[k] for k in ("w1m", "w1p", "w1efp", "fpd", "kpd", "classifier_auc")},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
