"""Sparsity-invariant convolution (Uhrig et al. 2017, "Sparsity Invariant CNNs").

Dense tensors plus an observation mask: the conv averages only the observed inputs in each window, so
its output does not depend on how many pixels happen to be observed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SparsityInvariantConv2d"]


class SparsityInvariantConv2d(nn.Module):
    """Sparsity-invariant convolution.

    .. math::
        f_{u,v}(\\mathbf{x}, \\mathbf{o}) = \\frac{\\sum_{i,j} o_{u+i,v+j}\\, x_{u+i,v+j}\\, w_{i,j}}
            {\\sum_{i,j} o_{u+i,v+j} + \\epsilon} + b, \\qquad
        o'_{u,v} = \\max_{i,j} o_{u+i,v+j}

    ``x`` (B, C, H, W), observation mask ``o`` (B, 1, H, W) in {0, 1}. The normalisation kernel is a fixed
    all-ones k×k buffer (not trained); the mask is propagated by max pooling with the conv's geometry.
    Windows with nothing observed give ``b``. Returns ``(features (B, C_out, H', W'), mask (B, 1, H', W'))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        bias: bool = True,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = kernel_size // 2 if padding is None else padding
        if self.padding > kernel_size // 2:
            raise ValueError(
                f"padding {self.padding} > kernel_size // 2 is not supported by the mask max-pool"
            )
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.register_buffer("norm_kernel", torch.ones(1, 1, kernel_size, kernel_size), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size ** 2)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if mask.ndim == 3:
            mask = mask[:, None]
        if x.ndim != 4 or mask.shape != (x.shape[0], 1, *x.shape[2:]):
            raise ValueError(
                f"expected x (B, C, H, W) and mask (B, 1, H, W), got {tuple(x.shape)}, {tuple(mask.shape)}"
            )
        mask = mask.to(x.dtype)
        num = F.conv2d(x * mask, self.weight, None, self.stride, self.padding)
        den = F.conv2d(mask, self.norm_kernel.to(x.dtype), None, self.stride, self.padding)
        out = num / (den + self.eps)
        if self.bias is not None:
            out = out + self.bias[None, :, None, None]
        new_mask = F.max_pool2d(mask, self.kernel_size, self.stride, self.padding)
        return out, new_mask

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, eps={self.eps}"
        )
