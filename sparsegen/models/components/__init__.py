"""Networks injected into the LightningModules: image and point generators, critics, encoders, decoders."""

from sparsegen.models.components.images import (
    DCGANGenerator,
    DenseCritic,
    DenseDecoder,
    DenseEncoder,
    ISTAEncoder,
    SparseAwareGenerator,
    SparseCritic,
    SparseEncoder,
)

__all__ = [
    "DCGANGenerator",
    "SparseAwareGenerator",
    "DenseCritic",
    "SparseCritic",
    "DenseEncoder",
    "SparseEncoder",
    "ISTAEncoder",
    "DenseDecoder",
]
