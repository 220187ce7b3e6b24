"""Training throughput of every point config at batch 256: jets/s through full training steps.

Each config in ``configs/points/`` is built from its YAML with ``batch_size=256`` and trained by a plain
Lightning Trainer (no callbacks, no validation) on the cached gluon jets; the clock runs from the end of the
``--warmup`` batches to the end of the last one, jets/s = 256 × timed batches / seconds. For a GAN one
batch is one critic step plus a generator step every ``n_critic`` batches (the config's schedule).

The reference row is the MPGAN-style GAN at its published size (message-passing generator and critic,
fe=[96, 160, 192], fn=[256, 256], 2 iterations, LSGAN as in ``configs/points/mpgan.yaml``); its few
batches take tens of seconds each on a 2-core CPU. Ratios are jets/s over the reference's. Last line: JSON.

    .venv/bin/python bench/train_throughput.py                     # ~5 min on a 2-core CPU
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from sparsegen.core.resources import model_configs
from sparsegen.models.training import build_cli

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_MPGAN = [
    "--model.init_args.generator.init_args.fe",
    "[96, 160, 192]",
    "--model.init_args.generator.init_args.fn",
    "[256, 256]",
    "--model.init_args.critic.init_args.fe",
    "[96, 160, 192]",
    "--model.init_args.critic.init_args.fn",
    "[256, 256]",
]


class BatchClock(pl.Callback):
    """Wall time from the end of batch ``warmup`` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.end: float | None = None
        self.timed = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: object,
                           batch: object, batch_idx: int) -> None:
        now = time.perf_counter()
        if batch_idx + 1 == self.warmup:
            self.start = now
        elif batch_idx + 1 > self.warmup:
            self.end, self.timed = now, self.timed + 1


def throughput(config: Path, extra: list[str], batches: int, warmup: int, batch_size: int, seed: int,
               model_out: list | None = None) -> dict:
    """Timed training batches of ``config`` (``model_out``: a list the trained model is appended to)."""
    cli = build_cli(["--config", str(config), "--seed_everything", str(seed), "--data.init_args.batch_size",
                     str(batch_size), "--trainer.logger", "false", *extra], run=False)
    clock = BatchClock(warmup)
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=warmup + batches,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        callbacks=[clock],
    )
    trainer.fit(cli.model, datamodule=cli.datamodule)
    if model_out is not None:
        model_out.append(cli.model)
    seconds = clock.end - clock.start
    return {"jets_per_s": batch_size * clock.timed / seconds, "seconds_per_batch": seconds / clock.timed,
            "timed_batches": clock.timed}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--batches", type=int, default=20, help="timed batches per config")
    p.add_argument(
        "--reference-batches", type=int, default=2, help="timed batches of the published-size MPGAN"
    )
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: the CPU is shared)")
    p.add_argument("--configs", nargs="*", default=None, help="config stems (default: all in configs/points)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    configs = model_configs("points")
    if args.configs:
        configs = [c for c in configs if c.stem in args.configs]
    ref = throughput(ROOT / "configs" / "points" / "mpgan.yaml", PUBLISHED_MPGAN, args.reference_batches, 1,
                     args.batch_size, args.seed)
    print(
        f"MPGAN published size (reference): {ref['jets_per_s']:.1f} jets/s, {ref['seconds_per_batch']:.1f} "
        "s/batch",
        flush=True,
    )
    rows = {}
    for cfg in configs:
        rows[cfg.stem] = throughput(cfg, [], args.batches, args.warmup, args.batch_size, args.seed)
        print(f"{cfg.stem}: {rows[cfg.stem]['jets_per_s']:.0f} jets/s", flush=True)
    print(
        f"\n| config (batch {args.batch_size}, {args.threads} threads) | training jets/s | s/batch | × "
        "reference |\n"
        "|---|---|---|---|"
    )
    print(
        f"| MPGAN published size (reference) | {ref['jets_per_s']:.1f} | {ref['seconds_per_batch']:.2f} | 1 |"
    )
    for name, r in rows.items():
        print(
            f"| {name} | {r['jets_per_s']:.0f} | {r['seconds_per_batch']:.3f} | "
            f"{r['jets_per_s'] / ref['jets_per_s']:.0f} |"
        )
    print(
        json.dumps(
            {
                "bench": "train_throughput",
                "batch_size": args.batch_size,
                "threads": args.threads,
                "reference_mpgan_published_jets_per_s": round(ref["jets_per_s"], 2),
                "configs": {
                    k: {
                        "jets_per_s": round(v["jets_per_s"], 1),
                        "vs_reference": round(v["jets_per_s"] / ref["jets_per_s"], 1),
                    }
                    for k, v in rows.items()
                },
            }
        )
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
