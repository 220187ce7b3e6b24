"""``sparsegen sample --ckpt CKPT --num-jets N --out FILE [--overwrite] [--jet-type t] [--pt GeV] [--eta]
[--mass GeV] [--multiplicity n] [--conditions-from real.h5] [--allow-extrapolation] [--guidance w] [--seed S]
[--images]``.

Loads any sparsegen checkpoint safely (`sparsegen.models.spec.load_model`: weights-only, the model is
rebuilt from the spec stored in the checkpoint), samples in batches with a progress bar and writes the
JetNet-layout HDF5 atomically — jet class, pt and eta from the conditions, mass in GeV from the generated
particles, image models' pixels too with ``--images``. A conditional model takes the given conditions (the
others are drawn from the training distribution of the jet's class); ``--conditions-from`` takes the
conditions of a real file's jets one by one (its class mix and pT spectrum are reproduced exactly).

Everything that can be checked before sampling is (bad input: one line, exit 2): the options (finite,
in range), the output path (`check_output`: not a folder, writable, an existing file only with
``--overwrite``), the checkpoint, and whether the jets can fit in memory.
"""

from __future__ import annotations

import argparse
import time

from sparsegen.core.defaults import JET_TYPES
from sparsegen.core.errors import SparsegenInputError, number
from sparsegen.core.io import check_output
from sparsegen.core.memory import check_memory

HELP = "sample jets from a checkpoint (conditional models: --jet-type, --pt, ... or --conditions-from)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="a checkpoint written by `sparsegen fit`")
    p.add_argument("--num-jets", type=number(int, low=1), default=None,
                   help="jets to generate (required unless --conditions-from: default all of its jets); "
                        "refused up front when they cannot fit in memory")
    p.add_argument("--out", required=True,
                   help="output HDF5 (JetNet layout); an existing file is refused unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--jet-type", choices=JET_TYPES, default=None, help="class of every generated jet")
    p.add_argument("--pt", type=number(float, above=0), default=None,
                   help="jet pT [GeV] of every generated jet")
    p.add_argument("--eta", type=number(float), default=None, help="jet eta of every generated jet")
    p.add_argument("--mass", type=number(float, above=0), default=None,
                   help="jet mass [GeV] (models conditioned on mass)")
    p.add_argument("--multiplicity", type=number(int, low=1), default=None,
                   help="particles per jet (models conditioned on it)")
    p.add_argument("--conditions-from", default=None, metavar="FILE",
                   help="take the conditions of this file's jets one by one (JetNet layout)")
    p.add_argument("--allow-extrapolation", action="store_true",
                   help="accept conditions outside the training range")
    p.add_argument("--guidance", type=number(float, low=0), default=None, metavar="W",
                   help="classifier-free guidance (>= 0) of a flow-matching model trained with cond_dropout "
                        "(default: the checkpoint's)")
    p.add_argument("--seed", type=number(int, low=0), default=0)
    p.add_argument("--batch-size", type=number(int, low=1), default=1000)
    p.add_argument("--images", action="store_true", help="also store image models' pixels (dataset 'images')")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--no-progress", action="store_true")


def sample_bytes_per_jet(model) -> int:
    """A lower bound of the memory one sampled jet takes until the file is written: its arrays live twice
    (the batches and their concatenation) — pixels of image models, particles and mask of point models."""
    info = model.data_info
    if info.representation == "images":
        per_copy = 4 * info.npix ** 2  # float32 pixels; their particles come on top
    else:
        per_copy = (3 * 4 + 1) * info.num_particles  # float32 (etarel, phirel, ptrel) + bool mask
    return 2 * (per_copy + 5 * 4)  # + the jet features


def set_guidance(model, guidance: float) -> None:
    """Sample ``model`` with classifier-free guidance ``guidance`` (flow-matching models only)."""
    from sparsegen.models.flow_matching import check_guidance

    if "guidance" not in model.hparams:
        raise SparsegenInputError("--guidance", f"only for flow-matching models, not {type(model).__name__}")
    try:
        check_guidance(guidance, float(model.hparams["cond_dropout"]))
    except SparsegenInputError as err:
        raise SparsegenInputError("--guidance", err.problem) from None
    model.hparams.guidance = guidance


def run(args: argparse.Namespace) -> int:
    import torch

    from sparsegen.core.jets import Jets
    from sparsegen.models.spec import load_model

    given = {"class": args.jet_type, "pt": args.pt, "eta": args.eta, "mass": args.mass,
             "multiplicity": args.multiplicity}
    given = {k: v for k, v in given.items() if v is not None}
    if args.conditions_from and given:
        raise SparsegenInputError("--conditions-from", f"cannot be combined with --{next(iter(given))}")
    if args.num_jets is None and not args.conditions_from:
        raise SparsegenInputError("--num-jets", "is required (unless --conditions-from)")
    check_output(args.out, overwrite=args.overwrite)
    conditions = Jets.load(args.conditions_from) if args.conditions_from else given
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.ckpt, device=device)
    if args.guidance is not None:
        set_guidance(model, args.guidance)
    num = args.num_jets if args.num_jets is not None else len(conditions)
    check_memory("--num-jets", num * sample_bytes_per_jet(model), f"{num} jets")
    start = time.perf_counter()
    jets = model.sample(args.num_jets, conditions, batch_size=args.batch_size, seed=args.seed,
                        progress=not args.no_progress, allow_extrapolation=args.allow_extrapolation)
    dt = time.perf_counter() - start
    if not args.images:
        jets.images = None
    attrs = {
        "generator": f"sparsegen {type(model).__name__}",
        "checkpoint": str(args.ckpt),
        "seed": args.seed,
        "units": "jet pt and mass in GeV",
        "conditions": args.conditions_from or given,
    }
    jets.save(args.out, attrs=attrs)
    print(f"wrote {args.out}: {len(jets)} jets in {dt:.1f} s ({len(jets) / dt:.0f} jets/s)")
    return 0
