"""Sparse-input convergence: does a CNN with sparse input converge, and what helps?

A small CNN autoencoder (reconstruct the jet image) and a CNN classifier (top vs gluon) are trained on
the same mostly empty jet images (`probes.load_image_splits`) while one ingredient changes at a time from a
plain baseline (dense CNN, raw input, MSE / BCE, no skips, Adam, an autoencoder output that cannot die;
the networks: `probes.ConvEncoder`, `probes.ConvDecoder`, `probes.Autoencoder`):

- reconstruction loss: plain MSE, masked MSE (pixels active in target or output), weighted MSE
  (active and empty pixels balanced; `sparsegen.nn.losses`);
- input: raw, kNN imputation or neighbourhood (normalized-convolution) imputation of the empty pixels
  (`sparsegen.nn.imputation`; the target stays the sparse image);
- residual skip connections in every conv block, or none;
- Adam vs SGD with momentum (`probes.make_optimizer`);
- a submanifold sparse-convolution encoder (the models' `SparseEncoder`, only active pixels are touched);
- the autoencoder's output: softplus (the baseline: it cannot die), hurdle (occupancy logit + Gaussian
  log-intensity per pixel, `hurdle_loss`) or ReLU. A ReLU output whose pre-activations all turn negative
  has zero gradient and never recovers; the ReLU rows document that failure next to their
  softplus twins, with the share of non-positive output pre-activations as evidence.

Reconstructions are read out like generated images: pixels below the read-out threshold
(`sparsegen.data.normalization.IMAGE_THRESHOLD`, a fraction of the jet pT) are empty.

Every autoencoder is scored with the same numbers whatever it was trained on: MSE over all pixels and over
the target's active pixels, the share of predicted intensity leaked into empty pixels, predicted/true
occupancy, and the median relative error of the reconstructed jet mass. Classifiers: AUC, accuracy and
the epoch at which the validation AUC reaches 98 % of its final value.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.core.defaults import NPIX
from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.normalization import DEFAULT_FLOOR, IMAGE_THRESHOLD, Normalizer
from sparsegen.nn import losses as L
from sparsegen.studies import harness as H
from sparsegen.studies import probes as P
from sparsegen.studies import report as R
from sparsegen.studies.probes import Autoencoder, ConvDecoder, ConvEncoder, SparseConvEncoder
from sparsegen.studies.settings import SparseInput as Settings


@dataclass(frozen=True)
class Variant:
    name: str
    task: str  # "autoencoder" | "classifier"
    loss: str = "mse"  # autoencoder: mse | masked_mse | weighted_mse | hurdle; classifier: bce
    impute: str = "none"  # none | knn | neighbourhood
    skip: bool = False
    optimizer: str = "adam"
    encoder: str = "dense"  # dense | sparse
    output: str = "softplus"  # autoencoder: softplus | relu | hurdle


VARIANTS: tuple[Variant, ...] = (
    Variant("AE: MSE (baseline)", "autoencoder"),
    Variant("AE: masked MSE", "autoencoder", loss="masked_mse"),
    Variant("AE: weighted MSE", "autoencoder", loss="weighted_mse"),
    Variant("AE: MSE + kNN imputation", "autoencoder", impute="knn"),
    Variant("AE: MSE + neighbourhood imputation", "autoencoder", impute="neighbourhood"),
    Variant("AE: MSE + skips", "autoencoder", skip=True),
    Variant("AE: masked MSE + skips", "autoencoder", loss="masked_mse", skip=True),
    Variant("AE: MSE, SGD", "autoencoder", optimizer="sgd"),
    Variant("AE: masked MSE, SGD", "autoencoder", loss="masked_mse", optimizer="sgd"),
    Variant("AE: sparse-conv encoder, MSE", "autoencoder", encoder="sparse"),
    Variant("AE: sparse-conv encoder, masked MSE", "autoencoder", loss="masked_mse", encoder="sparse"),
    Variant("AE: hurdle output", "autoencoder", loss="hurdle", output="hurdle"),
    Variant("AE: sparse-conv encoder, hurdle output", "autoencoder", loss="hurdle", output="hurdle",
            encoder="sparse"),
    Variant("AE: MSE, ReLU output", "autoencoder", output="relu"),
    Variant("AE: masked MSE, ReLU output", "autoencoder", loss="masked_mse", output="relu"),
    Variant("AE: MSE + skips, ReLU output", "autoencoder", skip=True, output="relu"),
    Variant("AE: sparse-conv encoder, MSE, ReLU output", "autoencoder", encoder="sparse", output="relu"),
    Variant("tagger: CNN (baseline)", "classifier", loss="bce"),
    Variant("tagger: CNN, SGD", "classifier", loss="bce", optimizer="sgd"),
    Variant("tagger: CNN + kNN imputation", "classifier", loss="bce", impute="knn"),
    Variant("tagger: CNN + neighbourhood imputation", "classifier", loss="bce", impute="neighbourhood"),
    Variant("tagger: CNN + skips", "classifier", loss="bce", skip=True),
    Variant("tagger: CNN + skips, SGD", "classifier", loss="bce", skip=True, optimizer="sgd"),
    Variant("tagger: sparse-conv encoder", "classifier", loss="bce", encoder="sparse"),
)


def key(v: Variant) -> str:
    """A variant's ``--variants`` key: its name in lower case, every run of other characters one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", v.name.lower()).strip("-")


def selected(s: Settings) -> tuple[Variant, ...]:
    """The variants ``--variants`` names (all by default); an unknown key is a one-line error."""
    if not s.variants:
        return VARIANTS
    keys = {key(v): v for v in VARIANTS}
    unknown = [k for k in s.variants if k not in keys]
    if unknown:
        raise SparsegenInputError("--variants", f"unknown variant {', '.join(unknown)} (one of "
                                                f"{', '.join(keys)})")
    return tuple(v for k, v in keys.items() if k in s.variants)


# ----------------------------------------------------------------------------- networks
def start_biases(output: str, x: Tensor, space: Normalizer) -> list[float]:
    """Output biases that make an untrained decoder emit the training data's average pixel: softplus / ReLU:
    the mean scaled intensity over all pixels (softplus: its inverse); hurdle: the logit of the mean
    occupancy, the mean and log standard deviation of the active pixels' log-intensity value. (A softplus
    head started at an O(1) output everywhere is pushed to deeply negative pre-activations in the first
    steps, where its slope σ(a) is nearly zero: it then sits at "empty" as surely as a dead ReLU.)"""
    mean = float(x.mean())
    if output == "hurdle":
        active = x[x > 0]
        v = space.images(active.view(1, 1, 1, -1)).flatten()
        occ = float((x > 0).float().mean())
        return [math.log(occ / (1 - occ)), float(v.mean()), math.log(max(float(v.std()), 1e-3))]
    if output == "softplus":
        return [math.log(math.expm1(mean))]
    return [mean]


def build(v: Variant, npix: int = NPIX, scale: float = 1.0) -> nn.Module:
    """The variant's network; ``scale`` (ptrel per input unit) places the hurdle's log transform."""
    encoder = SparseConvEncoder(npix) if v.encoder == "sparse" else ConvEncoder(npix, skip=v.skip)
    if v.task == "autoencoder":
        decoder = ConvDecoder(npix, skip=v.skip, out_channels=3 if v.output == "hurdle" else 1)
        return Autoencoder(encoder, decoder, v.output, log_space(scale))
    return nn.Sequential(encoder, nn.LeakyReLU(0.2), nn.Linear(32, 1))


def log_space(scale: float) -> Normalizer:
    """The data's log transform in the study's units (intensities divided by ``scale``)."""
    return Normalizer(np.zeros(3, np.float32), np.ones(3, np.float32), math.log1p(1.0 / DEFAULT_FLOOR), "log",
                      DEFAULT_FLOOR / scale, IMAGE_THRESHOLD / scale)


# ----------------------------------------------------------------------------- scoring
def reconstruction_metrics(pred: Tensor, target: Tensor, scale: float, extent: float) -> dict[str, float]:
    """Loss-independent numbers for a reconstruction (pred/target scaled, (N, 1, H, W)); predicted pixels
    below the read-out threshold are empty."""
    from sparsegen.core.images import images_to_particles
    from sparsegen.core.kinematics import relative_mass

    pred = torch.where(pred * scale >= IMAGE_THRESHOLD, pred, torch.zeros_like(pred))
    active = target > 0
    err = (pred - target) ** 2
    out = {
        "mse_all": float(err.mean()),
        "mse_active": float(err[active].mean()) if active.any() else math.nan,
        "empty_leak": float(pred[~active].sum() / target.sum().clamp_min(1e-12)),
        "occupancy_ratio": float((pred > 0).float().sum() / active.float().sum()),
        "zero_fraction": float((pred == 0).float().mean()),
    }
    # jet mass of the reconstruction, from its pixels (one particle per pixel), vs the target's
    m_pred = relative_mass(*images_to_particles((pred[:, 0] * scale).numpy(), extent=extent))
    m_true = relative_mass(*images_to_particles((target[:, 0] * scale).numpy(), extent=extent))
    ok = m_true > 0
    rel = np.abs(m_pred[ok] - m_true[ok]) / m_true[ok]
    out["mass_rel_error"] = float(np.median(rel)) if rel.size and np.isfinite(rel).all() else math.nan
    return out


def impute(kind: str, x: Tensor) -> Tensor:
    from sparsegen.nn.imputation import knn_impute, neighbourhood_impute

    if kind == "none":
        return x
    if kind == "knn":
        return knn_impute(x, k=3)
    if kind == "neighbourhood":
        return neighbourhood_impute(x, size=3, iterations=2)
    raise ValueError(f"unknown imputation {kind!r}")


def run_variant(v: Variant, data: P.ImageSplits, inputs: dict[str, dict[str, Tensor]],
                s: Settings) -> dict[str, Any]:
    """Train one variant; returns its history and test metrics."""
    torch.manual_seed(s.seed)
    model = build(v, npix=grid(s), scale=data.scale)
    if v.task == "autoencoder":
        model.decoder.start_at(start_biases(v.output, data.x["train"], model.space))
    opt = P.make_optimizer(v.optimizer, model.parameters())
    x_in = inputs[v.impute]
    ae = v.task == "autoencoder"
    # the model sees (possibly imputed) inputs; the target is always the sparse image
    index_of = {"train": torch.arange(len(data.x["train"]))}

    def ae_loss(raw: Tensor, target: Tensor) -> Tensor:
        if v.loss == "hurdle":
            return L.hurdle_loss(raw, model.space.images(target))
        pred = model.activate(raw)
        return L.weighted_mse(pred, target) if v.loss == "weighted_mse" else getattr(L, v.loss)(pred, target)

    def step(idx: Tensor, y: Tensor) -> Tensor:
        out = model(x_in["train"][idx])
        if ae:
            return ae_loss(out, data.x["train"][idx])
        return F.binary_cross_entropy_with_logits(out[:, 0], y.float())

    def on_epoch(epoch: int, train_loss: float) -> dict[str, float]:
        out = P.predict(model, x_in["val"])
        if ae:
            m = reconstruction_metrics(model.reconstruct(out), data.x["val"], data.scale, data.extent)
            return {"val_mse_all": m["mse_all"], "val_mse_active": m["mse_active"],
                    "val_occupancy_ratio": m["occupancy_ratio"]}
        auc, acc = P.auc_and_accuracy(data.y["val"], out[:, 0])
        return {"val_auc": auc, "val_accuracy": acc}

    start = time.perf_counter()
    epochs = min(s.epochs, 2) if s.quick else s.epochs
    history = P.train_epochs(model, step, opt, index_of["train"], data.y["train"], epochs, s.batch_size,
                             s.seed, on_epoch, max_batches=2 if s.quick else None)
    train_s = time.perf_counter() - start
    diverged = bool(history and history[-1].get("diverged"))
    model.eval()
    out = P.predict(model, x_in["test"])
    if ae:
        metrics = reconstruction_metrics(model.reconstruct(out), data.x["test"], data.scale, data.extent)
        first = history[0].get("val_mse_all", math.nan) if history else math.nan
        metrics["val_mse_final_over_first"] = (
            history[-1].get("val_mse_all", math.nan) / first if first else math.nan
        )
        metrics["collapsed"] = float(metrics["zero_fraction"] == 1.0)
        # the share of non-positive output pre-activations (occupancy logits for the hurdle output): 1 for a
        # dead ReLU output
        metrics["preactivation_nonpositive"] = float((out[:, :1] <= 0).float().mean())
    else:
        auc, acc = P.auc_and_accuracy(data.y["test"], out[:, 0])
        metrics = {"auc": auc, "auc_error": P.auc_error(auc, data.y["test"]), "accuracy": acc,
                   "epochs_to_98pct_auc": P.epochs_to_reach([h.get("val_auc") for h in history]) or math.nan}
    metrics["diverged"] = float(diverged)
    return {"variant": asdict(v), "history": history, "metrics": metrics, "train_s": train_s,
            "params": sum(p.numel() for p in model.parameters())}


# ----------------------------------------------------------------------------- study
def run(s: Settings, progress: bool = True) -> list[dict[str, Any]]:
    """Train every variant, write ``OUT/results.json``, the table and the curves into the results file."""
    from tqdm.auto import tqdm

    variants = selected(s)
    torch.set_num_threads(s.threads)
    per_class = min(s.num_jets, 200) if s.quick else s.num_jets
    data = P.load_image_splits({0: ["g"], 1: ["t"]}, per_class, s.seed, s.quick, progress=progress,
                               num_particles=s.num_particles, npix=grid(s))
    inputs = {k: {split: impute(k, x) for split, x in data.x.items()}
              for k in ("none", "knn", "neighbourhood")}
    rows = []
    for v in tqdm(variants, desc="sparse-input study", unit="variant", disable=not progress):
        rows.append(run_variant(v, data, inputs, s))
    out = Path(s.out) / (f"npix{s.npix}" if s.npix else "")
    R.write_json(out / "results.json", {"settings": asdict(s), "scale": data.scale, "rows": rows})
    write_report(rows, s, data)
    return rows


AE_COLUMNS = (("mse_all", "MSE all pixels ×10³", 1e3), ("mse_active", "MSE active pixels", 1.0),
              ("empty_leak", "intensity in empty pixels / true intensity", 1.0),
              ("occupancy_ratio", "occupancy pred/true", 1.0),
              ("mass_rel_error", "median rel. mass error", 1.0),
              ("val_mse_final_over_first", "val MSE last/first epoch", 1.0),
              ("preactivation_nonpositive", "output pre-activations ≤ 0", 1.0))
CLS_COLUMNS = (("auc", "AUC ± s.e.", 1.0), ("accuracy", "accuracy", 1.0),
               ("epochs_to_98pct_auc", "epochs to 98 % of final AUC", 1.0))


FLAT = 0.95
"""An autoencoder whose validation MSE ends above this fraction of its first-epoch value made no progress."""


def flat(m: dict, loss: str) -> bool:
    """Did an MSE-family autoencoder that did not collapse still learn nothing (its own objective, the
    validation MSE, flat)? A hurdle output optimizes its likelihood, not the MSE of its read-out image, so
    a flat MSE says nothing about it."""
    return loss != "hurdle" and not m.get("collapsed") and m.get("val_mse_final_over_first", 0.0) >= FLAT


def tables(rows: list[dict]) -> tuple[str, str]:
    ae = [r for r in rows if r["variant"]["task"] == "autoencoder"]
    cls = [r for r in rows if r["variant"]["task"] == "classifier"]

    def status(r: dict) -> str:
        m = r["metrics"]
        if m.get("diverged"):
            return "diverged"
        if m.get("collapsed"):
            return "collapsed to empty"
        return "no progress" if flat(m, r["variant"]["loss"]) else "trains"

    t1 = R.markdown_table(["variant", *[c[1] for c in AE_COLUMNS], "outcome", "train s"],
                          [[r["variant"]["name"],
                            *[R.fmt(r["metrics"].get(k), sc) for k, _, sc in AE_COLUMNS],
                            status(r), f"{r['train_s']:.0f}"] for r in ae])
    def cls_cell(m: dict, key: str, scale: float) -> str:
        if key == "auc":
            return R.fmt({"value": m.get("auc"), "error": m.get("auc_error")})
        return R.fmt(m.get(key), scale)

    t2 = R.markdown_table(["variant", *[c[1] for c in CLS_COLUMNS], "outcome", "train s"],
                          [[r["variant"]["name"],
                            *[cls_cell(r["metrics"], k, sc) for k, _, sc in CLS_COLUMNS],
                            status(r), f"{r['train_s']:.0f}"] for r in cls])
    return t1, t2


def write_report(rows: list[dict], s: Settings, data: P.ImageSplits) -> str:
    from sparsegen.plotting import line_panels

    t1, t2 = tables(rows)
    ae = [r for r in rows if r["variant"]["task"] == "autoencoder"]
    cls = [r for r in rows if r["variant"]["task"] == "classifier"]

    def curve(r: dict, key: str) -> list[float]:
        return [h.get(key, math.nan) for h in r["history"]]

    line_panels({"autoencoders: validation MSE, all pixels":
                     {r["variant"]["name"][4:]: curve(r, "val_mse_all") for r in ae},
                 "autoencoders: validation MSE, active pixels":
                     {r["variant"]["name"][4:]: curve(r, "val_mse_active") for r in ae},
                 "taggers: validation AUC": {r["variant"]["name"][8:]: curve(r, "val_auc") for r in cls},
                 "taggers: training loss (BCE)":
                     {r["variant"]["name"][8:]: curve(r, "train_loss") for r in cls}},
                xlabel="epoch", logy={0: True, 1: True, 3: True},
                path=H.plot_dir(s) / f"{section_name(s)}_curves.png")
    n = {k: len(v) for k, v in data.y.items()}
    occ = float((data.x["train"] > 0).float().mean())
    body = "\n".join([
        "## 2. Sparse-input convergence: does a CNN with sparse input converge?"
        + (f" ({grid(s)}×{grid(s)})" if s.npix else "") + "\n",
        (f"{H.head(s, P.budget_scale(s, 'class'))}. Data: generated gluon and top jets with up to "
         f"{s.num_particles} constituents, {grid(s)}×{grid(s)} images over ±{data.extent:g} "
         f"({100 * occ:.2g} % of pixels active), {n['train']}/{n['val']}/{n['test']} train/val/test images; "
         "intensities divided by the mean active-pixel intensity. One change at a time from the baseline "
         "(dense CNN with 3 stride-2 stages and a 3×3 conv block each, raw input, no skips, Adam 1e-3, "
         "softplus output; SGD: momentum 0.9, lr 1e-2). Imputation fills the *input* only; the target is "
         "always the sparse image. All "
         "autoencoders are scored on the test set with the same numbers, whatever loss they trained on; "
         f"reconstructed pixels below {IMAGE_THRESHOLD:g} of the jet pT are empty (the read-out threshold of "
         "generated images). Every output head starts at the training data's average pixel (softplus, ReLU: "
         "the mean scaled intensity; hurdle: mean occupancy, mean and spread of the log-intensity). The "
         "hurdle output is read with its expected number of active pixels (round(Σ p)) at its most probable "
         "pixels, each with the intensity exp(μ) of its log-intensity. Outcome: *collapsed to empty* = no "
         "pixel above the threshold; *no progress* = an MSE-trained output whose validation MSE ended above "
         f"{FLAT:g}× its first-epoch value (it settled on a near-constant image; the hurdle output optimizes "
         "its likelihood, not this MSE).\n"),
        "Autoencoders (reconstruct the image through a 32-d bottleneck):\n", t1, "",
        "Taggers (top vs gluon, same encoders, BCE):\n", t2, "",
        "Findings (computed from the tables): " + "; ".join(findings(rows)) + ".\n",
        f"![{section_name(s)}_curves.png](results/{section_name(s)}_curves.png)\n",
    ])
    return H.write_section(s, section_name(s), body)


def grid(s: Settings) -> int:
    """The study's image grid (``--npix``, default the library's)."""
    return s.npix or NPIX


def section_name(s: Settings) -> str:
    """``sparse_input``; at another grid its own section (and figure) ``sparse_input_npixN``."""
    return "sparse_input" + (f"_npix{s.npix}" if s.npix else "")


def findings(rows: list[dict]) -> list[str]:
    ae = {r["variant"]["name"]: (r["variant"], r["metrics"])
          for r in rows if r["variant"]["task"] == "autoencoder"}
    cls = {r["variant"]["name"]: r["metrics"] for r in rows if r["variant"]["task"] == "classifier"}
    lines = []
    for output in ("softplus", "hurdle", "relu"):
        group = {k: m for k, (v, m) in ae.items() if v["output"] == output}
        if not group:
            continue
        collapsed = [k for k, m in group.items() if m.get("collapsed")]
        stuck = [k for k, m in group.items() if flat(m, ae[k][0]["loss"])]
        line = (f"{output} outputs: {len(collapsed)} of {len(group)} autoencoders collapsed to "
                "all-empty output"
                + (f" ({'; '.join(repr(c[4:]) for c in collapsed)})" if collapsed else "")
                + f", {len(stuck)} made no progress"
                + (f" ({'; '.join(repr(c[4:]) for c in stuck)})" if stuck else ""))
        if output == "softplus" and stuck:
            line += ("; their output pre-activations are all ≤ 0: a softplus head at the level of a mostly "
                     "empty image has a slope σ(a) that is a small fraction of a ReLU's, so the decoder does "
                     "not leave the near-constant image within its epochs; the masked MSE is the MSE here (a "
                     "softplus output is never exactly 0, so every pixel counts as active)")
        dead = [m.get("preactivation_nonpositive", math.nan) for k, m in group.items() if k in collapsed]
        if output == "relu" and collapsed:
            share = f"{100 * min(dead):.3g}–{100 * max(dead):.3g} %"
            line += (f"; their output pre-activations are ≤ 0 at {share} of the test pixels: the MSE optimum "
                     "of a mostly empty image pulls every output toward zero, a ReLU below zero passes no "
                     "gradient, and a pixel that has gone dark can never light up again")
        lines.append(line)
    ok = {k: m for k, (v, m) in ae.items()
          if not m.get("collapsed") and math.isfinite(m.get("mass_rel_error", math.nan))}
    if ok:
        best = min(ok, key=lambda k: ok[k]["mass_rel_error"])
        lines.append(f"best jet-mass reconstruction: {best[4:]} "
                     f"(median relative mass error {ok[best]['mass_rel_error']:.3g})")
        best = min(ok, key=lambda k: ok[k]["mse_active"])
        lines.append(f"lowest active-pixel MSE: {best[4:]} ({ok[best]['mse_active']:.3g})")
        best = min(ok, key=lambda k: abs(math.log(max(ok[k]["occupancy_ratio"], 1e-12))))
        lines.append(f"occupancy closest to the truth: {best[4:]} "
                     f"(predicted/true {ok[best]['occupancy_ratio']:.3g})")
    if cls:
        aucs = {k: m["auc"] for k, m in cls.items() if math.isfinite(m.get("auc", math.nan))}
        if aucs:
            best, worst = max(aucs, key=aucs.get), min(aucs, key=aucs.get)
            lines.append(f"taggers: AUC from {aucs[worst]:.3f} ({worst[8:]}) "
                         f"to {aucs[best]:.3f} ({best[8:]})")
    return lines
