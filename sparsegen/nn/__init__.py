"""Sparse neural-network layers: sparse images and convolutions, sparsity-invariant convs, point layers.
See ``docs/sparse_layers.md``."""

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
