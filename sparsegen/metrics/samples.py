"""The prepared sample every metric reads, and the real jets read out of their own pixels.

`Sample` holds one sample of jets as the metrics see it: ``jets`` (the particle-level view: at most the
real sample's particle count per jet, the hardest first), ``full`` (the whole sample: multiplicity and the
image metrics see everything) and ``images`` on the compared grid. Every derived quantity (kinematics,
N-subjettiness, EFPs, the active pixels, ...) is a *feature*: a function of the sample computed on first
use and kept, so the two rows of a report share the real side, and a new metric needs a new function, not
a new field. The built-in features are properties (``sample.mass``, ``sample.efps``, ...); any other
function ``f(sample)`` is read with ``sample.get(f)``.

`pixel_readout`: an image model's jets are the particles of its pixels (one per active pixel, at the pixel
centre), so its real jets are compared in the same form — read out of their own (preprocessed) images —
otherwise the real particles' sub-pixel positions and un-rotated frame would dominate W1P, W1M and the
EFPs. ``evaluate``, ``PeriodicMetrics`` and the studies' plots use this one function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from sparsegen.core.defaults import EXTENT
from sparsegen.core.jets import Jets
from sparsegen.core.kinematics import relative_kinematics, tau_ratios
from sparsegen.metrics.efp import efps
from sparsegen.metrics.sparsity import DEFAULT_THRESHOLD, ActivePixels


def pixel_readout(jets: Jets, images: np.ndarray, extent: float = EXTENT,
                  num_particles: int | None = None) -> Jets:
    """Real jets read out of their own pixels: the particles of ``images`` (the jets' own pixelization),
    with the jets' pT and class; ``num_particles`` keeps the hardest that many per jet."""
    out = Jets.from_images(images, pt=jets.pt, extent=extent, jet_type=jets.labels)
    return out if num_particles is None else out.hardest(num_particles)


class feature:
    """A `Sample` property computed once per sample, on first use (``Sample.get`` of the function)."""

    def __init__(self, fn: Callable[[Sample], Any]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, sample: Sample | None, owner: type | None = None) -> Any:
        return self if sample is None else sample.get(self.fn)


def _function(f: Any) -> Callable[[Sample], Any]:
    return f.fn if isinstance(f, feature) else f


class Sample:
    """One sample as the metrics see it (see the module docstring).

    Args:
        jets: the sample (for an image model's real side, already `pixel_readout`).
        images: (N, H, W) images on the compared grid.
        num_particles: particle-level view: the hardest that many per jet (None: the jets as given).
        threshold: the pixel read-out threshold of the image metrics (ptrel units).
    """

    def __init__(self, jets: Jets, images: np.ndarray, num_particles: int | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.full = jets
        self.jets = jets if num_particles is None else jets.hardest(num_particles)
        self.images = images
        self.threshold = threshold
        self._values: dict[Callable[[Sample], Any], Any] = {}
        self._locks: dict[Callable[[Sample], Any], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, f: Callable[[Sample], Any] | feature) -> Any:
        """``f(self)``, computed once (thread-safe: the classifier reads a sample beside the others)."""
        fn = _function(f)
        if fn in self._values:
            return self._values[fn]
        with self._lock:
            lock = self._locks.setdefault(fn, threading.Lock())
        with lock:
            if fn not in self._values:
                self._values[fn] = fn(self)
        return self._values[fn]

    def prepare(self, features: Iterable[Callable[[Sample], Any] | feature]) -> Sample:
        """Compute these features now (before the metrics run in parallel); returns the sample."""
        for f in features:
            self.get(f)
        return self

    # --------------------------------------------------------------------- built-in features
    @feature
    def kinematics(self) -> tuple[np.ndarray, ...]:
        """(E, pt, eta, mass) per jet in units of the jet pT (`relative_kinematics`), particle-level view."""
        return relative_kinematics(self.jets.particles, self.jets.mask)

    @property
    def mass(self) -> np.ndarray:
        """Relative jet mass per jet."""
        return self.kinematics[3]

    @property
    def pt(self) -> np.ndarray:
        """Relative jet pT per jet."""
        return self.kinematics[1]

    @feature
    def taus(self) -> tuple[np.ndarray, np.ndarray]:
        """(tau21, tau32) per jet."""
        return tau_ratios(self.jets.particles, self.jets.mask)

    @property
    def tau21(self) -> np.ndarray:
        return self.taus[0]

    @property
    def tau32(self) -> np.ndarray:
        return self.taus[1]

    @feature
    def efps(self) -> np.ndarray:
        """The 36 EFPs of degree <= 4 (N, 36) of the particle-level view."""
        return efps(self.jets.particles, self.jets.mask, "d<=4")

    @property
    def multiplicity(self) -> np.ndarray:
        """Particles per jet of the full sample."""
        return self.full.num_particles

    @feature
    def active(self) -> ActivePixels:
        """The pixels above the read-out threshold."""
        return ActivePixels.of(self.images, self.threshold)

    @feature
    def zero_fraction(self) -> np.ndarray:
        """Fraction of exactly-zero pixels per image."""
        flat = self.images.reshape(len(self.images), -1)
        return np.count_nonzero(flat == 0, axis=1) / flat.shape[1]


__all__ = ["Sample", "feature", "pixel_readout"]
