"""How fast is jet generation? jets/s with 1 and 2 workers, and the overhead over bare Pythia.

The bare loop is Pythia's own event generation (``nextBatch``) with the same card; the full pipeline adds
visible-particle selection, FastJet anti-kT clustering, truth matching, constituent features and the HDF5
write. Last line: JSON with the measured numbers.

    .venv/bin/python bench/datagen.py --jet-type g --num-jets 2000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from sparsegen.data.generate import GenerationConfig, JetMaker, generate


def bare_pythia_events_per_s(cfg: GenerationConfig, events: int) -> float:
    maker = JetMaker(cfg, cfg.chunk_seed(0))
    start = time.perf_counter()
    done = 0
    while done < events:
        maker.pythia.nextBatch(cfg.events_per_batch)
        done += cfg.events_per_batch
    return done / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jet-type", default="g")
    p.add_argument("--num-jets", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    cfg = GenerationConfig(args.jet_type, seed=args.seed)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            start = time.perf_counter()
            res = generate(
                cfg, args.num_jets, os.path.join(tmp, f"w{workers}.h5"), workers=workers, progress=False
            )
            dt = time.perf_counter() - start
            rows[workers] = {
                "seconds": dt,
                "jets_per_s": res["jets"] / dt,
                "events_per_s": res["events"] / dt,
                "events": res["events"],
            }
            print(f"{workers} worker(s): {res['jets']} jets from {res['events']} events in {dt:.1f} s "
                  f"-> {rows[workers]['jets_per_s']:.0f} jets/s")
    bare = bare_pythia_events_per_s(cfg, rows[1]["events"])
    overhead = bare / rows[1]["events_per_s"] - 1.0
    print(
        f"bare Pythia loop: {bare:.0f} events/s; full pipeline (1 worker): {rows[1]['events_per_s']:.0f} "
        "events/s "
        f"-> overhead {100 * overhead:.0f}%"
    )
    print(
        json.dumps(
            {
                "bench": "datagen",
                "jet_type": args.jet_type,
                "num_jets": args.num_jets,
                "cpu_count": os.cpu_count(),
                "jets_per_s_1_worker": round(rows[1]["jets_per_s"], 1),
                "jets_per_s_2_workers": round(rows[2]["jets_per_s"], 1),
                "speedup_2_workers": round(rows[2]["jets_per_s"] / rows[1]["jets_per_s"], 2),
                "bare_pythia_events_per_s": round(bare, 1),
                "pipeline_events_per_s": round(rows[1]["events_per_s"], 1),
                "overhead_vs_bare_pythia": round(overhead, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
