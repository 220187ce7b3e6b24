"""Per-jet conditions of a conditional generator: which ones, how they are normalized, how they are drawn.

A condition set is chosen in the data config (``conditions: [class, pt, multiplicity]``) from

* ``class``: the jet class, one-hot over the trained classes (``jet_types`` order);
* ``pt`` [GeV] and ``mass`` [GeV]: log-transformed, then standardized: x = (log(v) − μ) / σ;
* ``eta`` and ``multiplicity`` (particles kept): standardized: x = (v − μ) / σ.

μ and σ are fitted on the training split; the transform is exactly invertible (`ConditionSpec.decode`) and
stored in every checkpoint with the model's `DataInfo`. The condition vector of a jet is the concatenation
in the canonical order class, pt, eta, mass, multiplicity (``ConditionSpec.dim`` entries).

Raw conditions are plain arrays keyed by name (``class``: integer labels g=0 … z=4; the others in physical
units). `raw_conditions(jets)` reads them off real jets (``--conditions-from``); `ConditionSpec.draw`
draws the ones a user did not give from the training distribution of each class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from sparsegen.core.defaults import JET_TYPE_INDEX, JET_TYPES
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets

CONDITION_NAMES: tuple[str, ...] = ("class", "pt", "eta", "mass", "multiplicity")
LOG_SCALED = ("pt", "mass")
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)
Raw = dict[str, np.ndarray]


def check_condition_names(names: Sequence[str]) -> list[str]:
    """Validated names in canonical order (unknown or repeated names: one clear error)."""
    names = list(names)
    unknown = [n for n in names if n not in CONDITION_NAMES]
    if unknown:
        raise SparsegenInputError(
            "conditions", f"unknown condition(s) {unknown} (choose from {list(CONDITION_NAMES)})"
        )
    if len(set(names)) != len(names):
        raise SparsegenInputError("conditions", f"repeated condition in {names}")
    return [n for n in CONDITION_NAMES if n in names]


def condition_dim(names: Sequence[str], jet_types: Sequence[str]) -> int:
    """Length of the condition vector of ``names`` for ``jet_types`` classes."""
    names = check_condition_names(names)
    return sum(len(jet_types) if n == "class" else 1 for n in names)


def raw_conditions(jets: Jets) -> Raw:
    """Every condition of real jets, in physical units (mass of the full jet, multiplicity of kept
    particles)."""
    return {"class": jets.labels.astype(np.int64), "pt": jets.pt.astype(np.float64),
            "eta": jets.eta.astype(np.float64), "mass": jets.mass.astype(np.float64),
            "multiplicity": jets.num_particles.astype(np.float64)}


def _quantiles(values: np.ndarray) -> list[float]:
    return np.quantile(np.asarray(values, np.float64), QUANTILE_LEVELS).tolist()


@dataclass
class ConditionSpec:
    """The condition set of a model (JSON-able; see the module docstring)."""

    names: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=lambda: ["g"])
    loc: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    class_fractions: list[float] = field(default_factory=lambda: [1.0])
    quantiles: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Per class and continuous quantity: training quantiles at levels 0, 0.01, …, 1 (for drawing)."""
    multiplicity: dict[str, list[float]] = field(default_factory=dict)
    """Per class: training multiplicity histogram P(n), n = 0..P."""

    # ------------------------------------------------------------------ build
    @classmethod
    def fit(
        cls, names: Sequence[str], jets: Jets, classes: Sequence[str], num_particles: int
    ) -> ConditionSpec:
        """Fit the normalization and the per-class distributions on the training jets."""
        names = check_condition_names(names)
        raw = raw_conditions(jets)
        loc, scale = {}, {}
        for n in names:
            if n == "class":
                continue
            v = np.log(np.clip(raw[n], 1e-3, None)) if n in LOG_SCALED else raw[n]
            loc[n], scale[n] = float(v.mean()), float(v.std() or 1.0)
        labels = raw["class"]
        counts = np.array([(labels == JET_TYPE_INDEX[c]).sum() for c in classes], np.float64)
        quantiles, multiplicity = {}, {}
        for c in classes:
            sel = labels == JET_TYPE_INDEX[c]
            if not sel.any():
                raise SparsegenInputError("conditions", f"no training jets of class '{c}'")
            quantiles[c] = {q: _quantiles(raw[q][sel]) for q in ("pt", "eta", "mass")}
            hist = np.bincount(raw["multiplicity"][sel].astype(np.int64), minlength=num_particles + 1)
            multiplicity[c] = (hist[: num_particles + 1] / hist.sum()).tolist()
        return cls(
            names, list(classes), loc, scale, (counts / counts.sum()).tolist(), quantiles, multiplicity
        )

    @classmethod
    def from_dict(cls, state: dict[str, Any] | None) -> ConditionSpec:
        return cls(**(state or {}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def dim(self) -> int:
        return condition_dim(self.names, self.classes) if self.names else 0

    # -------------------------------------------------------------- transform
    def encode(self, raw: Raw) -> np.ndarray:
        """(N, dim) float32 condition vectors of raw conditions (every name of the spec must be present)."""
        n = len(next(iter(raw.values())))
        cols: list[np.ndarray] = []
        for name in self.names:
            if name == "class":
                onehot = np.zeros((n, len(self.classes)), np.float32)
                index = {JET_TYPE_INDEX[c]: i for i, c in enumerate(self.classes)}
                onehot[np.arange(n), [index[int(lab)] for lab in raw["class"]]] = 1.0
                cols.append(onehot)
                continue
            v = np.asarray(raw[name], np.float64)
            v = np.log(np.clip(v, 1e-3, None)) if name in LOG_SCALED else v
            cols.append(((v - self.loc[name]) / self.scale[name])[:, None].astype(np.float32))
        return np.concatenate(cols, axis=1) if cols else np.zeros((n, 0), np.float32)

    def decode(self, x: np.ndarray) -> Raw:
        """The inverse of `encode` (class = argmax of its one-hot block)."""
        out: Raw = {}
        i = 0
        for name in self.names:
            if name == "class":
                block = x[:, i:i + len(self.classes)]
                out["class"] = np.array([JET_TYPE_INDEX[self.classes[k]] for k in block.argmax(1)], np.int64)
                i += len(self.classes)
                continue
            v = x[:, i].astype(np.float64) * self.scale[name] + self.loc[name]
            out[name] = np.exp(v) if name in LOG_SCALED else v
            i += 1
        return out

    # ------------------------------------------------------------------ drawing
    def resolve(self, given: dict[str, Any], num: int, generator: torch.Generator | None = None,
                allow_extrapolation: bool = False) -> Raw:
        """Complete conditions for ``num`` jets: the ``given`` ones (scalars or arrays; ``class`` by name or
        label) checked against the training range, the others drawn from the training distribution of each
        jet's class (class itself from the training class mix)."""
        given = {k: v for k, v in given.items() if v is not None}
        unknown = sorted(set(given) - set(CONDITION_NAMES))
        if unknown:
            raise SparsegenInputError("conditions", f"unknown condition(s) {unknown}")
        u = torch.rand(len(CONDITION_NAMES), num, generator=generator, dtype=torch.float64).numpy()
        if "class" in given:
            labels = self._labels(given["class"], num)
        else:
            cum = np.cumsum(self.class_fractions)
            picks = np.minimum(np.searchsorted(cum / cum[-1], u[0], side="right"), len(self.classes) - 1)
            labels = np.array([JET_TYPE_INDEX[c] for c in self.classes], np.int64)[picks]
        names = [JET_TYPES[int(lab)] for lab in labels]
        raw: Raw = {"class": labels}
        for j, q in enumerate(("pt", "eta", "mass"), start=1):
            if q in given:
                table = np.array([(self.quantiles[c][q][0], self.quantiles[c][q][-1]) for c in names])
                raw[q] = self._given(given[q], q, table, names, allow_extrapolation)
                continue
            raw[q] = np.empty(num)
            for c in self.classes:
                sel = labels == JET_TYPE_INDEX[c]
                raw[q][sel] = np.interp(u[j, sel], QUANTILE_LEVELS, self.quantiles[c][q])
        if "multiplicity" in given:
            top = self.max_multiplicity
            mult = np.broadcast_to(np.asarray(given["multiplicity"], np.float64), (num,)).copy()
            if np.any(mult < 1) or np.any(mult > top) or np.any(mult != np.round(mult)):
                raise SparsegenInputError("--multiplicity", f"must be an integer in 1..{top}")
        else:
            mult = np.empty(num)
            for c in self.classes:
                sel = labels == JET_TYPE_INDEX[c]
                probs = np.asarray(self.multiplicity[c], np.float64)
                probs[0] = 0.0  # an empty jet is not a jet
                cum = np.cumsum(probs) / probs.sum()
                mult[sel] = np.minimum(np.searchsorted(cum, u[4, sel], side="right"), len(probs) - 1)
        raw["multiplicity"] = mult
        return raw

    @property
    def max_multiplicity(self) -> int:
        return len(next(iter(self.multiplicity.values()))) - 1

    def _labels(self, value: Any, num: int) -> np.ndarray:
        values = np.broadcast_to(np.asarray(value), (num,))
        labels = []
        for v in values:
            name = JET_TYPES[int(v)] if isinstance(v, (int, np.integer)) else str(v)
            if name not in self.classes:
                raise SparsegenInputError("--jet-type", f"the model was trained on classes {self.classes}, "
                                                        f"not '{name}'")
            labels.append(JET_TYPE_INDEX[name])
        return np.asarray(labels, np.int64)

    @staticmethod
    def _given(
        value: Any, name: str, table: np.ndarray, classes: list[str], allow_extrapolation: bool
    ) -> np.ndarray:
        """A user-given condition, checked against each jet's class range (training min–max)."""
        v = np.broadcast_to(np.asarray(value, np.float64), (len(classes),)).copy()
        if not np.all(np.isfinite(v)) or (name in LOG_SCALED and np.any(v <= 0)):
            raise SparsegenInputError(
                f"--{name}", "must be finite" + (" and positive" if name in LOG_SCALED else "")
            )
        lo, hi = table[:, 0], table[:, 1]
        if not allow_extrapolation and np.any((v < lo) | (v > hi)):
            bad = int(np.argmax((v < lo) | (v > hi)))
            raise SparsegenInputError(f"--{name}", f"{v[bad]:g} is outside the training range {lo[bad]:.4g}–"
                                                   f"{hi[bad]:.4g} of class {classes[bad]} "
                                                   "(pass --allow-extrapolation to sample there anyway)")
        return v
