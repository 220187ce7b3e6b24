"""Generative study: every image and point config, same data, same seed, same training budget.

For each jet class and each config in ``configs/images`` and ``configs/points`` (or one ``family``), the
config is trained on the same generated Pythia jets (its own data settings: particles per jet, image size)
for the same budget (by default CPU time of the run's process, `CPUTimeBudget`, so a busy machine does not
shrink it; ``clock="wall"``: Lightning ``max_time``), the checkpoint `fit` keeps is restored (the best epoch
by ``val/w1m``; configs that keep only their last checkpoint: the last one), jets are sampled (timed) and
scored against the held-out validation+test jets with the full metrics report (JetNet metrics, sparsity
metrics, N-subjettiness, classifier AUC) next to the real-vs-real truth floor at the same sample size: n =
half the held-out jets per sample, JetNet's resampling sizes capped at n. Image runs also record the
generated/real ratios of the mean occupancy and of the mean pixel sum.

What a model is made of (its ``kind`` and the sparsity of each part) is read from its classes: the model's
``family`` and ``networks``, each network's ``sparsity`` (`model_parts`); a class that states neither is
refused, never counted as sparse-aware.

Every run writes ``OUT/<class>/<config>/result.json`` and ``plot_data.npz`` (resume: `harness.run_all`).
Each family has its own section of the results file (``generative_images``, ``generative_points``: tables,
findings, overlay plots of mass, multiplicity, pixel spectrum and average images), so rerunning one family
leaves the other's section as it was; a run at another grid (``_npixN``) or only on classes the recipes were
not tuned on (``_other_classes``: with a by-class table against the gluon runs, `sparsegen.studies.by_class`)
has its own.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from sparsegen.core.defaults import JET_CLASS_NAMES
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.io import atomic_write
from sparsegen.metrics.registry import badness, columns, get, ratio_to_floor
from sparsegen.studies import by_class
from sparsegen.studies import harness as H
from sparsegen.studies import report as R
from sparsegen.studies.settings import Generative as Settings

CONFIG_DIRS = ("images", "points")
SECTIONS = {"images": "generative_images", "points": "generative_points"}
DENSE_LEVELS = {"dense", "mse"}
"""The levels of a part that takes no account of sparsity."""
LABELS = {("decoder", "dense"): "mse"}
"""How the tables name a part's level where it differs from the component's ``sparsity`` (a dense decoder
output by its MSE-family loss)."""


IMAGE_COLUMNS = (("occupancy_ratio", "occupancy gen/real", 1.0),
                 ("pixel_sum_ratio", "pixel sum gen/real", 1.0))


def discover_configs(names: list[str] | None = None, family: str | None = None) -> list[Path]:
    """Every image and point config (or one family's, or the named stems), images first; the multi-class
    conditional configs have their own study (`sparsegen.studies.conditional`)."""
    from sparsegen.core.resources import model_configs

    if family is not None and family not in CONFIG_DIRS:
        raise SparsegenInputError("--family", f"unknown family '{family}' (one of {', '.join(CONFIG_DIRS)})")
    found = [p for d in CONFIG_DIRS if family in (None, d)
             for p in model_configs(d)
             if not p.stem.endswith("_conditional")]
    if names:
        unknown = sorted(set(names) - {p.stem for p in found})
        if unknown:
            raise SparsegenInputError("--configs", f"unknown config(s) {', '.join(unknown)} "
                                                   f"(known: {', '.join(p.stem for p in found)})")
        found = [p for p in found if p.stem in names]
    return found


def _class(path: str, config: Path, what: str) -> type:
    module, _, name = str(path).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise SparsegenInputError(str(config), f"{what} class '{path}' cannot be imported") from None


def model_parts(config: Path) -> dict[str, str]:
    """What a config's model is made of, read from its classes: ``kind``, the model class's ``family``, and
    per injected network (its ``networks``) that component's ``sparsity`` — or the level its ``output``
    choice names in ``output_sparsity`` — as the tables label it (`LABELS`). A model class without a
    family, or a network class without a sparsity, is a one-line error."""
    model = H.read_config(config)["model"]
    cls = _class(model["class_path"], config, "model")
    family = getattr(cls, "family", None)
    if not isinstance(family, str):
        raise SparsegenInputError(str(config), f"model class {cls.__name__} states no family (a class "
                                               "attribute such as family = \"gan\"): its kind is unknown")
    out = {"kind": family}
    args = model.get("init_args") or {}
    for part in cls.networks:
        spec = args.get(part)
        if not isinstance(spec, dict) or "class_path" not in spec:
            continue
        net = _class(spec["class_path"], config, part)
        level = getattr(net, "sparsity", None)
        if not isinstance(level, str):
            raise SparsegenInputError(str(config), f"{part} class {net.__name__} states no sparsity (a class "
                                                   "attribute: dense, sparse, ...): it cannot be counted")
        by_output = getattr(net, "output_sparsity", {})
        if by_output:
            default = inspect.signature(net.__init__).parameters.get("output")
            output = (spec.get("init_args") or {}).get("output", getattr(default, "default", None))
            level = by_output.get(output, level)
        out[part] = LABELS.get((part, level), level)
    return out


def sparse_aware(parts: dict[str, str]) -> bool:
    """Whether any part of a model (`model_parts`) takes sparsity into account."""
    return any(v not in DENSE_LEVELS for k, v in parts.items() if k != "kind")


def describe(config: Path) -> str:
    """The config's first comment line (its one-line description)."""
    for line in config.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").split(":")[0].split(". ")[0].strip()
    return config.stem


def _plot_arrays(real, gen, npix: int, extent: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Mass, multiplicity, active-pixel intensities and the mean image of both samples, as the metrics see
    them."""
    from sparsegen.metrics import pixel_readout

    real_img = real.to_images(npix, extent)
    if gen.images is not None:  # image model: real jets read out of their own pixels, like the generated ones
        gen_img, real = gen.images, pixel_readout(real, real_img, extent)
    else:
        gen_img = gen.to_images(npix, extent)
    out: dict[str, np.ndarray] = {}
    for tag, jets, img in (("real", real, real_img), ("gen", gen, gen_img)):
        active = img[img > 0]
        out[f"mass_{tag}"] = jets.mass.astype(np.float32)
        out[f"mult_{tag}"] = jets.mask.sum(1).astype(np.int32)
        out[f"pix_{tag}"] = rng.choice(active, size=min(active.size, 100_000),
                                       replace=False).astype(np.float32) \
            if active.size else np.zeros(0, np.float32)
        out[f"avg_{tag}"] = img.mean(0).astype(np.float32)
    return out


def _overrides(jet_type: str, s: Settings) -> list[str]:
    from sparsegen.models.training import QUICK_TRAINER

    extra = ["--data.init_args.jet_types", jet_type, "--data.init_args.seed", str(s.seed)]
    if s.npix:
        extra += ["--data.init_args.npix", str(s.npix)]
    return extra + (list(QUICK_TRAINER) if s.quick else [])


def grid_dir(s: Settings) -> Path:
    """The runs of one grid: OUT/[npixN/] (``--npix``: one tree per grid)."""
    return Path(s.out) / (f"npix{s.npix}" if s.npix else "")


def run_dir(s: Settings, jet_type: str, config: str) -> Path:
    """A run's folder: OUT/[npixN/]CLASS/CONFIG."""
    return grid_dir(s) / jet_type / Path(config).stem


def run_one(config: str, jet_type: str, s: Settings) -> dict[str, Any]:
    """Train, sample and score one config on one class; writes result.json and plot_data.npz."""
    from sparsegen.models.training import fit, held_out

    path = Path(config)
    folder = run_dir(s, jet_type, config)
    parts = model_parts(path)
    res = fit(path, folder, seed=s.seed, minutes=s.minutes, num_jets=s.num_jets,
              overrides=_overrides(jet_type, s), clock=s.clock)
    model = res.model
    record = {
        "config": path.stem, "family": path.parent.name, "jet_type": jet_type, "description": describe(path),
        "sparse_aware": sparse_aware(parts), "parts": parts, "minutes": s.minutes, "num_jets": s.num_jets,
        "train_s": res.train_s, "train_cpu_s": res.train_cpu_s, "epochs": res.epochs,
        "steps": res.steps, "load_average": res.load, "best_checkpoint": Path(res.checkpoint).name,
        "num_params": sum(p.numel() for p in model.parameters()),
    }
    return _sample_and_score(model, held_out(res.datamodule), folder, record, s, time_sampling=True)


def rescore_one(config: str, jet_type: str, s: Settings) -> dict[str, Any]:
    """Sample and score a finished run again from its kept checkpoint (after a metrics change); the
    training record and the measured sampling speed are kept."""
    import json

    from sparsegen.models.spec import load_model
    from sparsegen.models.training import build_cli, held_out, max_time

    path = Path(config)
    folder = run_dir(s, jet_type, config)
    record = json.loads((folder / "result.json").read_text())
    best = folder / "checkpoints" / record.get("best_checkpoint", "")
    if not record.get("best_checkpoint") or not best.is_file():
        raise SparsegenInputError(str(folder),
                                  "no best checkpoint to rescore from; delete the folder to rerun")
    cli = build_cli(["--config", str(path), "--seed_everything", str(s.seed),
                     "--trainer.max_time", max_time(s.minutes),
                     "--trainer.default_root_dir", str(folder), "--data.init_args.num_jets", str(s.num_jets),
                     *_overrides(jet_type, s)], run=False)
    real = held_out(cli.datamodule)
    record.pop("metrics", None)
    return _sample_and_score(load_model(best), real, folder, record, s, time_sampling=False)


def eval_settings(n: int, quick: bool):
    """JetNet's published resampling sizes capped at the sample size n (quick: the monitoring sizes)."""
    from sparsegen.metrics.evaluation import PUBLISHED, QUICK

    if quick:
        return QUICK
    return dataclasses.replace(PUBLISHED, num_eval_samples=min(PUBLISHED.num_eval_samples, n),
                               classifier_max_jets=min(PUBLISHED.classifier_max_jets, n))


def ratio(gen: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """mean(gen) / mean(real) ± its standard error (first-order propagation of both standard errors)."""
    mg, mr = float(np.mean(gen)), float(np.mean(real))
    eg, er = float(np.std(gen) / math.sqrt(len(gen))), float(np.std(real) / math.sqrt(len(real)))
    r = mg / mr if mr else math.nan
    return {"value": r, "error": abs(r) * math.hypot(eg / mg if mg else 0.0, er / mr if mr else 0.0)}


def image_stats(real_img: np.ndarray, gen_img: np.ndarray) -> dict[str, dict[str, float]]:
    """Generated/real ratios of the mean occupancy (pixels above the read-out threshold) and of the mean pixel
    sum [ptrel] per jet image."""
    from sparsegen.metrics.sparsity import DEFAULT_THRESHOLD

    def occ(img: np.ndarray) -> np.ndarray:
        return (img > DEFAULT_THRESHOLD).reshape(len(img), -1).mean(1)

    return {"occupancy_ratio": ratio(occ(gen_img), occ(real_img)),
            "pixel_sum_ratio": ratio(gen_img.sum((1, 2)), real_img.sum((1, 2)))}


def _sample_and_score(model, real, run_dir: Path, record: dict[str, Any], s: Settings,
                      time_sampling: bool) -> dict[str, Any]:
    from sparsegen.metrics.evaluation import evaluate

    np.seterr(all="ignore")
    n = len(real) // 2
    start = time.perf_counter()
    gen = model.sample(n, batch_size=1000, seed=s.seed)
    if time_sampling:
        record["sample_jets_per_s"] = n / (time.perf_counter() - start)
    info = model.data_info
    npix, extent = info.npix, info.extent
    metrics = evaluate(real, gen, seed=s.seed, settings=eval_settings(n, s.quick), classifier=True, npix=npix,
                       extent=extent)
    record |= {"eval_jets": n, "data": {"npix": npix, "extent": extent, "num_particles": info.num_particles,
                                        "transform": info.get_normalizer().transform}}
    if gen.images is not None:
        metrics |= image_stats(real.to_images(npix, extent), gen.images)
    arrays = _plot_arrays(real, gen, npix, extent, np.random.default_rng(s.seed))
    result = record | {"metrics": metrics}
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / "plot_data.npz", suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    R.write_json(run_dir / "result.json", result)  # last: its presence marks the run as finished
    return result


def run(s: Settings, progress: bool = True) -> list[dict[str, Any]]:
    """Every (class, config) run not finished yet (``s.rescore``: the finished ones scored again), then the
    report."""
    configs = discover_configs(s.configs, s.family)
    for c in configs:
        model_parts(c)  # an unknown model or network class fails here, before any training

    def prepare() -> None:  # every config with the same particle count reads the same files
        counts = {int(H.read_config(c)["data"]["init_args"].get("num_particles", 30)) for c in configs}
        H.prepare_jets(s.jet_types, s.num_jets, counts, s.seed)

    grid = f"npix{s.npix}/" if s.npix else ""  # the run folders of `run_dir`
    runs = [(f"{grid}{t}/{c.stem}", (str(c), t)) for t in s.jet_types for c in configs]
    rows = H.run_all(s, runs, run_one, prepare=prepare, desc="generative study", progress=progress,
                     rescore=rescore_one if s.rescore else None)
    write_report(rows, s)
    return rows


# ----------------------------------------------------------------------------- report
def _score(r: dict, key: str) -> float | None:
    """What ranks the runs, lower is better: value + 1σ (AUC: |AUC - 0.5| + 1σ); None when undefined.

    Adding the error keeps an unstable estimate from winning: FPD's extrapolation to infinite sample size
    is bounded below by 0 (as in JetNet), so a heavy-tailed sample can get FPD = 0 ± (large).
    """
    return badness(r["metrics"].get(key), get(key), sigmas=1.0)


def _cell(r: dict, key: str, scale: float) -> str:
    entry = r["metrics"].get(key)
    if (entry or {}).get("value") is None and (r["metrics"].get("zero_fraction") or {}).get("value") == 1.0:
        return "empty"  # the model generated no particles / pixels: per-particle metrics are undefined
    return R.fmt(entry, scale)


PART_NAMES = {"generator": "G", "critic": "C", "encoder": "enc", "decoder": "dec"}


def _parts_cell(r: dict) -> str:
    """The parts column: each part's level, or ``points`` for a model of particle sets only."""
    p = {k: v for k, v in (r.get("parts") or {}).items() if k != "kind"}
    if all(v == "points" for v in p.values()):  # also records written before point parts were recorded
        return "points"
    return ", ".join(f"{PART_NAMES.get(k, k)} {v}" for k, v in p.items())


def class_table(rows: list[dict]) -> str:
    """One class and family: a row per config, the best value per metric in bold, the truth floor last."""
    images = any(r["family"] == "images" for r in rows)
    metric_columns = columns("table")
    shown = metric_columns + (IMAGE_COLUMNS if images else ())
    best = {}
    for key, _, _ in metric_columns:
        vals = [(_score(r, key), i) for i, r in enumerate(rows) if _score(r, key) is not None]
        if vals:
            best[key] = min(vals)[1]
    header = ["config", "sparse-aware", *[label for _, label, _ in shown], "parts", "epochs", "steps",
              "train s", "load avg", "sample jets/s"]
    body = []
    for i, r in enumerate(rows):
        cells = [f"`{r['config']}`", "yes" if r["sparse_aware"] else "**no**"]
        for key, _, scale in shown:
            cell = _cell(r, key, scale)
            cells.append(f"**{cell}**" if best.get(key) == i else cell)
        cells += [_parts_cell(r), r["epochs"], r.get("steps", ""), f"{r['train_s']:.0f}",
                  f"{r['load_average']:.1f}", f"{r['sample_jets_per_s']:.3g}"]
        body.append(cells)
    tf = rows[0]["metrics"].get("truth_floor", {}) if rows else {}
    body.append(["*truth floor (real vs real)*", "",
                 *[R.fmt(tf.get(k), sc) if k in tf else "1" for k, _, sc in shown],
                 "", "", "", "", "", ""])
    return R.markdown_table(header, body)


def compare(a: dict, b: dict, key: str, scale: float) -> str:
    """``a`` vs ``b`` on one metric: both values ± errors and the verdict (lower is better; a difference
    within the combined error is no difference)."""
    ea, eb = a["metrics"].get(key) or {}, b["metrics"].get(key) or {}
    if ea.get("value") is None or eb.get("value") is None:
        return f"{R.fmt(ea, scale)} vs {R.fmt(eb, scale)} (not comparable)"
    diff = ea["value"] - eb["value"]
    err = math.hypot(ea.get("error") or 0.0, eb.get("error") or 0.0)
    verdict = "no difference beyond the errors" if abs(diff) <= err else ("better" if diff < 0 else "worse")
    return f"{R.fmt(ea, scale)} vs {R.fmt(eb, scale)} ({verdict})"




def _sparsity_columns() -> tuple[tuple[str, str, float], ...]:
    """The metrics of the sparse-vs-dense comparison, those that read sparsity first."""
    return columns("sparse_vs_dense", short=False) + columns("sparse_vs_dense_reference", short=False)


def sparse_vs_dense(rows: list[dict]) -> list[str]:
    """"With sparse consideration vs without", per part and metric, for each model kind separately (in
    alphabetical order): every pair of configs that differ only in one part, the sparse-aware level against
    the dense one."""
    lines = []
    for kind in sorted({(r.get("parts") or {}).get("kind") for r in rows} - {None}):
        group = [r for r in rows if (r.get("parts") or {}).get("kind") == kind]
        part_names = dict.fromkeys(k for r in group for k in r["parts"] if k != "kind")
        for part in part_names:
            for a in group:
                pa = a["parts"]
                if pa.get(part) in DENSE_LEVELS or part not in pa:
                    continue
                twins = [b for b in group if b["parts"].get(part) in DENSE_LEVELS
                         and all(b["parts"].get(k) == v for k, v in pa.items() if k != part)]
                for b in twins:
                    rest = ", ".join(f"{k} {v}" for k, v in pa.items() if k not in ("kind", part))
                    cmp = "; ".join(f"{label} {compare(a, b, key, sc)}"
                                    for key, label, sc in _sparsity_columns())
                    lines.append(f"{kind.upper()} {part} {pa[part]} (`{a['config']}`) vs "
                                 f"{part} {b['parts'][part]} (`{b['config']}`), {rest}: {cmp}")
    return lines


def findings(rows: list[dict]) -> list[str]:
    """Plain statements computed from the results: winners, distances to the floor and, for image models,
    the sparse-aware vs dense comparison of every twin pair."""
    lines = []
    for key, label, scale in columns("findings"):
        scored = [(_score(r, key), r) for r in rows if _score(r, key) is not None]
        if scored:
            _, r = min(scored, key=lambda x: x[0])
            floor = r["metrics"]["truth_floor"].get(key) or {}
            ratio = ratio_to_floor(r["metrics"], get(key))
            times = f", {ratio:.1f}× the floor" if ratio is not None else ""
            lines.append(f"best {label} (value + 1σ): `{r['config']}` {R.fmt(r['metrics'][key], scale)} "
                         f"(floor {R.fmt(floor, scale)}{times})")
    lines += sparse_vs_dense(rows)
    for r in rows:
        zf, zf_real = (r["metrics"].get("zero_fraction") or {}).get("value"), \
            (r["metrics"].get("truth_floor", {}).get("zero_fraction") or {}).get("value")
        if zf is not None and zf_real is not None and zf_real < 1:
            occupancy = (1 - zf) / (1 - zf_real)
            if occupancy < 0.01:
                lines.append(f"`{r['config']}` generated (almost) empty images: "
                             f"occupancy {100 * occupancy:.2g} % of the real one")
    return lines


def write_report(rows: list[dict], s: Settings) -> list[str]:
    """Per family: tables, findings and overlay plots into its section of the results file; returns the
    section texts."""
    return [write_family(family, fam, s) for family in CONFIG_DIRS
            if (fam := [r for r in rows if r["family"] == family])]


def _budget(rows: list[dict], s: Settings) -> str:
    r = rows[0]
    data = r.get("data", {})
    scale = H.QUICK if s.quick else f"{H.clock_minutes(s.minutes, s.clock)} per run"
    loads = [x["load_average"] for x in rows]
    images = (f"; images {data.get('npix')}×{data.get('npix')} over ±{data.get('extent')}, intensities "
              f"pixel pT / jet pT, `{data.get('transform')}` transform" if r["family"] == "images" else "")
    return (f"{H.budget(s, scale)}; the machine's 1-minute load average during the runs was "
            f"{min(loads):.1f}–{max(loads):.1f} on its CPU cores (column `load avg`; above the core count, "
            "runs shared the CPU with other work and got fewer steps). "
            f"Data: {s.num_jets} generated Pythia8+FastJet jets per class (up to "
            f"{data.get('num_particles', '?')} particles{images}), split 0.7/0.15/0.15; metrics on "
            f"{r.get('eval_jets', '?')} generated jets against as many held-out (validation+test) jets, "
            "JetNet's resampling sizes capped there; the truth floor is real vs real at the same sample "
            "size. Best epoch by `val/w1m` (configs that keep only their last checkpoint: the last one). "
            "Bold: best per column by value + 1σ (AUC: closest to 0.5). Errors are the metrics' own "
            "(resampling) errors, not run-to-run spread.")


def write_family(family: str, rows: list[dict], s: Settings) -> str:
    """One family's section of the results file."""
    from sparsegen.plotting import average_image_grid, comparison_grid

    plot_dir = H.plot_dir(s)
    types = list(dict.fromkeys(r["jet_type"] for r in rows))
    configs = [r["config"] for r in rows if r["jet_type"] == types[0]]
    cmd = H.command(s, family=family, configs=configs if s.configs else None)
    title = {"images": "1a. Generative study: image models",
             "points": "1b. Generative study: point models"}[family]
    grid = f"_npix{s.npix}" if s.npix else ""  # a run at another grid has its own section and figures
    if s.npix:
        title += f" at {s.npix}×{s.npix}"
    others = not set(types) & set(by_class.TUNED)  # only classes the recipes were not tuned on: own section
    if others:
        title += " on " + ", ".join(JET_CLASS_NAMES.get(t, t) for t in types) + " jets"
    parts = [f"## {title} (same data, same budget)\n",
             f"Command: `{cmd}` (results file `{s.results}`). {_budget(rows, s)}"
             + (" Image models are scored in the image representation (real jets read out of their own "
                "pixels); `occupancy gen/real` and `pixel sum gen/real` are ratios of the means over all "
                "scored jets (the floor row: 1)." if family == "images" else "") + "\n"]
    for t in types:
        sub = [r for r in rows if r["jet_type"] == t]
        name = JET_CLASS_NAMES.get(t, t)
        parts.append(f"### {name} jets\n")
        parts.append(f"{class_table(sub)}\n")
        parts.append("Findings (computed from the table): " + "; ".join(findings(sub)) + ".\n")
        panels = {}
        for r in sub:
            d = np.load(run_dir(s, t, r["config"]) / "plot_data.npz")
            panels[r["config"]] = {k: d[k] for k in d.files}
        figs = []
        for key, xlabel, kw in (("mass", "jet mass [GeV]", {}),
                                ("mult", "multiplicity (particles / active pixels)", {"integer": True}),
                                ("pix", r"active pixel intensity ($p_T^{rel}$)",
                                 {"logx": True, "logy": True})):
            fname = f"generative_{family}{grid}_{t}_{key}.png"
            comparison_grid({c: {"real": p[f"{key}_real"], "generated": p[f"{key}_gen"]}
                             for c, p in panels.items()},
                            xlabel=xlabel, path=plot_dir / fname, title=f"{name} jets, {family}", **kw)
            figs.append(fname)
        fname = f"generative_{family}{grid}_{t}_average_images.png"
        first = next(iter(panels.values()))
        average_image_grid({"real (points pixelized)": first["avg_real"]}
                           | {c: p["avg_gen"] for c, p in panels.items()},
                           path=plot_dir / fname, title=f"{name} jets: average images (log scale)")
        figs.append(fname)
        parts.append(" ".join(f"![{f}](results/{f})" for f in figs) + "\n")
    if others and family == "images":
        table = by_class.summary(grid_dir(s), types, configs)
        if table:
            parts.append("### by class (against the gluon runs of the same folder)\n\n" + table)
    tag = "_other_classes" if others else ""
    return H.write_section(s, SECTIONS[family] + grid + tag, "\n".join(parts))
