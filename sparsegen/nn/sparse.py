"""Sparse images and sparse convolutions in plain PyTorch (forward and backward on CPU and GPU).

A :class:`SparseImage` holds the M active sites of a batch of images: ``coords`` (M, 3) int64
(batch, y, x) sorted by linear key, ``features`` (M, C) and ``spatial_shape`` (B, H, W). Convolutions
are gather → matmul per kernel offset → ``index_add`` over a :class:`~sparsegen.nn.rulebook.Rulebook`:

.. math::
    \\mathbf{out}_o = \\mathbf{b} + \\sum_{k} \\sum_{(i, o) \\in R_k} W_k^\\top \\mathbf{in}_i

with :math:`R_k` the (input row, output row) pairs of kernel offset k. Only composed differentiable
ops are used, so double backward (WGAN-GP gradient penalties) works. Rulebooks are cached on the site
set (shared by every SparseImage with the same coordinates), so a stack of convolutions on the same
sites builds its rulebook once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sparsegen.core.defaults import EXTENT, NPIX
from sparsegen.nn.rulebook import KeyLookup, Rulebook, linear_keys, strided_rulebook, submanifold_rulebook

if TYPE_CHECKING:
    from sparsegen.core.jets import Jets

__all__ = [
    "SparseConv2d",
    "SparseImage",
    "SparseInverseConv2d",
    "SubmanifoldConv2d",
    "rulebook_conv",
]


class _SiteCache:
    """Per-site-set cache: linear keys, the key lookup and rulebooks keyed by conv geometry."""

    def __init__(self) -> None:
        self.keys: Tensor | None = None
        self.lookup: KeyLookup | None = None
        self.rulebooks: dict[tuple[Any, ...], Any] = {}


@dataclass(frozen=True)
class _DownRecord:
    """What a strided conv leaves behind so an inverse conv can return to the finer sites."""

    indice_key: str | None
    kernel_size: int
    coords: Tensor
    spatial_shape: tuple[int, int, int]
    cache: _SiteCache
    history: tuple[_DownRecord, ...]
    rulebook: Rulebook = field(repr=False)


class SparseImage:
    """A batch of sparse multi-channel images: active sites and their feature vectors.

    Args:
        coords: (M, 3) int64 (batch, y, x) of the active sites, unique.
        features: (M, C) features of the active sites.
        spatial_shape: (B, H, W).
        assume_sorted: skip sorting/uniqueness checks (coords already sorted by ``(b*H + y)*W + x``).
    """

    def __init__(
        self,
        coords: Tensor,
        features: Tensor,
        spatial_shape: tuple[int, int, int] | torch.Size,
        *,
        assume_sorted: bool = False,
        _cache: _SiteCache | None = None,
        _history: tuple[_DownRecord, ...] = (),
    ) -> None:
        shape = tuple(int(s) for s in spatial_shape)
        if len(shape) != 3:
            raise ValueError(f"spatial_shape must be (B, H, W), got {shape}")
        if coords.ndim != 2 or coords.shape[1] != 3:
            raise ValueError(f"coords must have shape (M, 3), got {tuple(coords.shape)}")
        if features.ndim != 2 or features.shape[0] != coords.shape[0]:
            raise ValueError(
                f"features must have shape (M, C) with M={coords.shape[0]}, got {tuple(features.shape)}"
            )
        coords = coords.long()
        if not assume_sorted and coords.shape[0] > 0:
            keys = linear_keys(coords, shape)  # type: ignore[arg-type]
            if bool((coords < 0).any()) or bool(
                (coords.max(0).values >= torch.tensor(shape, device=coords.device)).any()
            ):
                raise ValueError(f"coords out of bounds for spatial shape {shape}")
            if not bool((keys[1:] > keys[:-1]).all()):
                keys, order = torch.sort(keys)
                if bool((keys[1:] == keys[:-1]).any()):
                    raise ValueError("coords contain duplicate sites")
                coords, features = coords[order], features[order]
        self.coords = coords
        self.features = features
        self.spatial_shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self._cache = _cache if _cache is not None else _SiteCache()
        self._history = _history

    # ------------------------------------------------------------------ basics
    @property
    def batch_size(self) -> int:
        return self.spatial_shape[0]

    @property
    def num_active(self) -> int:
        return int(self.coords.shape[0])

    @property
    def num_channels(self) -> int:
        return int(self.features.shape[1])

    @property
    def batch_index(self) -> Tensor:
        """(M,) sample index of each active site."""
        return self.coords[:, 0]

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def occupancy(self) -> float:
        """Fraction of active sites, M / (B·H·W)."""
        return self.num_active / max(1, math.prod(self.spatial_shape))

    def __len__(self) -> int:
        return self.num_active

    def __repr__(self) -> str:
        return (f"SparseImage(spatial_shape={self.spatial_shape}, num_active={self.num_active}, "
                f"channels={self.num_channels}, occupancy={self.occupancy:.4f})")

    def replace_features(self, features: Tensor) -> SparseImage:
        """Same sites (and rulebook cache / downsampling history), new (M, C') features."""
        if features.shape[0] != self.num_active:
            raise ValueError(f"expected {self.num_active} rows, got {features.shape[0]}")
        return SparseImage(self.coords, features, self.spatial_shape, assume_sorted=True,
                           _cache=self._cache, _history=self._history)

    def to(self, *args: Any, **kwargs: Any) -> SparseImage:
        """Move/cast the features (and move coords); the rulebook cache is dropped on a device change."""
        features = self.features.to(*args, **kwargs)
        if features.device == self.coords.device:
            return self.replace_features(features)
        return SparseImage(self.coords.to(features.device), features, self.spatial_shape, assume_sorted=True)

    # --------------------------------------------------------------- lookups
    def keys(self) -> Tensor:
        """(M,) sorted linear keys ``(b*H + y)*W + x`` (cached)."""
        if self._cache.keys is None:
            self._cache.keys = linear_keys(self.coords, self.spatial_shape)
        return self._cache.keys

    def lookup(self) -> KeyLookup:
        """Key → row lookup (searchsorted on sorted keys; dense table only for small grids)."""
        if self._cache.lookup is None:
            self._cache.lookup = KeyLookup(self.keys(), math.prod(self.spatial_shape))
        return self._cache.lookup

    def submanifold_rulebook(self, kernel_size: int) -> Rulebook:
        """Cached rulebook of a submanifold conv with this kernel size on these sites."""
        key = ("subm", kernel_size)
        if key not in self._cache.rulebooks:
            self._cache.rulebooks[key] = submanifold_rulebook(
                self.coords, self.keys(), self.lookup(), self.spatial_shape, kernel_size)
        return self._cache.rulebooks[key]

    def strided_rulebook(
        self, kernel_size: int, stride: int, padding: int
    ) -> tuple[Tensor, tuple[int, int, int], Rulebook, _SiteCache]:
        """Cached output sites, output shape, rulebook and output-site cache of a strided sparse conv."""
        key = ("conv", kernel_size, stride, padding)
        if key not in self._cache.rulebooks:
            out_coords, out_shape, rb = strided_rulebook(
                self.coords, self.spatial_shape, kernel_size, stride, padding
            )
            self._cache.rulebooks[key] = (out_coords, out_shape, rb, _SiteCache())
        return self._cache.rulebooks[key]

    # ------------------------------------------------------------ conversion
    @classmethod
    def from_dense(cls, x: Tensor, threshold: float = 0.0) -> SparseImage:
        """(B, C, H, W) → sparse; a site is active when any channel has ``|x| > threshold``.

        Differentiable: the features are an index of ``x``, so gradients reach ``x`` at active sites
        (and are zero elsewhere), including second-order gradients.
        """
        if x.ndim != 4:
            raise ValueError(f"from_dense expects (B, C, H, W), got {tuple(x.shape)}")
        b, _, h, w = x.shape
        active = (x.detach().abs() > threshold).any(dim=1)
        coords = active.nonzero()  # row-major = sorted by linear key
        features = x.permute(0, 2, 3, 1)[coords[:, 0], coords[:, 1], coords[:, 2]]
        return cls(coords, features, (b, h, w), assume_sorted=True)

    def to_dense(self) -> Tensor:
        """Sparse → (B, C, H, W) with zeros at inactive sites (differentiable w.r.t. features)."""
        b, h, w = self.spatial_shape
        c = self.num_channels
        flat = self.features.new_zeros(b * h * w, c).index_copy(0, self.keys(), self.features)
        return flat.view(b, h, w, c).permute(0, 3, 1, 2)

    @classmethod
    def from_jets(
        cls,
        jets: Jets,
        npix: int = NPIX,
        extent: float = EXTENT,
        preprocess: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> SparseImage:
        """Jet images (``jets.to_images``) as a one-channel sparse image; active = non-zero pixel."""
        images = torch.as_tensor(jets.to_images(npix=npix, extent=extent, preprocess=preprocess))
        return cls.from_dense(images[:, None].to(device=device, dtype=dtype), threshold=0.0)


# ---------------------------------------------------------------- functional
def rulebook_conv(features: Tensor, weight: Tensor, rulebook: Rulebook, transpose: bool = False) -> Tensor:
    """Apply ``weight`` (K, C_in, C_out) along a rulebook: ``out[o] += W[k]^T in[i]`` for (i, o) in R_k.

    All offsets at once: gather the padded (K', L) table of input rows → (K', L, C_in), one ``bmm`` with
    the (K', C_in, C_out) weights, ``index_add`` into the output rows (padding reads a zero row and
    writes a discarded row). With ``transpose`` the pairs run backwards (``out[i] += W[k]^T in[o]``),
    the adjoint used by :class:`SparseInverseConv2d`. Returns (num_out, C_out) (num_in when transposed).
    """
    src, dst = (
        (rulebook.out_table, rulebook.in_table) if transpose else (rulebook.in_table, rulebook.out_table)
    )
    n_dst = rulebook.num_in if transpose else rulebook.num_out
    c_out = weight.shape[2]
    if rulebook.identity_offset is not None:
        out = features @ weight[rulebook.identity_offset]
    else:
        out = features.new_zeros(n_dst, c_out)
    if src.numel() == 0:
        return out
    padded = torch.cat([features, features.new_zeros(1, features.shape[1])])
    gathered = padded.index_select(0, src.flatten()).view(*src.shape, features.shape[1])
    contrib = torch.bmm(gathered, weight.index_select(0, rulebook.offsets)).view(-1, c_out)
    out = torch.cat([out, out.new_zeros(1, c_out)]).index_add(0, dst.flatten(), contrib)
    return out[:n_dst]


# ------------------------------------------------------------------- modules
class _SparseConvBase(nn.Module):
    """Weights stored as (K, C_in, C_out), K = kernel_size², offset k = ky * kernel_size + kx."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = int(kernel_size)
        k2 = self.kernel_size ** 2
        self.weight = nn.Parameter(torch.empty(k2, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Conv2d's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in·k²."""
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size ** 2)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def _finish(self, out: Tensor) -> Tensor:
        return out + self.bias if self.bias is not None else out

    def dense_weight(self) -> Tensor:
        """Weight in nn.Conv2d layout (C_out, C_in, k, k) (differentiable view of ``weight``)."""
        k = self.kernel_size
        return self.weight.permute(2, 1, 0).reshape(self.out_channels, self.in_channels, k, k)

    @torch.no_grad()
    def load_dense_weight(self, conv: nn.Conv2d) -> _SparseConvBase:
        """Copy weight (and bias) from an nn.Conv2d with the same channels and kernel size."""
        k = self.kernel_size
        if tuple(conv.weight.shape) != (self.out_channels, self.in_channels, k, k):
            raise ValueError(f"conv weight {tuple(conv.weight.shape)} does not fit "
                             f"({self.out_channels}, {self.in_channels}, {k}, {k})")
        self.weight.copy_(conv.weight.reshape(self.out_channels, self.in_channels, k * k).permute(2, 1, 0))
        return self._load_bias(conv)

    @torch.no_grad()
    def _load_bias(self, conv: nn.Module) -> _SparseConvBase:
        """Copy the dense layer's bias (zero if it has none)."""
        if self.bias is not None:
            if conv.bias is None:
                self.bias.zero_()
            else:
                self.bias.copy_(conv.bias)
        return self

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"bias={self.bias is not None}")


class SubmanifoldConv2d(_SparseConvBase):
    """Submanifold sparse convolution (Graham & van der Maaten 2017): outputs only at active input sites.

    .. math::
        \\mathbf{x}'_u = \\mathbf{b} + \\sum_{\\delta \\in \\{-p..p\\}^2,\\; u + \\delta\\ \\text{active}}
            W_{\\delta}^\\top \\mathbf{x}_{u+\\delta}, \\qquad p = k // 2

    Equals ``nn.Conv2d(padding=k//2)`` on the dense image (zeros at inactive sites), read at the active
    sites. The active set never dilates, so deep stacks stay sparse. Odd ``kernel_size`` only.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True) -> None:
        if kernel_size % 2 != 1:
            raise ValueError(f"SubmanifoldConv2d needs an odd kernel_size, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, bias)

    def forward(self, x: SparseImage) -> SparseImage:
        rb = x.submanifold_rulebook(self.kernel_size)
        return x.replace_features(self._finish(rulebook_conv(x.features, self.weight, rb)))

    def as_dense_conv(self) -> nn.Conv2d:
        """An nn.Conv2d(padding=k//2) with copies of these weights (the dense reference)."""
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, padding=self.kernel_size // 2,
                         bias=self.bias is not None).to(self.weight)
        with torch.no_grad():
            conv.weight.copy_(self.dense_weight())
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv


class SparseConv2d(_SparseConvBase):
    """Strided sparse convolution: an output site is active when any input in its window is active.

    .. math::
        \\mathbf{x}'_o = \\mathbf{b} + \\sum_{(k_y, k_x):\\; i = s\\,o - p + (k_y, k_x)\\ \\text{active}}
            W_{k_y k_x}^\\top \\mathbf{x}_i

    Padding: zero padding of ``padding`` pixels on each side, exactly as ``nn.Conv2d(kernel_size, stride,
    padding)``; output grid ``H_out = (H + 2p - k) // s + 1``. At every active output site the result equals
    that dense conv applied to the dense image; inactive output sites (where the dense conv would give
    just the bias) are absent. Defaults (k=2, s=2, p=0) halve the grid. The rulebook is recorded on the
    output under ``indice_key`` so :class:`SparseInverseConv2d` can go back to the input sites.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 2,
        stride: int = 2,
        padding: int = 0,
        bias: bool = True,
        indice_key: str | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias)
        if stride < 1 or padding < 0:
            raise ValueError(f"need stride >= 1 and padding >= 0, got stride={stride}, padding={padding}")
        self.stride = int(stride)
        self.padding = int(padding)
        self.indice_key = indice_key

    def forward(self, x: SparseImage) -> SparseImage:
        coords, shape, rb, cache = x.strided_rulebook(self.kernel_size, self.stride, self.padding)
        record = _DownRecord(
            self.indice_key, self.kernel_size, x.coords, x.spatial_shape, x._cache, x._history, rb
        )
        out = self._finish(rulebook_conv(x.features, self.weight, rb))
        return SparseImage(
            coords, out, shape, assume_sorted=True, _cache=cache, _history=x._history + (record,)
        )

    def as_dense_conv(self) -> nn.Conv2d:
        """An nn.Conv2d with the same geometry and copies of these weights."""
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, stride=self.stride,
                         padding=self.padding, bias=self.bias is not None).to(self.weight)
        with torch.no_grad():
            conv.weight.copy_(self.dense_weight())
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv

    def extra_repr(self) -> str:
        return (
            super().extra_repr()
            + f", stride={self.stride}, padding={self.padding}, indice_key={self.indice_key!r}"
        )


class SparseInverseConv2d(_SparseConvBase):
    """Inverse of a :class:`SparseConv2d`: back to the finer sites it came from, reusing its rulebook.

    .. math::
        \\mathbf{x}'_i = \\mathbf{b} + \\sum_{(i, o) \\in R_k} W_k^\\top \\mathbf{x}_o

    This is ``nn.ConvTranspose2d(kernel_size, stride, padding)`` (with the output padding that restores
    the fine grid) read at the fine active sites; weight layout for copies is ConvTranspose2d's
    (C_in, C_out, k, k). ``indice_key`` names the strided conv to invert (default: the most recent one).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 2, bias: bool = True,
                 indice_key: str | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias)
        self.indice_key = indice_key

    def forward(self, x: SparseImage) -> SparseImage:
        idx = len(x._history) - 1
        if self.indice_key is not None:
            while idx >= 0 and x._history[idx].indice_key != self.indice_key:
                idx -= 1
        if idx < 0:
            raise ValueError(f"no SparseConv2d with indice_key={self.indice_key!r} in this image's history")
        rec = x._history[idx]
        if rec.kernel_size != self.kernel_size:
            raise ValueError(
                f"inverse conv kernel_size {self.kernel_size} != strided conv's {rec.kernel_size}"
            )
        out = self._finish(rulebook_conv(x.features, self.weight, rec.rulebook, transpose=True))
        return SparseImage(rec.coords, out, rec.spatial_shape, assume_sorted=True, _cache=rec.cache,
                           _history=rec.history)

    def dense_weight(self) -> Tensor:
        """Weight in nn.ConvTranspose2d layout (C_in, C_out, k, k)."""
        k = self.kernel_size
        return self.weight.permute(1, 2, 0).reshape(self.in_channels, self.out_channels, k, k)

    @torch.no_grad()
    def load_dense_weight(self, conv: nn.ConvTranspose2d) -> SparseInverseConv2d:  # type: ignore[override]
        """Copy weight (and bias) from an nn.ConvTranspose2d with the same channels and kernel size."""
        k = self.kernel_size
        if tuple(conv.weight.shape) != (self.in_channels, self.out_channels, k, k):
            raise ValueError(f"conv weight {tuple(conv.weight.shape)} does not fit "
                             f"({self.in_channels}, {self.out_channels}, {k}, {k})")
        self.weight.copy_(conv.weight.reshape(self.in_channels, self.out_channels, k * k).permute(2, 0, 1))
        return self._load_bias(conv)
