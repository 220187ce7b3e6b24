"""`DataInfo`: what a model knows about its training data, from `JetDataModule.data_info()`.

A model receives it when fitting and stores it in every checkpoint (``checkpoint["sparsegen_data_info"]``),
so a checkpoint alone turns samples back into `Jets` in physical units: the representation and its
geometry (particles per jet, image size and extent), the classes, the `Normalizer`, the training
multiplicity and image statistics (occupancy, per-pixel occupancy and value maps, pixel-sum quantiles), and
the `ConditionSpec`: the model's conditions (none for an unconditional model) with the per-class training
distributions that give every generated jet its class, multiplicity and GeV scale (ptrel × pT).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch

from sparsegen.core.defaults import EXTENT, JET_TYPE_INDEX, NPIX, NUM_PARTICLES
from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.conditions import ConditionSpec
from sparsegen.data.normalization import Normalizer

NOMINAL_JET_PT = 1000.0
"""GeV; the jet pT given to samples of checkpoints written before pT distributions were stored."""
LINKED_SETTINGS = ("npix", "extent", "num_particles", "cond_dim")
"""Data settings that networks and callbacks take from the data (stated once, in the data config)."""


@dataclass
class DataInfo:
    """The training data as a model needs to know it (JSON-able; see the module docstring)."""

    representation: str = "points"
    num_particles: int = NUM_PARTICLES
    npix: int = NPIX
    extent: float = EXTENT
    jet_types: list[str] = field(default_factory=lambda: ["g"])
    normalizer: dict[str, Any] = field(default_factory=lambda: Normalizer.identity().state_dict())
    multiplicity: list[float] | None = None
    """Training multiplicity histogram, P(n) for n = 0..num_particles."""
    occupancy: float | None = None
    """Mean fraction of non-zero pixels of the training images (image data only)."""
    occupancy_map: list[list[float]] | None = None
    """Probability that each pixel is active in a training image (npix × npix; images only)."""
    value_map: list[list[float]] | None = None
    """Mean network-space value of each pixel where it is active (npix × npix; images only; 0 where never
    active): with ``occupancy_map``, where generators' per-pixel biases start."""
    value_std_map: list[list[float]] | None = None
    """Standard deviation of each pixel's network-space value where it is active (npix × npix; images only):
    where generators' per-pixel noise amplitudes start."""
    pixel_sum_quantiles: list[float] | None = None
    """Training jet image pixel sums [ptrel] at the quantile levels 0, 0.01, ..., 1 (images only; a little
    above 1, since the scalar pT sum of the constituents exceeds the jet pT)."""
    pixel_value_quantiles: list[float] | None = None
    """Training active-pixel intensities [ptrel] at the quantile levels 0, 0.01, ..., 1 (images only): the
    pixel spectrum, where an occupancy-masked generator's intensity floor sits (``floor_quantile``)."""
    conditions: dict[str, Any] | None = None
    """`ConditionSpec` state: the model's conditions and the per-class training distributions."""
    pooled: dict[str, dict[str, Any]] | None = None
    """Image statistics (the fields from ``occupancy`` to ``pixel_value_quantiles``) of the training images
    sum-pooled in ptrel to each coarser grid npix / 2, npix / 4, ... down to 8², keyed by that npix (images
    only): what a network working at a coarser grid than the data starts from (`at_npix`)."""

    @classmethod
    def from_dict(cls, state: dict[str, Any] | None) -> DataInfo:
        """From a checkpoint entry, already brought to the current format (`sparsegen.models.migration`);
        an older checkpoint without a condition spec samples its jets at the nominal pT of 1 TeV."""
        state = dict(state or {})
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in state.items() if k in known})

    @property
    def spec(self) -> ConditionSpec:
        """The condition spec (for older checkpoints: unconditional, nominal pT, the stored multiplicity)."""
        if self.conditions:
            return ConditionSpec.from_dict(self.conditions)
        hist = self.multiplicity or [0.0] * self.num_particles + [1.0]
        flat = {"pt": [NOMINAL_JET_PT] * 101, "eta": [0.0] * 101, "mass": [0.0] * 101}
        return ConditionSpec([], list(self.jet_types), {}, {},
                             [1.0 / len(self.jet_types)] * len(self.jet_types),
                             {c: dict(flat) for c in self.jet_types}, {c: list(hist) for c in self.jet_types})

    @property
    def cond_dim(self) -> int:
        """Length of the condition vector (0: unconditional)."""
        return self.spec.dim

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def jet_type(self) -> int:
        """Integer label of the (first) training class."""
        return JET_TYPE_INDEX[self.jet_types[0]]

    def at_npix(self, npix: int) -> DataInfo:
        """This data as seen on an ``npix`` grid: itself, or the statistics of its images sum-pooled there."""
        if npix == self.npix:
            return self
        if not self.pooled or str(npix) not in self.pooled:
            raise SparsegenInputError(
                "data", f"no image statistics at npix {npix}: the data has npix {self.npix} and pooled grids "
                f"{sorted(int(k) for k in self.pooled or {})}")
        return replace(self, npix=npix, pooled=None, **self.pooled[str(npix)])

    def get_normalizer(self) -> Normalizer:
        return Normalizer.from_state_dict(self.normalizer)

    # --------------------------------------------------------------- consistency
    def check_network(self, module: torch.nn.Module, name: str = "model") -> None:
        """Every sub-network built for a data setting (``npix``, ``num_particles``) must match this data."""
        for sub_name, sub in module.named_modules():
            for key in LINKED_SETTINGS:
                value = getattr(sub, key, None)
                if (isinstance(value, (int, float)) and not isinstance(value, bool)
                        and value != getattr(self, key)):
                    where = f"{name}.{sub_name}" if sub_name else name
                    raise SparsegenInputError(
                        "config",
                        f"{where} was built for {key}={value} but the data has {key}={getattr(self, key)}: "
                        f"state {key} once, in the data config (it is linked to the model)")


def linked_setting(key: str, value: int | float | None) -> int | float:
    """A network's data setting: the value LightningCLI linked in from the data config, else the default.

    Networks take ``npix`` / ``num_particles`` / ``cond_dim`` as ``None`` by default; ``sparsegen fit`` fills
    them from the data config, and `DataInfo.check_network` refuses a network built for other data.
    """
    defaults = {"npix": NPIX, "extent": EXTENT, "num_particles": NUM_PARTICLES, "cond_dim": 0}
    return defaults[key] if value is None else value


def quantiles(values: np.ndarray) -> list[float] | None:
    """The 101 quantiles (levels 0, 0.01, ..., 1) stored for a training distribution (None if empty)."""
    values = np.asarray(values, dtype=np.float64)
    return np.quantile(values, np.linspace(0.0, 1.0, 101)).tolist() if len(values) else None
