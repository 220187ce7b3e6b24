"""Conditional study: one conditional model for every class vs one model per class, at equal total CPU budget.

The conditional model (a conditional config, by default ``configs/points/flow_matching_conditional.yaml``,
with the config's conditions: class, jet pT, mass, multiplicity) trains on all classes for ``minutes`` of CPU
time (``clock="wall"``: wall clock); each per-class model
(the same config on one class, with the same conditions less the class) trains for ``minutes / #classes``.
Both are scored per class against an independent held-out Pythia sample (seed + 1), generating with the
conditions of the held-out jets one by one (``--conditions-from``), so every comparison has the same class
and jet kinematics. The section also checks the physics a user asks of a conditional model: W and top mass
peaks and multiplicities sampled by class, and a requested jet pT.

Every run writes ``OUT/<run>/result.json`` (resume: `harness.run_all`). The report goes into the
``conditional`` section of the results file, with the mass distributions per class in one plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sparsegen.core.defaults import JET_CLASS_NAMES
from sparsegen.metrics.registry import badness, columns, get
from sparsegen.studies import harness as H
from sparsegen.studies import report as R
from sparsegen.studies.settings import Conditional as Settings


def _cols() -> tuple[tuple[str, str, float], ...]:
    """The table's metric columns (name, label, scale), from the registry at call time."""
    return columns("conditional")


def _runs(s: Settings) -> list[tuple[str, list[str]]]:
    """(run name, classes): the conditional model and one model per class."""
    return [("conditional", list(s.jet_types))] + [(f"per_class_{t}", [t]) for t in s.jet_types]


QUICK_PARTICLES = 30
"""Particles per jet at --quick scale (test speed), whatever the config says."""


def _config_data(s: Settings) -> dict[str, Any]:
    return H.read_config(s.config)["data"]["init_args"]


def _config_particles(s: Settings) -> int:
    return QUICK_PARTICLES if s.quick else int(_config_data(s)["num_particles"])


def run_conditions(s: Settings, classes: list[str]) -> list[str]:
    """The config's conditions; a per-class model has the same ones less the class."""
    names = list(_config_data(s).get("conditions") or ["class", "pt", "multiplicity"])
    return names if len(classes) > 1 else [n for n in names if n != "class"]


def heldout_jets(s: Settings, jet_type: str):
    """The independent held-out sample of one class (seed + 1), from the generation cache."""
    from sparsegen.data.cache import load_or_generate

    n = 120 if s.quick else s.heldout
    return load_or_generate(jet_type, n, _config_particles(s), s.seed + 1, workers=2, progress=False)


def run_one(name: str, classes: list[str], s: Settings) -> dict[str, Any]:
    """Train one model (budget share by its classes), score it per class; writes result.json."""
    from sparsegen.metrics.evaluation import evaluate
    from sparsegen.models.training import QUICK_TRAINER, fit

    run_dir = Path(s.out) / name
    conditions = run_conditions(s, classes)
    minutes = s.minutes * len(classes) / len(s.jet_types)
    overrides = [
        "--data.init_args.jet_types",
        f"[{', '.join(classes)}]",
        "--data.init_args.conditions",
        f"[{', '.join(conditions)}]",
        "--data.init_args.seed",
        str(s.seed),
        "--data.init_args.num_particles",
        str(_config_particles(s)),
        *(QUICK_TRAINER if s.quick else ()),
        *(("--model.init_args.conserve_pt", "false") if s.quick else ()),  # 30 particles cut the jets
    ]
    res = fit(
        s.config, run_dir, seed=s.seed, minutes=minutes, num_jets=s.num_jets, overrides=overrides,
        clock=s.clock,
    )
    model = res.model
    record: dict[str, Any] = {"run": name, "classes": classes, "conditions": conditions, "minutes": minutes,
                              "train_s": res.train_s, "train_cpu_s": res.train_cpu_s, "epochs": res.epochs,
                              "steps": res.steps, "load_average": res.load, "metrics": {}, "mass": {}}
    for t in classes:
        real = heldout_jets(s, t)
        gen = model.sample(len(real), real, seed=s.seed, batch_size=1000)
        record["metrics"][t] = evaluate(real, gen, seed=s.seed, quick=True, classifier=True)
        record["mass"][t] = {"real": real.constituent_mass.tolist(), "gen": gen.constituent_mass.tolist()}
    if len(classes) > 1:
        record["checks"] = physics_checks(model, s)
    R.write_json(run_dir / "result.json", record)  # last: its presence marks the run as finished
    return record


def mass_mode(mass: np.ndarray, width: float = 5.0) -> float:
    """Centre of the most populated ``width``-GeV mass bin."""
    hist, edges = np.histogram(mass, bins=np.arange(0.0, 400.0 + width, width))
    return float(edges[hist.argmax()] + width / 2)


def physics_checks(model, s: Settings, num: int = 5_000) -> dict[str, Any]:
    """Mass mode and mean multiplicity per class sampled by class alone, and jets asked for pT = 1.4 TeV."""
    n = 100 if s.quick else num
    out: dict[str, Any] = {"per_class": {}}
    for t in s.jet_types:
        jets = model.sample(n, {"class": t}, seed=s.seed)
        out["per_class"][t] = {
            "mass_mode": mass_mode(jets.mass),
            "mean_multiplicity": float(jets.num_particles.mean()),
        }
    spec = model.data_info.spec
    pt = 1400.0 if all(spec.quantiles[t]["pt"][-1] >= 1400.0 for t in spec.classes) else None
    if pt is not None:
        jets = model.sample(n, {"class": s.jet_types[0], "pt": pt}, seed=s.seed)
        out["pt_request"] = {"asked": pt, "min": float(jets.pt.min()), "max": float(jets.pt.max()),
                             "mass_mode": mass_mode(jets.mass)}
    return out


def run(s: Settings, progress: bool = True) -> list[dict[str, Any]]:
    """Every run not finished yet, then the report."""

    def prepare() -> None:  # the training and the held-out jets, once, before the timed runs
        H.prepare_jets(s.jet_types, s.num_jets, [_config_particles(s)], s.seed)
        for t in s.jet_types:
            heldout_jets(s, t)

    runs = [(name, (name, classes)) for name, classes in _runs(s)]
    rows = H.run_all(s, runs, run_one, prepare=prepare, desc="conditional study", progress=progress)
    write_report(rows, s)
    return rows


# ----------------------------------------------------------------------------- report
def write_report(rows: list[dict], s: Settings) -> str:
    """Per-class table (conditional vs per-class model, truth floor), physics checks, mass plot."""
    from sparsegen.plotting import comparison_grid

    cond = rows[0]
    per_class = {r["classes"][0]: r for r in rows[1:]}
    scale = H.QUICK if s.quick else (f"{H.clock_minutes(s.minutes, s.clock)} for the conditional model, "
                                     f"{s.minutes / len(s.jet_types):.3g} min for each per-class model")
    parts = [
        "## 4. Conditional study: one conditional model vs one model per class\n",
        f"{H.head(s, scale)}. The conditional model is conditioned on {', '.join(cond['conditions'])}; each "
        f"per-class model on {', '.join(rows[1]['conditions']) if len(rows) > 1 else '-'}. Training data: "
        f"{s.num_jets} generated jets per class; scored per class against an independent held-out sample "
        f"({s.heldout} jets per class, seed {s.seed + 1}), generated with the conditions of the held-out "
        "jets one by one; quick JetNet sample sizes, truth floor real vs real at the same size.\n",
    ]
    header = ["class", "model", *[label for _, label, _ in _cols()], "train s (CPU s)"]
    body = []
    for t in s.jet_types:
        for label, r in (("conditional (all classes)", cond), ("per-class", per_class.get(t))):
            if r is None:
                continue
            m = r["metrics"][t]
            body.append(
                [
                    JET_CLASS_NAMES[t],
                    label,
                    *[R.fmt(m.get(k), sc) for k, _, sc in _cols()],
                    f"{r['train_s']:.0f} ({r.get('train_cpu_s', float('nan')):.0f})",
                ]
            )
        floor = cond["metrics"][t].get("truth_floor", {})
        body.append(
            [JET_CLASS_NAMES[t], "*truth floor*", *[R.fmt(floor.get(k), sc) for k, _, sc in _cols()], ""]
        )
    parts.append(R.markdown_table(header, body) + "\n")
    parts.append("Findings (computed): " + "; ".join(findings(rows, s)) + ".\n")
    panels = {
        JET_CLASS_NAMES[t]: {
            "real": np.asarray(cond["mass"][t]["real"]),
            "conditional": np.asarray(cond["mass"][t]["gen"]),
            **({"per-class": np.asarray(per_class[t]["mass"][t]["gen"])} if t in per_class else {}),
        }
        for t in s.jet_types
    }
    fname = "conditional_mass.png"
    comparison_grid(panels, xlabel="jet mass [GeV]", path=H.plot_dir(s) / fname,
                    title="jet mass per class: real vs one conditional model vs one model per class")
    parts.append(f"![{fname}](results/{fname})\n")
    return H.write_section(s, "conditional", "\n".join(parts))


def _rank_score(entry: dict, key: str) -> float:
    """Lower is better: value + 1σ (AUC: distance from 0.5 + 1σ)."""
    return badness(entry, get(key), sigmas=1.0)


def findings(rows: list[dict], s: Settings) -> list[str]:
    """Which approach wins per class and metric (value + 1σ), and the physics checks of the conditional
    model."""
    cond, per_class = rows[0], {r["classes"][0]: r for r in rows[1:]}
    lines = []
    for key, label, _ in _cols():
        wins = 0
        compared = 0
        for t in s.jet_types:
            if t not in per_class:
                continue
            a, b = cond["metrics"][t].get(key) or {}, per_class[t]["metrics"][t].get(key) or {}
            if a.get("value") is None or b.get("value") is None:
                continue
            compared += 1
            wins += _rank_score(a, key) < _rank_score(b, key)
        if compared:
            lines.append(f"{label}: conditional better in {wins}/{compared} classes")
    checks = cond.get("checks", {})
    per = checks.get("per_class", {})
    if per:
        lines.append("sampled by class alone: " + ", ".join(
            f"{JET_CLASS_NAMES[t]} mass mode {c['mass_mode']:.0f} GeV, ⟨n⟩ {c['mean_multiplicity']:.1f}"
            for t, c in per.items()))
    if "g" in per and "w" in per:
        more = per["g"]["mean_multiplicity"] > per["w"]["mean_multiplicity"]
        lines.append(f"gluon multiplicity {'above' if more else 'NOT above'} W")
    req = checks.get("pt_request")
    if req:
        lines.append(
            f"asked for pT = {req['asked']:.0f} GeV: jets with pT {req['min']:.0f}–{req['max']:.0f} GeV"
        )
    return lines
