"""``sparsegen sample --ckpt CKPT --num-jets N --out FILE [--seed S] [--images]``.

Loads any sparsegen checkpoint safely (`sparsegen.models.spec.load_model`: weights-only, the model is
rebuilt from the spec stored in the checkpoint), samples in batches with a progress bar and writes the
JetNet-layout HDF5 atomically — jet pt and mass in GeV, image models' pixels too with ``--images``.
"""

from __future__ import annotations

import argparse
import time

from sparsegen.core.errors import SparsegenInputError

HELP = "sample jets from a checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="a checkpoint written by `sparsegen fit`")
    p.add_argument("--num-jets", required=True, type=int)
    p.add_argument("--out", required=True, help="output HDF5 (JetNet layout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--images", action="store_true", help="also store image models' pixels (dataset 'images')")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    import torch

    from sparsegen.models.spec import load_model

    if args.num_jets < 1:
        raise SparsegenInputError("--num-jets", f"must be >= 1, got {args.num_jets}")
    if args.batch_size < 1:
        raise SparsegenInputError("--batch-size", f"must be >= 1, got {args.batch_size}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.ckpt, device=device)
    start = time.perf_counter()
    jets = model.sample(args.num_jets, batch_size=args.batch_size, seed=args.seed, progress=not args.no_progress)
    dt = time.perf_counter() - start
    if not args.images:
        jets.images = None
    jets.save(args.out, attrs={"generator": f"sparsegen {type(model).__name__}", "checkpoint": str(args.ckpt),
                               "seed": args.seed, "units": "jet pt and mass in GeV"})
    print(f"wrote {args.out}: {len(jets)} jets in {dt:.1f} s ({len(jets) / dt:.0f} jets/s)")
    return 0
