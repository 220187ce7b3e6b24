"""Operations on JetNet-layout files: merge generation shards, summarize a file (``sparsegen data
merge|info``)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from sparsegen.core.defaults import JET_TYPES
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.io import read_jetnet, write_jetnet


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
            raise SparsegenInputError(
                path, "shard from a different generation (settings, seed or num_jets differ)"
            )
    for (a, pa, *_), (b, pb, *_) in zip(shards, shards[1:]):
        if a[1] != b[0]:
            what = "overlap" if a[1] > b[0] else "leave a gap"
            raise SparsegenInputError(
                pb, f"chunks {a} ({pa}) and {b} {what}: shards must tile the chunks exactly once"
            )
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
        lines.append(
            "    pt   [GeV] quantiles 5/16/50/84/95%: "
            + " ".join(f"{v:.0f}" for v in s["pt_quantiles"].values())
        )
        lines.append(
            "    mass [GeV] quantiles 5/16/50/84/95%: "
            + " ".join(f"{v:.1f}" for v in s["mass_quantiles"].values())
        )
    return "\n".join(lines)

