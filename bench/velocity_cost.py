"""Where a flow's sampling time goes: microseconds per jet of one network evaluation of `EPiCVelocity`
variants (the demo's teacher and cheaper students), one torch thread, inference mode.

A sampler's cost is (network evaluations per jet) × (this cost) plus the un-normalization into `Jets`; the
demo's teacher makes 64 evaluations of the first variant. Last line: JSON.

    .venv/bin/python bench/velocity_cost.py
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from sparsegen.models.components import EPiCVelocity

VARIANTS = {
    "teacher (hidden 64, 3 EPiC layers, FiLM, 3 attention blocks)": {"attention": 3},
    "1 attention block": {"attention": 1},
    "no attention": {"attention": 0},
    "hidden 48, 1 attention block": {"hidden": 48, "attention": 1},
    "hidden 32, 1 attention block": {"hidden": 32, "attention": 1},
    "3 attention blocks of 1 head": {"attention": 3, "heads": 1},
}


def microseconds_per_jet(net: torch.nn.Module, batch: int, particles: int, repeats: int) -> float:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, particles, 3, generator=g)
    mask = torch.arange(particles)[None] < torch.randint(10, particles + 1, (batch, 1), generator=g)
    t = torch.rand(batch, generator=g)
    with torch.inference_mode():
        net(x, mask, t)
        start = time.perf_counter()
        for _ in range(repeats):
            net(x, mask, t)
    return (time.perf_counter() - start) / repeats / batch * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=1024, help="jets per evaluation (the sampler's chunk)")
    p.add_argument("--particles", type=int, default=30)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = {}
    for name, kw in VARIANTS.items():
        net = EPiCVelocity(**({"hidden": 64, "global_dim": 32, "num_layers": 3, "film": True, "cond_dim": 0}
                              | kw)).eval()
        us = microseconds_per_jet(net, args.batch, args.particles, args.repeats)
        out[name] = round(us, 1)
        print(f"{name}: {us:.1f} µs/jet per evaluation ({1e6 / us:.0f} jets/s at one evaluation)", flush=True)
    print(json.dumps({"bench": "velocity_cost", "threads": 1, "batch": args.batch, "us_per_jet": out}))


if __name__ == "__main__":
    main()
