"""Networks injected into the LightningModules: image and point generators, critics, encoders, decoders."""

from sparsegen.models.components.image_gan import (
    DCGANGenerator,
    DenseCritic,
    SparseAwareGenerator,
    SparseCritic,
)
from sparsegen.models.components.image_output import (
    EnergyConservingHead,
    ImageHead,
    LinearHead,
    OccupancyMask,
    PixelFloor,
    ReLUHead,
    SoftplusHead,
)
from sparsegen.models.components.image_vae import DenseDecoder, DenseEncoder, ISTAEncoder, SparseEncoder
from sparsegen.models.components.point_flow import EPiCVelocity, TransformerVelocity
from sparsegen.models.components.point_gan import (
    EPiCCritic,
    EPiCGenerator,
    MPCritic,
    MPGenerator,
    PointNetCritic,
)
from sparsegen.models.components.point_vae import (
    EdgeConvSetEncoder,
    PointNetSetEncoder,
    PointSetDecoder,
)

__all__ = [
    "DCGANGenerator",
    "SparseAwareGenerator",
    "ImageHead",
    "ReLUHead",
    "LinearHead",
    "SoftplusHead",
    "EnergyConservingHead",
    "PixelFloor",
    "OccupancyMask",
    "DenseCritic",
    "SparseCritic",
    "DenseEncoder",
    "SparseEncoder",
    "ISTAEncoder",
    "DenseDecoder",
    "MPGenerator",
    "EPiCGenerator",
    "MPCritic",
    "PointNetCritic",
    "EPiCCritic",
    "PointNetSetEncoder",
    "EdgeConvSetEncoder",
    "PointSetDecoder",
    "EPiCVelocity",
    "TransformerVelocity",
]
