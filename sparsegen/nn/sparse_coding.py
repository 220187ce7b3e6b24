"""Deep sparse coding: the multi-layer convolutional sparse coding (ML-CSC) view of CNNs.

ML-CSC (Papyan, Romano & Elad 2017) models a signal as :math:`Y = D_1 \\Gamma_1`,
:math:`\\Gamma_1 = D_2 \\Gamma_2`, … with convolutional dictionaries :math:`D_i` and sparse codes
:math:`\\Gamma_i`. The forward pass of a CNN with ReLU, :math:`\\Gamma_i = \\mathrm{ReLU}(W_i * \\Gamma_{i-1}
+ b_i)`,
is the *layered non-negative soft thresholding* pursuit :math:`\\Gamma_i = S^+_{\\lambda_i}(D_i^T
\\Gamma_{i-1})`
with :math:`D_i^T = W_i *` and :math:`\\lambda_i = -b_i`. Unrolling ISTA per layer (layered ISTA, cf. Sulam
et al. 2018) refines each code towards the lasso solution. Dictionaries are conv weights
``W_i`` (C_i, C_{i-1}, k, k): :math:`D_i^T` is ``conv2d(·, W_i)`` and :math:`D_i` the adjoint
``conv_transpose2d(·, W_i)``; the atoms of :math:`D_i` are ``W_i[c]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LayeredISTA",
    "LayeredThresholding",
    "mutual_coherence",
    "nonneg_soft_threshold",
    "soft_threshold",
    "uniqueness_bound",
]


def soft_threshold(x: Tensor, lam: Tensor | float) -> Tensor:
    """:math:`S_\\lambda(x) = \\mathrm{sign}(x) \\max(|x| - \\lambda, 0)`, the proximal operator of λ‖·‖₁."""
    return torch.sign(x) * F.relu(x.abs() - lam)


def nonneg_soft_threshold(x: Tensor, lam: Tensor | float) -> Tensor:
    """:math:`S^+_\\lambda(x) = \\max(x - \\lambda, 0)`, the prox of λ‖·‖₁ + indicator(x ≥ 0); = ReLU(x + b),
    b = -λ."""
    return F.relu(x - lam)


def _per_layer(value: int | Sequence[int], n: int, name: str) -> list[int]:
    vals = [int(value)] * n if isinstance(value, int) else [int(v) for v in value]
    if len(vals) != n:
        raise ValueError(f"{name} needs {n} entries, got {len(vals)}")
    return vals


class LayeredThresholding(nn.Module):
    """CNN forward pass read as ML-CSC layered thresholding.

    .. math::
        \\Gamma_i = \\mathrm{ReLU}(W_i * \\Gamma_{i-1} + b_i) = S^+_{-b_i}(D_i^T \\Gamma_{i-1}), \\quad
        \\Gamma_0 = Y

    ``channels`` = (C_0, C_1, …, C_L); conv padding k // 2. ``forward(y, return_all)`` gives Γ_L or
    [Γ_1..Γ_L].
    """

    def __init__(self, channels: Sequence[int], kernel_sizes: int | Sequence[int] = 3,
                 strides: int | Sequence[int] = 1) -> None:
        super().__init__()
        n = len(channels) - 1
        ks, ss = _per_layer(kernel_sizes, n, "kernel_sizes"), _per_layer(strides, n, "strides")
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels[i], channels[i + 1], ks[i], ss[i], ks[i] // 2), nn.ReLU())
            for i in range(n)
        )

    @property
    def thresholds(self) -> list[Tensor]:
        """λ_i = -b_i per layer."""
        return [-layer[0].bias for layer in self.layers]

    def forward(self, y: Tensor, return_all: bool = False) -> Tensor | list[Tensor]:
        codes = []
        for layer in self.layers:
            y = layer(y)
            codes.append(y)
        return codes if return_all else codes[-1]


class LayeredISTA(nn.Module):
    """Layered ISTA encoder with learnable convolutional dictionaries and thresholds.

    For each layer i (signal :math:`X = \\Gamma_{i-1}`, :math:`\\Gamma_0 = Y`), step size η and
    thresholds λ_i (per channel):

    .. math::
        \\Gamma^0 = S_{\\eta\\lambda}(\\eta D^T X), \\qquad
        \\Gamma^t = S_{\\eta\\lambda}\\big(\\Gamma^{t-1} + \\eta D^T (X - D \\Gamma^{t-1})\\big), \\; t =
        1..n_{iter}

    i.e. ISTA on :math:`\\min_\\Gamma \\tfrac12 \\lVert X - D\\Gamma \\rVert_2^2 + \\lambda \\lVert \\Gamma
    \\rVert_1`
    (S = :func:`nonneg_soft_threshold` when ``nonneg``). ``n_iter = 0`` with η = 1 is exactly
    :class:`LayeredThresholding` with bias −λ. ``step=None`` uses η = 1/L per layer, L ≈ ‖D‖² by
    power iteration (seeded, no gradient), which makes the layer objective non-increasing in t.
    ``taps[i]`` (nn.Identity) sees the final Γ_i: hook points for penalties and monitors.
    """

    def __init__(
        self,
        channels: Sequence[int],
        kernel_sizes: int | Sequence[int] = 3,
        strides: int | Sequence[int] = 1,
        n_iter: int = 3,
        lam: float = 0.1,
        step: float | None = None,
        nonneg: bool = True,
        power_iters: int = 30,
        seed: int = 0,
    ) -> None:
        super().__init__()
        n = len(channels) - 1
        self.kernel_sizes = _per_layer(kernel_sizes, n, "kernel_sizes")
        self.strides = _per_layer(strides, n, "strides")
        self.n_iter = int(n_iter)
        self.step = step
        self.nonneg = nonneg
        self.power_iters = power_iters
        self.seed = seed
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(channels[i + 1], channels[i], k, k))
            for i, k in enumerate(self.kernel_sizes)
        )
        self.lams = nn.ParameterList(
            nn.Parameter(torch.full((channels[i + 1],), float(lam))) for i in range(n)
        )
        self.taps = nn.ModuleList(nn.Identity() for _ in range(n))
        self._lipschitz_cache: dict[tuple[int, int, int, tuple[int, ...]], float] = {}
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random unit-norm atoms (from torch's global RNG, like nn.Conv2d)."""
        for w in self.weights:
            nn.init.normal_(w)
            w.div_(w.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None])

    @property
    def num_layers(self) -> int:
        return len(self.weights)

    def analysis(self, i: int, x: Tensor) -> Tensor:
        """:math:`D_i^T x` = conv2d(x, W_i)."""
        k = self.kernel_sizes[i]
        return F.conv2d(x, self.weights[i], stride=self.strides[i], padding=k // 2)

    def synthesis(self, i: int, gamma: Tensor, size: Sequence[int]) -> Tensor:
        """:math:`D_i \\Gamma` = conv_transpose2d(Γ, W_i), the exact adjoint of :meth:`analysis`, at spatial
        ``size``."""
        k, s = self.kernel_sizes[i], self.strides[i]
        base = [(g - 1) * s - 2 * (k // 2) + k for g in gamma.shape[-2:]]
        out_pad = [int(t) - b for t, b in zip(size, base)]
        return F.conv_transpose2d(
            gamma, self.weights[i], stride=s, padding=k // 2, output_padding=tuple(out_pad)
        )

    @torch.no_grad()
    def lipschitz(self, i: int, signal_shape: Sequence[int]) -> float:
        """Power-iteration estimate of ‖D_i‖² (largest eigenvalue of D_iᵀD_i) for signals of ``signal_shape``.

        Cached until the weight changes (keyed by the tensor's version counter and storage).
        """
        w = self.weights[i]
        size = tuple(int(s) for s in signal_shape[-2:])
        key = (i, w._version, w.data_ptr(), size)
        if key not in self._lipschitz_cache:
            self._lipschitz_cache = {k: v for k, v in self._lipschitz_cache.items() if k[0] != i}
            self._lipschitz_cache[key] = self._power_iteration(i, size)
        return self._lipschitz_cache[key]

    def _power_iteration(self, i: int, size: tuple[int, ...]) -> float:
        w = self.weights[i]
        probe = self.analysis(i, torch.zeros(1, w.shape[1], *size, dtype=w.dtype, device=w.device))
        gen = torch.Generator(device="cpu").manual_seed(self.seed + i)
        v = torch.randn(probe.shape, generator=gen, dtype=w.dtype).to(w.device)
        est = 0.0
        for _ in range(self.power_iters):
            v = v / v.norm().clamp_min(1e-30)
            u = self.analysis(i, self.synthesis(i, v, size))
            est = float((u * v).sum())
            v = u
        return est

    def _threshold(self, x: Tensor, lam: Tensor) -> Tensor:
        lam = lam.clamp_min(0)[None, :, None, None]
        return nonneg_soft_threshold(x, lam) if self.nonneg else soft_threshold(x, lam)

    def layer_objective(self, i: int, x: Tensor, gamma: Tensor) -> Tensor:
        """Per-sample lasso objective ½‖X − D_iΓ‖² + Σ_c λ_c‖Γ_c‖₁ of layer i, shape (B,)."""
        r = x - self.synthesis(i, gamma, x.shape[-2:])
        lam = self.lams[i].clamp_min(0)[None, :, None, None]
        return 0.5 * r.pow(2).flatten(1).sum(1) + (lam * gamma.abs()).flatten(1).sum(1)

    def encode_layer(self, i: int, x: Tensor, n_iter: int | None = None) -> Tensor:
        """Γ_i from X = Γ_{i-1} with ``n_iter`` (default ``self.n_iter``) ISTA steps after the thresholding
        init."""
        n_iter = self.n_iter if n_iter is None else n_iter
        eta = self.step if self.step is not None else 1.0 / (1.05 * self.lipschitz(i, x.shape))
        lam = self.lams[i] * eta
        gamma = self._threshold(eta * self.analysis(i, x), lam)
        for _ in range(n_iter):
            residual = x - self.synthesis(i, gamma, x.shape[-2:])
            gamma = self._threshold(gamma + eta * self.analysis(i, residual), lam)
        return self.taps[i](gamma)

    def forward(
        self, y: Tensor, return_all: bool = False, n_iter: int | None = None
    ) -> Tensor | list[Tensor]:
        codes = []
        x = y
        for i in range(self.num_layers):
            x = self.encode_layer(i, x, n_iter)
            codes.append(x)
        return codes if return_all else codes[-1]

    def reconstruct(self, codes: Sequence[Tensor], input_size: Sequence[int], from_layer: int = 1) -> Tensor:
        """:math:`D_1 D_2 \\cdots D_\\ell \\Gamma_\\ell` with ℓ = ``from_layer`` (1-based), at the input's
        spatial size."""
        sizes = [tuple(input_size[-2:])] + [tuple(c.shape[-2:]) for c in codes[:-1]]
        x = codes[from_layer - 1]
        for i in reversed(range(from_layer)):
            x = self.synthesis(i, x, sizes[i])
        return x


# ----------------------------------------------------------------- coherence
def mutual_coherence(weight: Tensor, shifts: bool = False) -> Tensor:
    """Mutual coherence :math:`\\mu = \\max_{i \\ne j} |\\langle d_i, d_j \\rangle|` of ℓ2-normalised atoms.

    Atoms are ``weight[i]`` flattened (dim 0 indexes atoms: conv weights (C_out, C_in, k, k), or a
    (n_atoms, dim) matrix). With ``shifts`` (4-D weights) the atoms of the global convolutional
    dictionary are compared at every relative translation (full 2-D cross-correlation; the zero shift
    of an atom with itself excluded), the μ of Papyan et al.'s stripe analysis.
    """
    atoms = weight.detach().flatten(1)
    atoms = atoms / atoms.norm(dim=1, keepdim=True).clamp_min(1e-12)
    n = atoms.shape[0]
    if not shifts or weight.ndim != 4:
        gram = atoms @ atoms.T
        return gram.masked_fill(torch.eye(n, dtype=torch.bool, device=gram.device), 0.0).abs().max()
    w = atoms.view_as(weight)
    kh, kw = weight.shape[-2:]
    corr = F.conv2d(w, w, padding=(kh - 1, kw - 1))  # (n, n, 2kh-1, 2kw-1)
    corr[torch.arange(n), torch.arange(n), kh - 1, kw - 1] = 0.0
    return corr.abs().max()


def uniqueness_bound(mu: Tensor | float) -> float:
    """Sparsity below which the sparse representation is unique: :math:`\\lVert\\Gamma\\rVert_0 < \\tfrac12(1
    + 1/\\mu)`."""
    mu = float(mu)
    return math.inf if mu == 0.0 else 0.5 * (1.0 + 1.0 / mu)
