"""`DataInfo`: what a model knows about its training data, from `JetDataModule.data_info()`.

A model receives it when fitting and stores it in every checkpoint (``checkpoint["sparsegen_data_info"]``),
so a checkpoint alone turns samples back into `Jets` in physical units: the representation and its
geometry (particles per jet, image size and extent), the classes, the `Normalizer`, and the training
distributions a generator draws from — multiplicity, image occupancy and pixel sum, and the jet pT and eta
that give a generated jet its GeV scale (ptrel × pT).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch

from sparsegen.core.defaults import EXTENT, JET_TYPE_INDEX, JET_TYPES, NPIX, NUM_PARTICLES
from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.normalization import Normalizer

NOMINAL_JET_PT = 1000.0
"""GeV; the jet pT given to samples of checkpoints written before pT distributions were stored."""
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)
LINKED_SETTINGS = ("npix", "extent", "num_particles")
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
    pt_quantiles: list[float] | None = None
    """Training jet pT [GeV] at the quantile levels 0, 0.01, ..., 1."""
    occupancy_map: list[list[float]] | None = None
    """Probability that each pixel is active in a training image (npix × npix; images only)."""
    value_map: list[list[float]] | None = None
    """Mean network-space value of each pixel where it is active (npix × npix; images only; 0 where never
    active): with ``occupancy_map``, where generators' per-pixel biases start."""
    value_std_map: list[list[float]] | None = None
    """Standard deviation of each pixel's network-space value where it is active (npix × npix; images only):
    where generators' per-pixel noise amplitudes start."""
    pixel_sum_quantiles: list[float] | None = None
    """Training jet image pixel sums [ptrel] at the quantile levels (images only; a little above 1, since the
    scalar pT sum of the constituents exceeds the jet pT)."""
    eta_quantiles: list[float] | None = None

    @classmethod
    def from_dict(cls, state: dict[str, Any] | None) -> DataInfo:
        """From a checkpoint entry (also the plain dicts of older checkpoints, which had one ``jet_type``)."""
        state = dict(state or {})
        if "jet_types" not in state and "jet_type" in state:
            state["jet_types"] = [JET_TYPES[int(state["jet_type"])]]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in state.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def jet_type(self) -> int:
        """Integer label of the (first) training class."""
        return JET_TYPE_INDEX[self.jet_types[0]]

    def get_normalizer(self) -> Normalizer:
        return Normalizer.from_state_dict(self.normalizer)

    # ------------------------------------------------------------------ drawing
    def draw_kinematics(self, num: int, generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(pt [GeV], eta) of ``num`` generated jets, drawn from the training distributions (inverse CDF)."""
        u = torch.rand(2, num, generator=generator, dtype=torch.float64).numpy()
        pt = _inverse_cdf(self.pt_quantiles, u[0], NOMINAL_JET_PT)
        eta = _inverse_cdf(self.eta_quantiles, u[1], 0.0)
        return pt, eta

    # --------------------------------------------------------------- consistency
    def check_network(self, module: torch.nn.Module, name: str = "model") -> None:
        """Every sub-network built for a data setting (``npix``, ``num_particles``) must match this data."""
        for sub_name, sub in module.named_modules():
            for key in LINKED_SETTINGS:
                value = getattr(sub, key, None)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value != getattr(self, key):
                    where = f"{name}.{sub_name}" if sub_name else name
                    raise SparsegenInputError(
                        "config", f"{where} was built for {key}={value} but the data has {key}={getattr(self, key)}: "
                                  f"state {key} once, in the data config (it is linked to the model)")


def quantiles(values: np.ndarray) -> list[float] | None:
    """The 101 quantiles stored for a training distribution (None for an empty sample)."""
    values = np.asarray(values, dtype=np.float64)
    return np.quantile(values, QUANTILE_LEVELS).tolist() if len(values) else None


def _inverse_cdf(q: list[float] | None, u: np.ndarray, fallback: float) -> np.ndarray:
    if not q:
        return np.full(len(u), fallback)
    return np.interp(u, QUANTILE_LEVELS, np.asarray(q, dtype=np.float64))


def linked_setting(key: str, value: int | float | None) -> int | float:
    """A network's data setting: the value LightningCLI linked in from the data config, else the default.

    Networks take ``npix`` / ``num_particles`` as ``None`` by default; ``sparsegen fit`` fills them from the
    data config, and `DataInfo.check_network` refuses a network built for other data.
    """
    defaults = {"npix": NPIX, "extent": EXTENT, "num_particles": NUM_PARTICLES}
    return defaults[key] if value is None else value
