"""Sparse neural-network layers: sparse images and convolutions, sparsity-invariant convs, point-cloud
layers and deep sparse coding. See ``docs/sparse_layers.md`` for the math and measured speed."""

from sparsegen.nn.imputation import knn_impute, neighbourhood_impute
from sparsegen.nn.losses import L1FeaturePenalty
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
from sparsegen.nn.sparse import (
    SparseConv2d,
    SparseImage,
    SparseInverseConv2d,
    SubmanifoldConv2d,
    rulebook_conv,
)
from sparsegen.nn.sparse_coding import (
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
    "EdgeConvBlock",
    "L1FeaturePenalty",
    "LayeredISTA",
    "LayeredThresholding",
    "MessagePassingBlock",
    "PointNetEncoder",
    "Rulebook",
    "SparseActivation",
    "SparseBatchNorm",
    "SparseConv2d",
    "SparseFeatureWise",
    "SparseGlobalPool",
    "SparseImage",
    "SparseInverseConv2d",
    "SparseLayerNorm",
    "SparseLeakyReLU",
    "SparseReLU",
    "SparseToDense",
    "SparsityInvariantConv2d",
    "SubmanifoldConv2d",
    "from_pyg",
    "knn_edges",
    "knn_impute",
    "masked_pool",
    "mlp",
    "mutual_coherence",
    "neighbourhood_impute",
    "nonneg_soft_threshold",
    "rulebook_conv",
    "soft_threshold",
    "sparse_global_pool",
    "to_pyg",
    "uniqueness_bound",
]
