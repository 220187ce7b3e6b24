"""Feature-wise layers on :class:`~sparsegen.nn.sparse.SparseImage`: norms, activations, pooling, heads.

All of them act on the (M, C) feature matrix of the active sites only; inactive sites stay absent
(they are *not* treated as zeros), which is what makes a sparse network differ from a dense one
with masked zeros in its normalization statistics and pooled means.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from sparsegen.nn.sparse import SparseImage

__all__ = [
    "SparseActivation",
    "SparseBatchNorm",
    "SparseFeatureWise",
    "SparseGlobalPool",
    "SparseLayerNorm",
    "SparseLeakyReLU",
    "SparseReLU",
    "SparseToDense",
    "sparse_global_pool",
]

Reduce = Literal["sum", "mean", "max"]


class SparseFeatureWise(nn.Module):
    """Apply any (M, C) → (M, C') module (Linear, Dropout, an activation …) to the features."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: SparseImage) -> SparseImage:
        return x.replace_features(self.module(x.features))


class SparseBatchNorm(SparseFeatureWise):
    """Batch norm over active sites: :math:`y = \\gamma (x - \\mu_c) / \\sqrt{\\sigma_c^2 + \\epsilon} +
    \\beta`.

    :math:`\\mu_c, \\sigma_c^2` are taken over all active sites of the batch (inactive sites excluded).
    """

    def __init__(
        self, num_channels: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ) -> None:
        super().__init__(nn.BatchNorm1d(num_channels, eps=eps, momentum=momentum, affine=affine))


class SparseLayerNorm(nn.Module):
    """Layer norm on sparse features.

    ``mode="site"``: normalize each site's C channels (``nn.LayerNorm(C)``).
    ``mode="sample"``: normalize over all active sites and channels of each sample b,

    .. math::
        y_{u c} = \\gamma_c \\frac{x_{u c} - \\mu_b}{\\sqrt{\\sigma_b^2 + \\epsilon}} + \\beta_c, \\quad
        \\mu_b = \\frac{1}{C n_b} \\sum_{u \\in b, c} x_{u c}

    the sparse analogue of ``nn.LayerNorm([C, H, W])`` used in WGAN-GP critics (no batch coupling).
    """

    def __init__(self, num_channels: int, mode: Literal["site", "sample"] = "sample", eps: float = 1e-5,
                 affine: bool = True) -> None:
        super().__init__()
        if mode not in ("site", "sample"):
            raise ValueError(f"mode must be 'site' or 'sample', got {mode!r}")
        self.mode = mode
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_channels)) if affine else None

    def forward(self, x: SparseImage) -> SparseImage:
        f = x.features
        if self.mode == "site":
            y = nn.functional.layer_norm(f, (f.shape[1],), self.weight, self.bias, self.eps)
            return x.replace_features(y)
        b, c = x.batch_size, f.shape[1]
        idx = x.batch_index
        count = torch.bincount(idx, minlength=b).to(f.dtype).clamp_min(1.0) * c
        mean = f.new_zeros(b).index_add(0, idx, f.sum(1)) / count
        centred = f - mean[idx, None]
        var = f.new_zeros(b).index_add(0, idx, centred.pow(2).sum(1)) / count
        y = centred * torch.rsqrt(var + self.eps)[idx, None]
        if self.weight is not None:
            y = y * self.weight + self.bias
        return x.replace_features(y)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, eps={self.eps}"


class SparseActivation(SparseFeatureWise):
    """Element-wise activation on the features (``activation`` must map 0 ↦ 0 to keep sparse ≡ dense)."""


class SparseReLU(SparseActivation):
    """:math:`\\max(x, 0)` on active sites."""

    def __init__(self) -> None:
        super().__init__(nn.ReLU())


class SparseLeakyReLU(SparseActivation):
    """:math:`\\max(x, 0) + a \\min(x, 0)` on active sites."""

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__(nn.LeakyReLU(negative_slope))


def sparse_global_pool(x: SparseImage, reduce: Reduce = "mean") -> Tensor:
    """Per-sample pooling over active sites → (B, C).

    sum: :math:`\\sum_{u \\in b} x_u`; mean: sum / n_b; max: channel-wise max. Empty samples give zeros.
    """
    f = x.features
    b, c = x.batch_size, f.shape[1]
    idx = x.batch_index
    if reduce in ("sum", "mean"):
        out = f.new_zeros(b, c).index_add(0, idx, f)
        if reduce == "mean":
            out = out / torch.bincount(idx, minlength=b).clamp_min(1).to(f.dtype)[:, None]
        return out
    if reduce == "max":
        return f.new_zeros(b, c).scatter_reduce(
            0, idx[:, None].expand_as(f), f, reduce="amax", include_self=False
        )
    raise ValueError(f"reduce must be 'sum', 'mean' or 'max', got {reduce!r}")


class SparseGlobalPool(nn.Module):
    """Module form of :func:`sparse_global_pool`: SparseImage → (B, C)."""

    def __init__(self, reduce: Reduce = "mean") -> None:
        super().__init__()
        if reduce not in ("sum", "mean", "max"):
            raise ValueError(f"reduce must be 'sum', 'mean' or 'max', got {reduce!r}")
        self.reduce = reduce

    def forward(self, x: SparseImage) -> Tensor:
        return sparse_global_pool(x, self.reduce)

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}"


class SparseToDense(nn.Module):
    """Head: SparseImage → dense (B, C, H, W) with zeros at inactive sites (e.g. before a Flatten+Linear)."""

    def forward(self, x: SparseImage) -> Tensor:
        return x.to_dense()
