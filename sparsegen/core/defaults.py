"""The one home of sparsegen's jet classes and data defaults.

Every module that needs a default image size, extent, particle count or the class names imports it from
here; configs state a setting once and LightningCLI links it to the model and callbacks.
"""

from __future__ import annotations

from sparsegen.core.errors import SparsegenInputError

JET_TYPES: tuple[str, ...] = ("g", "q", "t", "w", "z")
"""Jet classes in the order of their integer label (``jet_features[:, 0]``): g=0, q=1, t=2, w=3, z=4."""
JET_TYPE_INDEX: dict[str, int] = {name: i for i, name in enumerate(JET_TYPES)}
JET_CLASS_NAMES: dict[str, str] = {"g": "gluon", "q": "light quark", "t": "top", "w": "W", "z": "Z"}

PRESET = "jetnet"
"""The default dataset: JetNet-equivalent jets (`sparsegen.data.presets`: anti-kT R = 0.4, partons at 1 TeV,
resonances matched by direction), proven with JetNet's own FPND (physics_data/README.md); ``r08`` gives the
anti-kT R = 0.8 jets instead."""
NUM_PARTICLES = 30
"""Constituents kept per jet (JetNet-30: the 30 hardest)."""
NPIX = 32
"""Jet-image size (pixels per axis)."""
EXTENT = 0.4
"""Jet images cover [-EXTENT, EXTENT]^2 in (etarel, phirel): ±R of the default dataset's R = 0.4 jets."""
NSUBJETTINESS_R0 = 0.8
"""Characteristic radius R0 of the normalized N-subjettiness measure (τ ratios do not depend on it)."""


def jet_type_label(name: str) -> int:
    """Integer label of a class name ('g' → 0); unknown names raise `SparsegenInputError`."""
    if name not in JET_TYPE_INDEX:
        raise SparsegenInputError("jet type", f"unknown jet type '{name}' (one of {', '.join(JET_TYPES)})")
    return JET_TYPE_INDEX[name]
