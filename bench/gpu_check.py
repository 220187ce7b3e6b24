"""GPU check (``make gpu-check``): every config trains on CUDA, samples fast, and the sparse convs run there.

For every config in ``configs/quickstart.yaml``, ``configs/images/`` and ``configs/points/``:

1. ``--steps`` optimizer steps (default 300) on CUDA through `sparsegen.models.training.fit`, with mixed
   precision where it is safe: ``bf16-mixed`` for flow matching and the VAEs; full precision for the GANs
   (the WGAN gradient penalty differentiates through the critic twice, which autocast makes unstable);
2. ``--num-jets`` (default 100 000) jets sampled from the trained model, timed after a warm-up: µs per jet;
3. the sparse-convolution bench (``bench/sparse_conv.py --device cuda``).

Prints a table and, as the last line, one JSON object. On a machine without a CUDA device it prints one
line saying so and exits with status 0 (nothing to check; CI and the tests never need a GPU).

    .venv/bin/python bench/gpu_check.py [--steps 300] [--num-jets 100000] [--configs flow_matching ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FULL_PRECISION = ("WGANGP",)


def configs(names: list[str] | None) -> list[Path]:
    from sparsegen.core.resources import model_configs

    found = [model_configs()[0], *model_configs("images"), *model_configs("points")]  # quickstart first
    return [p for p in found if not names or p.stem in names]


def precision_for(config: Path) -> str:
    """bf16 autocast unless the model is a GAN with a gradient penalty."""
    from sparsegen.core.compose import resolved_config

    model = resolved_config(config)["model"]["class_path"].rsplit(".", 1)[-1]
    return "32-true" if model in FULL_PRECISION else "bf16-mixed"


def check_config(config: Path, steps: int, num_jets: int, batch: int, seed: int) -> dict:
    from sparsegen.models.training import fit

    precision = precision_for(config)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        res = fit(config, run_dir, seed=seed, save_config=False,
                  overrides=["--trainer.accelerator", "gpu", "--trainer.devices", "1", "--trainer.precision",
                             precision, "--trainer.max_steps", str(steps), "--trainer.max_epochs", "10000",
                             "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0",
                             "--trainer.enable_model_summary", "false"])
        train_s = time.perf_counter() - start
    model = res.model.cuda().eval()
    model.sample(min(num_jets, 2 * batch), batch_size=batch, seed=seed)  # warm-up (kernels, allocator)
    torch.cuda.synchronize()
    start = time.perf_counter()
    jets = model.sample(num_jets, batch_size=batch, seed=seed)
    torch.cuda.synchronize()
    sample_s = time.perf_counter() - start
    return {"precision": precision, "steps": res.steps, "train_s": round(train_s, 1),
            "train_steps_per_s": round(res.steps / train_s, 1), "jets": len(jets),
            "us_per_jet": round(1e6 * sample_s / len(jets), 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="optimizer steps per config")
    p.add_argument("--num-jets", type=int, default=100_000, help="jets sampled per model")
    p.add_argument("--batch-size", type=int, default=10_000, help="sample() batch size")
    p.add_argument("--configs", nargs="*", default=None, help="config stems (default: all)")
    p.add_argument("--no-sparse-conv", action="store_true", help="skip the sparse-conv bench")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine; nothing to check (CI and the tests never need one)")
        return 0
    device = torch.cuda.get_device_name(0)
    print(f"gpu-check on {device}, torch {torch.__version__}", flush=True)
    rows = {}
    for config in configs(args.configs):
        rows[config.stem] = check_config(config, args.steps, args.num_jets, args.batch_size, args.seed)
        r = rows[config.stem]
        print(f"{config.stem}: {r['steps']} steps ({r['precision']}) in {r['train_s']} s, "
              f"sampling {r['us_per_jet']} µs/jet", flush=True)
    print("\n| config | precision | steps/s | sampling µs/jet |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['precision']} | {r['train_steps_per_s']} | {r['us_per_jet']} |")
    sparse = None
    if not args.no_sparse_conv:
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "sparse_conv.py"), "--device", "cuda",
                              "--threads", "0"], capture_output=True, text=True, check=True).stdout
        print(out.rstrip())
        sparse = json.loads(out.strip().splitlines()[-1])
    print(json.dumps({"bench": "gpu_check", "device": device, "torch": torch.__version__, "configs": rows,
                      "sparse_conv": sparse}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
