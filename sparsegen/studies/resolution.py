"""The generative study by image grid: the image models and the point flow (pixelized) at every grid, in one
section of the results file.

The image models' runs are the generative study's (``sparsegen study generative --family images [--npix N]``
into the same ``--out``: ``OUT/[npixN/]CLASS/CONFIG/result.json``); this study trains none of them, it reads
their records and puts every grid side by side with findings computed from the table: each model's distance
to the truth floor, its cost per training step (CPU seconds, the runs' own clock) against the real occupancy
of the grid, and the best sparse-aware model against the best dense one at each grid, with errors.

The point model (``--point-config``) does not see the grid, so it is trained once per class, on the same
jets with as many constituents as the image configs read, and its samples are pixelized at every grid and
scored like an image model's output, in the image representation against the same held-out jets
(``OUT/pixelized/CLASS/CONFIG``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from sparsegen.core.defaults import EXTENT
from sparsegen.studies import harness as H
from sparsegen.studies import report as R
from sparsegen.studies.settings import Resolution as Settings

SECTION = "generative_by_resolution"


def image_record(s: Settings, npix: int, jet_type: str, config: str) -> dict | None:
    """The generative study's finished run of an image config at a grid (the default grid's folder has no
    ``npixN`` level), or None."""
    for level in ([f"npix{npix}", ""] if npix == image_defaults()["npix"] else [f"npix{npix}"]):
        path = Path(s.out) / level / jet_type / config / "result.json"
        if path.is_file():
            record = json.loads(path.read_text())
            if (record.get("data") or {}).get("npix") == npix:
                plots = path.parent / "plot_data.npz"  # active pixels per held-out jet: the real occupancy
                if plots.is_file():
                    record["real_occupancy"] = float(np.load(plots)["mult_real"].mean()) / npix ** 2
                return record
    return None


def image_defaults() -> dict[str, Any]:
    """The image configs' shared data settings (npix, extent, num_particles; `configs/base/data_images`)."""
    data = H.read_config("images/vae_hurdle")["data"]["init_args"]
    return {"npix": int(data["npix"]), "extent": float(data.get("extent", EXTENT)),
            "num_particles": int(data["num_particles"])}


def image_configs() -> list[str]:
    from sparsegen.studies.generative import discover_configs

    return [p.stem for p in discover_configs(family="images")]


# ----------------------------------------------------------------------------- the pixelized point model
def point_folder(s: Settings, jet_type: str) -> Path:
    return Path(s.out) / "pixelized" / jet_type / Path(s.point_config).stem


def train_point_model(s: Settings, jet_type: str) -> dict[str, Any]:
    """Train the point model once on ``jet_type`` (all the image configs' constituents), unless done."""
    from sparsegen.core.resources import config_path
    from sparsegen.models.training import QUICK_TRAINER, fit
    from sparsegen.studies.generative import describe, model_parts, sparse_aware

    folder = point_folder(s, jet_type)
    done = folder / "train.json"
    if done.is_file():
        return json.loads(done.read_text())
    overrides = ["--data.init_args.jet_types", jet_type, "--data.init_args.seed", str(s.seed),
                 "--data.init_args.num_particles", str(image_defaults()["num_particles"])]
    res = fit(s.point_config, folder, seed=s.seed, minutes=s.minutes, num_jets=s.num_jets,
              overrides=overrides + (list(QUICK_TRAINER) if s.quick else []), clock=s.clock)
    config = config_path(s.point_config)
    parts = model_parts(config)
    record = {"config": Path(s.point_config).stem, "family": "points", "jet_type": jet_type,
              "description": describe(config) + ", pixelized",
              "sparse_aware": sparse_aware(parts), "parts": parts, "minutes": s.minutes,
              "num_jets": s.num_jets, "train_s": res.train_s, "train_cpu_s": res.train_cpu_s,
              "epochs": res.epochs, "steps": res.steps, "load_average": res.load,
              "checkpoint": str(res.checkpoint)}
    R.write_json(done, record)
    return record


def score_pixelized(s: Settings, jet_type: str, train: dict[str, Any]) -> dict[int, dict]:
    """The point model's samples pixelized at every grid, scored in the image representation against the
    held-out jets at that grid (one record per grid, reused when present)."""
    from sparsegen.metrics.evaluation import evaluate
    from sparsegen.metrics.samples import pixel_readout
    from sparsegen.models.spec import load_model
    from sparsegen.models.training import build_cli, held_out
    from sparsegen.studies.generative import eval_settings, image_stats

    folder, extent = point_folder(s, jet_type), image_defaults()["extent"]
    out, todo = {}, []
    for npix in s.grids:
        path = folder / f"npix{npix}.json"
        if path.is_file():
            out[npix] = json.loads(path.read_text())
        else:
            todo.append(npix)
    if not todo:
        return out
    np.seterr(all="ignore")
    cli = build_cli(["--config", str(folder / "config.yaml")], run=False)
    real = held_out(cli.datamodule)
    n = len(real) // 2
    gen = load_model(train["checkpoint"]).sample(n, batch_size=1000, seed=s.seed)
    for npix in todo:
        gen_img = gen.to_images(npix, extent)
        pixelized = pixel_readout(gen, gen_img, extent)
        metrics = evaluate(real, pixelized, seed=s.seed, settings=eval_settings(n, s.quick), classifier=True,
                           npix=npix, extent=extent)
        real_img = real.to_images(npix, extent)
        metrics |= image_stats(real_img, gen_img)
        record = train | {"eval_jets": n, "data": {"npix": npix, "extent": extent,
                                                   "num_particles": int(real.max_particles)},
                          "real_occupancy": float((real_img > 0).mean()),
                          "metrics": metrics}
        R.write_json(folder / f"npix{npix}.json", record)
        out[npix] = record
    return out


# ----------------------------------------------------------------------------- study
def run(s: Settings, progress: bool = True) -> dict[str, list[dict]]:
    """Train and score the pixelized point model per class, collect the image runs, write the section."""
    import torch

    torch.set_num_threads(s.threads)
    H.prepare_jets(s.jet_types, s.num_jets, [image_defaults()["num_particles"]], s.seed)
    rows: dict[str, list[dict]] = {}
    for t in s.jet_types:
        per_grid = score_pixelized(s, t, train_point_model(s, t))
        rows[t] = [r for npix in s.grids for c in image_configs()
                   if (r := image_record(s, npix, t, c)) is not None]
        rows[t] += [per_grid[npix] for npix in s.grids]
    write_report(rows, s)
    return rows


# ----------------------------------------------------------------------------- report
def grid_of(r: dict) -> int:
    return int(r["data"]["npix"])


def to_floor(r: dict, key: str) -> dict | None:
    """A metric as a multiple of its truth floor, with the error of the ratio (both errors propagated)."""
    m, f = r["metrics"].get(key) or {}, (r["metrics"].get("truth_floor") or {}).get(key) or {}
    v, fv = m.get("value"), f.get("value")
    if v is None or not fv or fv <= 0:
        return None
    ratio = v / fv
    rel = math.hypot((m.get("error") or 0.0) / v if v else 0.0, (f.get("error") or 0.0) / fv)
    return {"value": ratio, "error": abs(ratio) * rel}


def step_cost(r: dict) -> float | None:
    """CPU seconds per training step (validation included: what the budget paid for each step)."""
    return r["train_cpu_s"] / r["steps"] if r.get("steps") else None


COLUMNS = (("w1m", "W1M / floor"), ("w1p", "W1P / floor"), ("fpd", "FPD / floor"),
           ("w1_pixel_intensity", "pixel-spectrum W1 / floor"), ("w1_tau21", "τ21 W1 / floor"))


def table(rows: list[dict]) -> str:
    base = {r["config"]: step_cost(r) for r in rows if grid_of(r) == min(map(grid_of, rows))}
    header = ["config", "sparse-aware", "grid", "real occupancy", *[label for _, label in COLUMNS], "AUC",
              "occupancy gen/real", "steps", "CPU s/step", "step cost / smallest grid's"]
    body = []
    for r in sorted(rows, key=lambda r: (r["config"], grid_of(r))):
        cost, first = step_cost(r), base.get(r["config"])
        occ = r.get("real_occupancy")
        body.append([f"`{r['config']}`", "yes" if r["sparse_aware"] else "**no**", f"{grid_of(r)}²",
                     f"{100 * occ:.2g} %" if occ is not None else "",
                     *[R.fmt(to_floor(r, k)) for k, _ in COLUMNS], R.fmt(r["metrics"].get("classifier_auc")),
                     R.fmt(r["metrics"].get("occupancy_ratio")), r.get("steps", ""),
                     f"{cost:.3f}" if cost else "",
                     f"{cost / first:.2g}×" if cost and first else ""])
    return R.markdown_table(header, body)


def best(rows: list[dict], key: str = "w1m") -> dict | None:
    """The run nearest its floor on ``key`` by ratio + 1σ."""
    scored = [(q["value"] + q["error"], r) for r in rows if (q := to_floor(r, key))]
    return min(scored, key=lambda x: x[0])[1] if scored else None


def findings(rows: list[dict]) -> list[str]:
    lines = []
    grids = sorted({grid_of(r) for r in rows})
    for g in grids:
        at = [r for r in rows if grid_of(r) == g]
        sparse = best([r for r in at if r["sparse_aware"]])
        dense = best([r for r in at if not r["sparse_aware"]])
        if sparse and dense:
            # the same grid, the same floor: the verdict compares the metric itself, each with its own error
            from sparsegen.studies.generative import compare

            a, b = to_floor(sparse, "w1m"), to_floor(dense, "w1m")
            lines.append(f"at {g}²: best sparse-aware `{sparse['config']}` ({a['value']:.3g}× the floor) vs "
                         f"best dense `{dense['config']}` ({b['value']:.3g}×), W1M ×10³ "
                         + compare(sparse, dense, "w1m", 1e3))
    if len(grids) > 1:
        lo, hi = grids[0], grids[-1]
        growth = []
        for c in sorted({r["config"] for r in rows}):
            a = next((r for r in rows if r["config"] == c and grid_of(r) == lo), None)
            b = next((r for r in rows if r["config"] == c and grid_of(r) == hi), None)
            if a and b and step_cost(a) and step_cost(b):
                growth.append((step_cost(b) / step_cost(a), c, to_floor(a, "w1m"), to_floor(b, "w1m")))
        if growth:
            occ = {g: [r["real_occupancy"] for r in rows if grid_of(r) == g and "real_occupancy" in r]
                   for g in (lo, hi)}
            occ_text = (f" (real occupancy {100 * occ[lo][0]:.2g} % → {100 * occ[hi][0]:.2g} %)"
                        if occ[lo] and occ[hi] else "")
            lines.append(f"{lo}² → {hi}², {(hi // lo) ** 2}× the pixels{occ_text}: CPU cost per step grew "
                         + ", ".join(f"{x:.2g}× for `{c}`" for x, c, _, _ in sorted(growth)))
            lines.append("W1M / floor " + f"{lo}² → {hi}² at the same CPU budget: "
                         + ", ".join(f"`{c}` {R.fmt(a)} → {R.fmt(b)}" for _, c, a, b in sorted(growth)
                                     if a and b))
    return lines


def write_report(rows: dict[str, list[dict]], s: Settings) -> str:
    from sparsegen.core.defaults import JET_CLASS_NAMES

    scale = H.QUICK if s.quick else f"{H.clock_minutes(s.minutes, s.clock)} per run"
    parts = [
        "## 1c. Generative study by resolution: image models and the point flow (pixelized)\n",
        (f"{H.head(s, scale)}. The image rows are the generative "
         "study's runs at each grid (`sparsegen study generative --family images --npix N` with the same "
         "budget, seed and `--out`; sections 1a); the point model "
         f"(`{s.point_config}`) is trained once per class on the same jets with all their constituents and "
         "its samples are pixelized at every grid and scored in the image representation against the same "
         "held-out jets. Every metric is a multiple of its truth floor at the same grid and sample size "
         "(± the propagated errors of both); CPU s/step is the run's CPU time over its training steps "
         "(validation included), the last column that over the same config's cost at the smallest grid.\n"),
    ]
    for t, rs in rows.items():
        if not rs:
            continue
        parts += [f"### {JET_CLASS_NAMES.get(t, t)} jets\n", table(rs), "",
                  "Findings (computed from the table): " + "; ".join(findings(rs)) + ".\n"]
    return H.write_section(s, SECTION, "\n".join(parts))
