"""Sparse neural-network layers: sparse images and convolutions, sparsity-invariant convs, point-cloud
layers and deep sparse coding. See ``docs/sparse_layers.md`` for the math and measured speed."""

from sparsegen.nn.points import (
    EdgeConvBlock,
    MessagePassingBlock,
    PointNetEncoder,
    from_pyg,
    knn_edges,
    masked_pool,
    mlp,
    to_pyg,
)
from sparsegen.nn.rulebook import Rulebook
from sparsegen.nn.sparse import SparseConv2d, SparseImage, SparseInverseConv2d, SubmanifoldConv2d, rulebook_conv
from sparsegen.nn.sparse_coding import (
    ActivationSparsityMonitor,
    L1FeaturePenalty,
    LayeredISTA,
    LayeredThresholding,
    mutual_coherence,
    nonneg_soft_threshold,
    soft_threshold,
    uniqueness_bound,
)
from sparsegen.nn.sparse_ops import (
    SparseActivation,
    SparseBatchNorm,
    SparseFeatureWise,
    SparseGlobalPool,
    SparseLayerNorm,
    SparseLeakyReLU,
    SparseReLU,
    SparseToDense,
    sparse_global_pool,
)
from sparsegen.nn.sparsity_invariant import SparsityInvariantConv2d

__all__ = [
    "SparseImage",
    "Rulebook",
    "rulebook_conv",
    "SubmanifoldConv2d",
    "SparseConv2d",
    "SparseInverseConv2d",
    "SparseFeatureWise",
    "SparseBatchNorm",
    "SparseLayerNorm",
    "SparseActivation",
    "SparseReLU",
    "SparseLeakyReLU",
    "sparse_global_pool",
    "SparseGlobalPool",
    "SparseToDense",
    "SparsityInvariantConv2d",
    "mlp",
    "to_pyg",
    "from_pyg",
    "knn_edges",
    "masked_pool",
    "PointNetEncoder",
    "EdgeConvBlock",
    "MessagePassingBlock",
    "soft_threshold",
    "nonneg_soft_threshold",
    "LayeredThresholding",
    "LayeredISTA",
    "L1FeaturePenalty",
    "mutual_coherence",
    "uniqueness_bound",
    "ActivationSparsityMonitor",
]
