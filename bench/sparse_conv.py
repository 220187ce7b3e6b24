"""Is the sparse conv faster than dense where jets are sparse, and does it scale with active sites only?

Two layers, SubmanifoldConv2d → ReLU → SubmanifoldConv2d, forward + backward (gradients w.r.t. input
features and weights), against the same stack of ``nn.Conv2d(padding=k//2)`` on the dense image.
The sparse time includes building the SparseImage and its rulebook from (coords, features) every
repeat (new batch = new sites); the rulebook build alone is reported too. Active sites are drawn
uniformly at random (seeded); one extra row uses jet-like clustered sites (Gaussian core), where each
site has more active neighbours and the sparse conv does more work. Timing: warm-up, then the median
of repeats (at least 3, no new repeat after ``--max-seconds``); steps compared with each other are
timed round-robin so that bursts of load on a shared machine hit them alike.

Prints a table, then as the last line one JSON object with the numbers, the speedup at 64²/2.5 % and
the growth of the sparse time from 64² to 256² at a fixed number of active sites.

    python bench/sparse_conv.py [--device cuda] [--threads 1] [--repeats 15]

CPU runs use one thread for both sides by default (``--threads 0`` = torch's default): on a small
machine shared with other jobs, every multi-threaded op waits for a descheduled worker thread and
the timings become scheduling noise (see docs/sparse_layers.md for 2-thread numbers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from sparsegen.nn.sparse import SparseImage, SubmanifoldConv2d
from sparsegen.nn.sparse_ops import SparseReLU

CASES = [(32, 0.05), (64, 0.025), (128, 0.006), (256, 0.003)]
FIXED_GRIDS = [64, 128, 256]


def cpu_pressure() -> float | None:
    """Linux PSI "some avg10" CPU pressure (% of time runnable tasks waited for a CPU), if available."""
    try:
        with open("/proc/pressure/cpu") as fh:
            return float(fh.readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fns: dict[str, Callable[[], None]], device: torch.device, warmup: int, repeats: int,
           max_seconds: float) -> dict[str, float]:
    """Median wall time (s) of each ``fn``, timed round-robin (a burst of load on the shared machine hits
    all of them alike) after ``warmup`` calls each (at least one; no more after ``max_seconds / 2``); at
    least 3 rounds, at most ``repeats``, and no new round after ``max_seconds``."""
    for fn in fns.values():
        t_warm = time.perf_counter()
        for i in range(warmup):
            if i > 0 and time.perf_counter() - t_warm > max_seconds / 2:
                break
            fn()
    _sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats and (rounds < 3 or time.perf_counter() - start < max_seconds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
        rounds += 1
    return {k: statistics.median(v) for k, v in times.items()}


def random_sites(b: int, h: int, w: int, num_active: int, channels: int, seed: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_active`` distinct random sites of a (B, H, W) grid (sorted) and random features."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.randperm(b * h * w, generator=g)[:num_active].sort().values
    coords = torch.stack([keys // (h * w), (keys // w) % h, keys % w], dim=1)
    feats = torch.randn(num_active, channels, generator=g)
    return coords.to(device), feats.to(device)


def clustered_sites(b: int, h: int, w: int, num_active: int, channels: int, seed: int,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Jet-like sites: per sample, ``num_active // b`` distinct pixels drawn from a Gaussian core (σ =
    H/8)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    r2 = (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2
    prob = torch.exp(-r2.flatten().double() / (2 * (h / 8) ** 2))
    per = num_active // b
    pix = torch.multinomial(prob.expand(b, -1), per, replacement=False, generator=g).sort(1).values
    keys = (torch.arange(b)[:, None] * h * w + pix).flatten()
    coords = torch.stack([keys // (h * w), (keys // w) % h, keys % w], dim=1)
    feats = torch.randn(keys.numel(), channels, generator=g)
    return coords.to(device), feats.to(device)


def make_case(grid: int, num_active: int, args: argparse.Namespace, device: torch.device,
              clustered: bool = False) -> tuple[dict[str, object], dict[str, Callable[[], None]]]:
    """Description of one case and its timed steps: ``sparse`` (SparseImage + rulebook + 2 layers fwd+bwd),
    ``rulebook`` (the rulebook build alone) and ``dense`` (2 nn.Conv2d layers fwd+bwd)."""
    b, c = args.batch, args.channels
    torch.manual_seed(args.seed)
    conv1, conv2 = SubmanifoldConv2d(c, c).to(device), SubmanifoldConv2d(c, c).to(device)
    d1, d2 = conv1.as_dense_conv(), conv2.as_dense_conv()
    relu = SparseReLU()
    sites = clustered_sites if clustered else random_sites
    coords, feats = sites(b, grid, grid, num_active, c, args.seed, device)
    shape = (b, grid, grid)
    dense_input: list[torch.Tensor] = []  # built on first use (the fixed-count cases never need it)

    def sparse_step() -> None:
        x = feats.clone().requires_grad_(True)
        out = conv2(relu(conv1(SparseImage(coords, x, shape, assume_sorted=True))))
        out.features.sum().backward()

    def rulebook_only() -> None:
        SparseImage(coords, feats, shape, assume_sorted=True).submanifold_rulebook(3)

    def dense_step() -> None:
        if not dense_input:
            dense_input.append(SparseImage(coords, feats, shape, assume_sorted=True).to_dense().contiguous())
        x = dense_input[0].clone().requires_grad_(True)
        d2(torch.relu(d1(x))).sum().backward()

    m = int(coords.shape[0])
    rb = SparseImage(coords, feats, shape, assume_sorted=True).submanifold_rulebook(3)
    info: dict[str, object] = {
        "grid": grid,
        "sites": "clustered" if clustered else "uniform",
        "active": m,
        "occupancy": m / (b * grid * grid),
        "pairs_per_site": rb.num_pairs / max(1, m),
    }
    return info, {"sparse": sparse_step, "rulebook": rulebook_only, "dense": dense_step}


def bench_case(grid: int, num_active: int, args: argparse.Namespace, device: torch.device,
               clustered: bool = False) -> dict[str, object]:
    """Sparse vs dense at one grid size / occupancy."""
    info, steps = make_case(grid, num_active, args, device, clustered)
    t = timeit({"sparse": steps["sparse"], "rulebook": steps["rulebook"]}, device, args.warmup, args.repeats,
               args.max_seconds)
    t.update(timeit({"dense": steps["dense"]}, device, args.warmup, args.repeats, args.max_seconds))
    return {**info, "sparse_ms": 1e3 * t["sparse"], "rulebook_ms": 1e3 * t["rulebook"],
            "dense_ms": 1e3 * t["dense"], "speedup": t["dense"] / t["sparse"]}


def bench_fixed_active(
    num_active: int, args: argparse.Namespace, device: torch.device
) -> list[dict[str, object]]:
    """Sparse time at the same number of active sites on growing grids (timed round-robin)."""
    cases = {grid: make_case(grid, num_active, args, device) for grid in FIXED_GRIDS}
    fns = {f"{g}/{k}": steps[k] for g, (_, steps) in cases.items() for k in ("sparse", "rulebook")}
    t = timeit(fns, device, args.warmup, args.repeats, args.max_seconds)
    return [{**info, "sparse_ms": 1e3 * t[f"{g}/sparse"], "rulebook_ms": 1e3 * t[f"{g}/rulebook"]}
            for g, (info, _) in cases.items()]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--max-seconds", type=float, default=8.0, help="time cap per measurement (min 3 repeats)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads for both sparse and dense (0: torch's default). 1 by default: "
        "on a loaded shared machine multi-threaded small ops stall on scheduling",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    pressure_before = cpu_pressure()

    rows = []
    for grid, occ in CASES:
        rows.append(bench_case(grid, round(args.batch * grid * grid * occ), args, device))
    rows.append(bench_case(32, round(args.batch * 32 * 32 * 0.05), args, device, clustered=True))
    fixed_m = round(args.batch * 64 * 64 * 0.025)
    fixed = bench_fixed_active(fixed_m, args, device)

    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)"
    )
    print(
        f"SubmanifoldConv2d x2 (+ReLU) fwd+bwd vs nn.Conv2d, B={args.batch}, C={args.channels}, k=3, {name}"
    )
    print(f"{'grid':>6} {'sites':>9} {'occupancy':>10} {'active':>7} {'pairs/site':>10} {'sparse ms':>10} "
          f"{'(rulebook)':>11} {'dense ms':>10} {'speedup':>8}")
    for r in rows + fixed:
        if r is fixed[0]:
            print(f"fixed active count {fixed_m} as the grid grows:")
        dense_cols = f" {r['dense_ms']:>10.1f} {r['speedup']:>7.1f}x" if "dense_ms" in r else ""
        print(f"{r['grid']:>4}^2 {r['sites']:>9} {100 * r['occupancy']:>9.3f}% {r['active']:>7d} "
              f"{r['pairs_per_site']:>10.2f} {r['sparse_ms']:>10.2f} {r['rulebook_ms']:>11.2f}{dense_cols}")
    at64 = next(r for r in rows if r["grid"] == 64)
    growth = fixed[-1]["sparse_ms"] / fixed[0]["sparse_ms"]
    summary: dict[str, object] = {
        "bench": "sparse_conv",
        "device": name,
        "batch": args.batch,
        "channels": args.channels,
        "cases": rows,
        "fixed_active": {"active": fixed_m, "cases": fixed},
        "cpu_pressure_avg10": [pressure_before, cpu_pressure()],
        "speedup_64_2.5pct": round(at64["speedup"], 2),
        "growth_64_to_256_fixed_active": round(growth, 3),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
