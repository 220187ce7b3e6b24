"""``sparsegen data generate | merge | info``."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence

import numpy as np

from sparsegen.data.generate import GenerationConfig, generate
from sparsegen.data.io import JET_TYPES, read_jetnet, write_jetnet
from sparsegen.errors import SparsegenInputError


class _Parser(argparse.ArgumentParser):
    """argparse that raises SparsegenInputError (one line, exit 2) instead of printing usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SparsegenInputError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sparsegen data", description="Make or inspect JetNet-layout HDF5 files.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = sub.add_parser("generate", help="simulate jets with Pythia8 + FastJet")
    gen.add_argument("--jet-type", required=True, choices=JET_TYPES)
    gen.add_argument("--num-jets", required=True, type=int)
    gen.add_argument("--num-particles", type=int, default=30, help="constituents kept per jet (30 or 150 in JetNet)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--workers", type=int, default=1, help="parallel processes (the output does not depend on it)")
    gen.add_argument("--shard", default="0/1", help="I/N: make only the I-th of N contiguous parts (merge them later)")
    gen.add_argument("--pt-min", type=float, default=800.0)
    gen.add_argument("--pt-max", type=float, default=1600.0)
    gen.add_argument("--chunk-size", type=int, default=500, help="jets per seeded chunk (part of the seed scheme)")
    gen.add_argument("--pythia", action="append", default=[], metavar="SETTING",
                     help="extra Pythia setting, e.g. 'PhaseSpace:pTHatMin = 500.' (repeatable)")
    gen.add_argument("--no-progress", action="store_true")
    gen.add_argument("--out", required=True)

    merge = sub.add_parser("merge", help="concatenate shards of one generation into a single file")
    merge.add_argument("inputs", nargs="+")
    merge.add_argument("--out", required=True)

    info = sub.add_parser("info", help="summary of a JetNet-layout file")
    info.add_argument("file")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.command == "generate":
        return _generate(args)
    if args.command == "merge":
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
    cfg = GenerationConfig(
        jet_type=args.jet_type,
        num_particles=args.num_particles,
        seed=args.seed,
        pt_min=args.pt_min,
        pt_max=args.pt_max,
        chunk_size=args.chunk_size,
        extra_settings=tuple(args.pythia),
    )
    start = time.perf_counter()
    res = generate(cfg, args.num_jets, args.out, workers=args.workers, shard=_parse_shard(args.shard),
                   progress=not args.no_progress)
    dt = time.perf_counter() - start
    print(f"wrote {res['out']}: {res['jets']} {cfg.jet_type} jets from {res['events']} events in {dt:.1f} s "
          f"({res['jets'] / dt:.0f} jets/s)")
    return 0


def merge_files(inputs: Sequence[str], out: str) -> None:
    """Concatenate shards in chunk order; they must come from one configuration and tile its chunks."""
    shards = []
    for path in inputs:
        pf, jf, attrs = read_jetnet(path)
        if "chunk_range" not in attrs or "config_key" not in attrs:
            raise SparsegenInputError(path, "not a sparsegen shard (no chunk_range/config_key attributes)")
        shards.append((json.loads(attrs["chunk_range"]) if isinstance(attrs["chunk_range"], str)
                       else list(attrs["chunk_range"]), path, pf, jf, attrs))
    shards.sort(key=lambda s: s[0][0])
    first = shards[0][4]
    for rng, path, _, _, attrs in shards:
        if attrs["config_key"] != first["config_key"] or attrs["num_jets_total"] != first["num_jets_total"]:
            raise SparsegenInputError(path, "shard from a different generation (settings, seed or num_jets differ)")
    for (a, pa, *_), (b, pb, *_) in zip(shards, shards[1:]):
        if a[1] != b[0]:
            what = "overlap" if a[1] > b[0] else "leave a gap"
            raise SparsegenInputError(pb, f"chunks {a} ({pa}) and {b} {what}: shards must tile the chunks exactly once")
    pf = np.concatenate([s[2] for s in shards])
    jf = np.concatenate([s[3] for s in shards])
    attrs = dict(first)
    attrs["chunk_range"] = [shards[0][0][0], shards[-1][0][1]]
    total_chunks = -(-int(first["num_jets_total"]) // int(first["chunk_size"]))
    attrs["shard"] = [0, 1] if attrs["chunk_range"] == [0, total_chunks] else ["merged", len(shards)]
    write_jetnet(out, pf, jf, attrs)


def file_info(path: str | os.PathLike) -> dict[str, object]:
    """Count, classes, multiplicity mean/std, pt and mass quantiles (5/16/50/84/95 %)."""
    pf, jf, attrs = read_jetnet(path)
    q = [5, 16, 50, 84, 95]
    types, counts = np.unique(jf[:, 0].astype(int), return_counts=True)
    out: dict[str, object] = {
        "file": str(path),
        "num_jets": len(jf),
        "num_particles_max": int(pf.shape[1]),
        "classes": {JET_TYPES[t]: int(c) for t, c in zip(types, counts)},
        "per_class": {},
        "generator": attrs.get("generator", "unknown (no provenance attributes)"),
    }
    for t in types:
        sel = jf[:, 0] == t
        out["per_class"][JET_TYPES[t]] = {  # type: ignore[index]
            "multiplicity_mean": float(jf[sel, 4].mean()),
            "multiplicity_std": float(jf[sel, 4].std()),
            "pt_quantiles": dict(zip(map(str, q), np.percentile(jf[sel, 1], q).round(1).tolist())),
            "mass_quantiles": dict(zip(map(str, q), np.percentile(jf[sel, 3], q).round(1).tolist())),
        }
    return out


def format_info(summary: dict) -> str:
    lines = [f"{summary['file']}: {summary['num_jets']} jets, up to {summary['num_particles_max']} particles",
             f"  generator: {summary['generator']}"]
    for name, s in summary["per_class"].items():
        lines.append(f"  class {name}: {summary['classes'][name]} jets")
        lines.append(f"    multiplicity {s['multiplicity_mean']:.1f} ± {s['multiplicity_std']:.1f}")
        lines.append("    pt   [GeV] quantiles 5/16/50/84/95%: " + " ".join(f"{v:.0f}" for v in s["pt_quantiles"].values()))
        lines.append("    mass [GeV] quantiles 5/16/50/84/95%: " + " ".join(f"{v:.1f}" for v in s["mass_quantiles"].values()))
    return "\n".join(lines)


__all__ = ["file_info", "main", "merge_files", "write_jetnet"]
