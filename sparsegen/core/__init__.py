"""The core layer: what every other part of sparsegen stands on, importing nothing above it.

``Jets`` (the one currency, GeV units), kinematics and observables, pixelization, the JetNet HDF5 layout
(validated reads, atomic writes), the input error and argument parser, and the one home of jet-class names
and data defaults.
"""

from sparsegen.core.defaults import EXTENT, JET_CLASS_NAMES, JET_TYPE_INDEX, JET_TYPES, NPIX, NUM_PARTICLES
from sparsegen.core.errors import ArgumentParser, SparsegenInputError
from sparsegen.core.jets import Jets

__all__ = [
    "EXTENT",
    "JET_CLASS_NAMES",
    "JET_TYPES",
    "JET_TYPE_INDEX",
    "NPIX",
    "NUM_PARTICLES",
    "ArgumentParser",
    "Jets",
    "SparsegenInputError",
]
