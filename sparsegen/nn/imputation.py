"""Filling the empty pixels of sparse images before a dense CNN sees them.

Two classic remedies for "a CNN on mostly-zero input": replace each empty pixel by a local estimate from
the active ones, so the network sees a smooth, dense image. Active pixels are kept exactly.

- :func:`neighbourhood_impute`: normalized convolution — an empty pixel becomes the mean of the active
  pixels in its ``size``×``size`` neighbourhood (0 if there are none), repeated ``iterations`` times so
  the filled region grows by ``size // 2`` pixels per iteration.
- :func:`knn_impute`: an empty pixel becomes the mean of its ``k`` nearest active pixels (Euclidean
  distance on the pixel grid, ties broken by index); every pixel of a non-empty image is filled.

Both take (B, 1, H, W) or (B, H, W) tensors of non-negative intensities; "active" means ``> 0``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["knn_impute", "neighbourhood_impute"]


def _as_4d(images: Tensor) -> tuple[Tensor, bool]:
    if images.ndim == 3:
        return images[:, None], True
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (B, 1, H, W) or (B, H, W), got {tuple(images.shape)}")
    return images, False


def neighbourhood_impute(images: Tensor, size: int = 3, iterations: int = 1) -> Tensor:
    """Empty pixels ← mean of the active pixels within a ``size``×``size`` window (normalized convolution)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be odd and positive, got {size}")
    x, squeeze = _as_4d(images)
    active = (x > 0).to(x.dtype)
    values, known = x * active, active
    kernel = torch.ones(1, 1, size, size, dtype=x.dtype, device=x.device)
    for _ in range(max(0, iterations)):
        total = F.conv2d(values, kernel, padding=size // 2)
        count = F.conv2d(known, kernel, padding=size // 2)
        estimate = total / count.clamp_min(1.0)
        values = torch.where(known > 0, values, estimate)
        known = torch.where(known > 0, known, (count > 0).to(x.dtype))
    out = torch.where(active > 0, x, values)
    return out[:, 0] if squeeze else out


def knn_impute(images: Tensor, k: int = 3) -> Tensor:
    """Empty pixels ← mean intensity of the ``k`` nearest active pixels (fewer if the image has fewer)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    x, squeeze = _as_4d(images)
    b, _, h, w = x.shape
    flat = x.reshape(b, h * w)
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    grid = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).to(x.dtype)  # (HW, 2)
    dist = torch.cdist(grid, grid)  # (HW, HW), shared by every image
    active = flat > 0
    out = flat.clone()
    for i in range(b):
        idx = active[i].nonzero(as_tuple=True)[0]
        if idx.numel() == 0:
            continue
        kk = min(k, idx.numel())
        nearest = dist[:, idx].topk(kk, dim=1, largest=False).indices  # (HW, kk) into idx
        estimate = flat[i, idx][nearest].mean(1)
        out[i] = torch.where(active[i], flat[i], estimate)
    out = out.reshape(b, 1, h, w)
    return out[:, 0] if squeeze else out
