"""``sparsegen data generate | merge | info``: make or inspect JetNet-layout HDF5 files."""

from __future__ import annotations

import argparse
import json
import time

from sparsegen.core.defaults import JET_TYPES, NUM_PARTICLES, PRESET
from sparsegen.core.errors import ArgumentParser, SparsegenInputError, number
from sparsegen.core.io import check_output

HELP = "make or inspect JetNet-layout HDF5 files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, parser_class=ArgumentParser)
    gen = sub.add_parser("generate", help="simulate jets with Pythia8 + FastJet")
    gen.add_argument("--jet-type", required=True, choices=JET_TYPES)
    gen.add_argument("--num-jets", required=True, type=number(int, low=1),
                     help="refused up front when the final file cannot be assembled in memory")
    gen.add_argument("--num-particles", type=number(int, low=1), default=NUM_PARTICLES,
                     help="constituents kept per jet (30 or 150 in JetNet)")
    gen.add_argument("--seed", type=number(int, low=0), default=0)
    gen.add_argument("--preset", default=PRESET, metavar="NAME",
                     help=f"named settings (default '{PRESET}': JetNet-equivalent anti-kT R = 0.4 jets, see "
                          "physics_data/README.md; 'r08': anti-kT R = 0.8 jets); the jet radius, "
                          "truth matching and hard-process window come from the preset")
    gen.add_argument("--workers", type=number(int, low=1), default=1,
                     help="parallel processes (the output does not depend on it; Ctrl-C stops them at "
                          "once, finished chunks are kept)")
    gen.add_argument("--shard", default="0/1",
                     help="I/N: make only the I-th of N contiguous parts (merge them later)")
    gen.add_argument("--pt-min", type=number(float, above=0), default=800.0, help="jet pT window [GeV]")
    gen.add_argument("--pt-max", type=number(float, above=0), default=1600.0)
    gen.add_argument("--chunk-size", type=number(int, low=1), default=500,
                     help="jets per seeded chunk (part of the seed scheme)")
    gen.add_argument("--pythia", action="append", default=[], metavar="SETTING",
                     help="extra Pythia setting, e.g. 'PhaseSpace:pTHatMin = 500.' (repeatable)")
    gen.add_argument("--no-progress", action="store_true")
    gen.add_argument("--out", required=True,
                     help="output HDF5; an existing file is refused unless --overwrite; an interrupted run "
                          "keeps its finished chunks in OUT.parts/ and the same command resumes from them")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing --out file")

    merge = sub.add_parser("merge", help="concatenate shards of one generation into a single file")
    merge.add_argument("inputs", nargs="+")
    merge.add_argument("--out", required=True,
                       help="output HDF5; an existing file is refused unless --overwrite")
    merge.add_argument("--overwrite", action="store_true", help="replace an existing --out file")

    info = sub.add_parser("info", help="summary of a JetNet-layout file")
    info.add_argument("file")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from sparsegen.data.files import file_info, format_info, merge_files

    if args.data_command == "generate":
        return _generate(args)
    if args.data_command == "merge":
        check_output(args.out, overwrite=args.overwrite)
        merge_files(args.inputs, args.out)
        print(f"wrote {args.out}")
        return 0
    summary = file_info(args.file)
    print(json.dumps(summary, indent=2) if args.json else format_info(summary))
    return 0


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise SparsegenInputError("--shard", f"expected I/N (e.g. 3/10), got '{text}'") from None
    return i, n


def _generate(args: argparse.Namespace) -> int:
    from sparsegen.data.generate import generate
    from sparsegen.data.presets import preset_config

    settings = {"num_particles": args.num_particles, "seed": args.seed, "pt_min": args.pt_min,
                "pt_max": args.pt_max, "chunk_size": args.chunk_size, "extra_settings": tuple(args.pythia)}
    cfg = preset_config(args.preset, args.jet_type, **settings)
    check_output(args.out, overwrite=args.overwrite)
    start = time.perf_counter()
    res = generate(cfg, args.num_jets, args.out, workers=args.workers, shard=_parse_shard(args.shard),
                   progress=not args.no_progress)
    dt = time.perf_counter() - start
    preset = f" (preset {cfg.preset})" if cfg.preset else ""
    print(f"wrote {res['out']}: {res['jets']} {cfg.jet_type} jets{preset} from {res['events']} events "
          f"in {dt:.1f} s ({res['jets'] / dt:.0f} jets/s)")
    return 0
