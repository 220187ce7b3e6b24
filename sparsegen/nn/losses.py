"""Losses: WGAN-GP gradient penalty, sparse-aware reconstruction losses, KL, l1 feature penalty.

A sample is either an image tensor (B, C, H, W) or a point cloud ``(particles (B,P,F), mask (B,P))``;
the gradient penalty handles both (for point clouds the interpolate's mask is the union of the two masks
and the gradient is taken w.r.t. the particle features).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from typing_extensions import Self

from sparsegen.core.images import pixel_centers
from sparsegen.nn.activations import activation_of, named_modules
from sparsegen.nn.matching import hungarian_matching

Sample = Union[Tensor, tuple[Tensor, Tensor]]

__all__ = [
    "L1FeaturePenalty",
    "Sample",
    "chamfer_loss",
    "gradient_penalty",
    "hungarian_loss",
    "hurdle_loss",
    "interpolate",
    "image_mass",
    "kl_divergence",
    "masked_mse",
    "mass_distance",
    "mse",
    "point_set_loss",
    "reconstruction_loss",
    "spectrum_distance",
    "weighted_mse",
]


def interpolate(real: Sample, fake: Sample, eps: Tensor) -> Sample:
    """x̂ = ε·real + (1 − ε)·fake with one ε per sample (eps: (B,)); masks (points) are OR-ed."""
    if isinstance(real, Tensor):
        e = eps.view(-1, *([1] * (real.dim() - 1)))
        return e * real + (1 - e) * fake
    (xr, mr), (xf, mf) = real, fake
    e = eps.view(-1, 1, 1)
    mask = mr | mf
    return torch.where(mask[..., None], e * xr + (1 - e) * xf, torch.zeros_like(xr)), mask


def gradient_penalty(
    critic: Callable[[Sample], Tensor],
    real: Sample,
    fake: Sample,
    generator: torch.Generator | None = None,
    eps: Tensor | None = None,
) -> Tensor:
    """Gulrajani et al. (2017): E[(‖∇_x̂ D(x̂)‖₂ − 1)²] on random interpolates, norm per sample.

    The norm runs over every input element of a sample (all pixels / all particle features). For a
    sparse critic the gradient is non-zero only on the union of the two samples' active sites: the
    interpolate is active exactly there, and the critic never reads other sites.
    """
    x_real = real if isinstance(real, Tensor) else real[0]
    b = x_real.shape[0]
    if eps is None:
        eps = torch.rand(b, device=x_real.device, dtype=x_real.dtype, generator=generator)
    x_hat = interpolate(real.detach() if isinstance(real, Tensor) else (real[0].detach(), real[1]),
                        fake.detach() if isinstance(fake, Tensor) else (fake[0].detach(), fake[1]), eps)
    if isinstance(x_hat, Tensor):
        x_in = x_hat.requires_grad_(True)
        out = critic(x_in)
    else:
        x_in = x_hat[0].requires_grad_(True)
        out = critic((x_in, x_hat[1]))
    (grad,) = torch.autograd.grad(out.sum(), x_in, create_graph=True)
    norm = grad.reshape(b, -1).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


# -------------------------------------------------------------------------------- reconstruction
def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Plain mean squared error over every pixel (dominated by the empty ones)."""
    return F.mse_loss(pred, target)


def masked_mse(pred: Tensor, target: Tensor) -> Tensor:
    """MSE over the pixels where the target *or* the prediction is non-zero.

    Pixels that both leave empty do not count, so the mostly empty image no longer dilutes the signal,
    yet spurious predicted intensity is still penalized.
    """
    sites = (target != 0) | (pred.detach() != 0)
    if not sites.any():
        return pred.sum() * 0.0
    return ((pred - target) ** 2)[sites].mean()


def weighted_mse(pred: Tensor, target: Tensor, empty_weight: float = 0.05) -> Tensor:
    """Class-balanced MSE: active and empty pixels each contribute half, empty ones scaled by
    ``empty_weight`` relative to active ones."""
    active = target != 0
    err = (pred - target) ** 2
    n_act = active.sum().clamp(min=1)
    n_emp = (~active).sum().clamp(min=1)
    return (err * active).sum() / n_act + empty_weight * (err * ~active).sum() / n_emp


def hurdle_loss(out: Tensor, target: Tensor) -> Tensor:
    """Hurdle (zero-inflated Gaussian) negative log-likelihood per pixel, for images whose empty pixels are
    exactly 0 and active ones positive (the network space of `sparsegen.data.normalization`; with the log
    transform the active value is a log-intensity, so the model is a zero-inflated log-normal).

    ``out`` (B, 3, H, W): channel 0 = occupancy logit, 1 = mean μ and 2 = log σ of an active pixel's value
    (one σ per pixel: a jet's core is predicted far better than its soft fringe; clamped to [-6, 2]).
    L = BCE(logit, 1[x > 0]) + Σ 1[x > 0]·[(x − μ)² / (2σ²) + log σ] / Σ 1[x > 0]: the value term only sees
    active pixels, so zeros are modelled by the occupancy alone.
    """
    logits, mu, log_sigma = out[:, :1], out[:, 1:2], out[:, 2:3].clamp(-6.0, 2.0)
    active = (target > 0).to(out.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, active)
    nll = ((target - mu) ** 2 / (2 * torch.exp(2 * log_sigma)) + log_sigma) * active
    return bce + nll.sum() / active.sum().clamp(min=1.0)


def spectrum_distance(real: Tensor, fake: Tensor, threshold: float = 0.0, levels: int = 64) -> Tensor:
    """1-D Wasserstein-1 distance between the value spectra of the active pixels (v > ``threshold``) of
    two image batches, from their quantiles at ``levels`` evenly spaced probabilities (differentiable in
    ``fake``: quantiles are sorted values, interpolated). 0 when either batch has no active pixel.

    With the log transform the network value of a pixel is its log-intensity, so this is the batch's
    pixel-spectrum distance: a feature-matching term (Salimans et al. 2016) on the one marginal a critic
    learns slowest, the intensity distribution of the few active pixels.
    """
    r, f = real[real > threshold], fake[fake > threshold]
    if r.numel() == 0 or f.numel() == 0:
        return fake.sum() * 0.0
    return quantile_w1(r, f, levels)


def occupancy_distance(real: Tensor, fake: Tensor, threshold: float = 0.0, levels: int = 64) -> Tensor:
    """1-D Wasserstein-1 distance between the per-image active-pixel counts of two image batches, as a
    fraction of the real batch's mean count (differentiable in ``fake``).

    Real pixels count when above ``threshold``; a fake pixel counts tanh(v / s), s a third of the
    threshold (at least 1e-3): ≈ 1 where it is active and, unlike a hard count or relu(v), with a slope at
    an empty pixel, so through a straight-through occupancy mask (``mask · v``) the term can tell a generator
    to *light* pixels. A feature-matching term (Salimans et al. 2016) on the occupancy, which a sparse critic
    that only sees active sites can push but not pin.
    """
    scale = max(threshold / 3.0, 1e-3)
    r = (real.flatten(1) > threshold).sum(1).to(fake.dtype)
    f = torch.tanh(fake.flatten(1) / scale).sum(1)
    return quantile_w1(r, f, levels) / r.mean().clamp_min(1.0)


def image_mass(x: Tensor, extent: float) -> Tensor:
    """Relative jet mass m / pT (B,) of (B, 1, H, W) images of intensities [ptrel] over ±``extent``, every
    pixel a massless particle at its centre (rows φ, columns η, as `sparsegen.core.images.pixelize`), summed
    as four-vectors (differentiable in ``x``)."""
    h, w = x.shape[-2:]
    phi, eta = (torch.as_tensor(pixel_centers(n, extent), dtype=x.dtype, device=x.device) for n in (h, w))
    phi, eta = phi[:, None], eta[None, :]
    z = x.reshape(x.shape[0], -1, h, w).sum(1)
    e, px, py, pz = ((z * c).flatten(1).sum(1)
                     for c in (torch.cosh(eta), torch.cos(phi), torch.sin(phi), torch.sinh(eta)))
    return (e**2 - px**2 - py**2 - pz**2).clamp_min(1e-12).sqrt()


def mass_distance(real: Tensor, fake: Tensor, extent: float, levels: int = 64) -> Tensor:
    """1-D Wasserstein-1 distance between the relative jet masses (`image_mass`) of two batches of ptrel
    images, as a fraction of the real batch's mean mass (differentiable in ``fake``): a feature-matching
    term on the jet observable a critic reads only through the geometry of two prongs."""
    r = image_mass(real, extent)
    return quantile_w1(r, image_mass(fake, extent), levels) / r.mean().clamp_min(1e-6)


def nsubjettiness_ratio(particles: Tensor, mask: Tensor, n: int = 2) -> Tensor:
    """τ_n / τ_{n−1} per jet (B,), β = 1, of (etarel, phirel, ptrel) particles, differentiable in the
    particles with the axes held fixed: the axes are `sparsegen.core.kinematics.subjet_axes` of the detached
    particles (the jet for τ1, exclusive kT above), so the value equals `tau_ratios`' and its gradient moves
    particles towards or away from the axes they belong to. 0 for jets with ≤ n particles."""
    from sparsegen.core.kinematics import subjet_axes

    axes = subjet_axes(particles.detach().double().cpu().numpy(), mask.cpu().numpy(), n_max=n)
    eta, phi, pt = particles[..., 0], particles[..., 1], torch.where(mask, particles[..., 2], 0.0)

    def tau(k: int) -> Tensor:
        y_ax, phi_ax = (torch.as_tensor(a, dtype=particles.dtype, device=particles.device) for a in axes[k])
        dphi = torch.remainder(phi[:, :, None] - phi_ax[:, None, :] + torch.pi, 2 * torch.pi) - torch.pi
        dr = ((eta[:, :, None] - y_ax[:, None, :]) ** 2 + dphi**2 + 1e-12).sqrt().amin(-1)
        return (pt * dr).sum(1)

    num, den = tau(n), tau(n - 1)
    ok = (mask.sum(1) > n) & (den > 0)
    return torch.where(ok, num / den.clamp_min(1e-12), torch.zeros_like(num))


def quantile_w1(real: Tensor, fake: Tensor, levels: int = 64) -> Tensor:
    """1-D W1 between two samples of a scalar from their quantiles at ``levels`` probabilities
    (differentiable in ``fake``)."""
    q = torch.linspace(0.5 / levels, 1 - 0.5 / levels, levels, device=fake.device, dtype=fake.dtype)
    return (torch.quantile(fake, q) - torch.quantile(real.to(fake.dtype), q)).abs().mean()


def _set_distances(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Squared distances d_ij = ‖x̂_i − x_j‖² (B, P, P), +inf where slot i or j is padded."""
    d = (pred[:, :, None, :] - target[:, None, :, :]).pow(2).sum(-1)
    pair = mask[:, :, None] & mask[:, None, :]
    return d.masked_fill(~pair, float("inf"))


def chamfer_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Masked Chamfer distance between the sets {x̂_i: m_i} and {x_j: m_j}, (B, P, F) each.

    L = Σ_jets [Σ_j min_i d_ij + Σ_i min_j d_ij] / (2 Σ m), d_ij = ‖x̂_i − x_j‖²: permutation invariant,
    padded slots never enter.
    """
    d = _set_distances(pred, target, mask)
    n = mask.sum().clamp_min(1)
    to_target = torch.where(mask, d.min(dim=1).values, torch.zeros((), device=d.device, dtype=d.dtype))
    to_pred = torch.where(mask, d.min(dim=2).values, torch.zeros((), device=d.device, dtype=d.dtype))
    return (to_target.sum() + to_pred.sum()) / (2 * n)


def hungarian_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Squared error under the optimal one-to-one matching of each jet's real particles (exact EMD-2).

    The matching (``scipy.optimize.linear_sum_assignment`` per jet, on the CPU, no gradient) picks the
    permutation; the loss Σ_j ‖x̂_{π(j)} − x_j‖² / Σ m is differentiable in x̂.
    """
    d = _set_distances(pred, target, mask)
    jet, i, j = hungarian_matching(d, mask)
    if len(jet) == 0:
        return pred.sum() * 0.0
    return d[jet, i, j].sum() / len(jet)


def point_set_loss(kind: Literal["chamfer", "hungarian"], out: tuple[Tensor, Tensor | None],
                   target: tuple[Tensor, Tensor]) -> Tensor:
    """Set reconstruction of a point decoder output ``(x̂ (B,P,F), multiplicity logits (B,P+1) | None)``.

    The first n slots of x̂ (n = the target's multiplicity) are compared with the n real particles of the
    target by Chamfer or Hungarian matching; the multiplicity head adds its cross entropy −log p(n).
    """
    pred, logits = out
    x, mask = target
    counts = mask.sum(1)
    slots = torch.arange(mask.shape[1], device=mask.device)[None, :] < counts[:, None]
    if not torch.equal(slots, mask):  # compare slots 1..n with the real particles wherever they sit
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
        x = x.gather(1, order[..., None].expand_as(x))
        mask = slots
    loss = chamfer_loss(pred, x, mask) if kind == "chamfer" else hungarian_loss(pred, x, mask)
    if logits is not None:
        loss = loss + F.cross_entropy(logits, counts.long())
    return loss


Recon = Literal["mse", "masked_mse", "weighted_mse", "hurdle", "chamfer", "hungarian"]


def reconstruction_loss(kind: Recon, out: Sample, target: Sample, **kwargs: float) -> Tensor:
    """Dispatch by name (the VAE's ``recon`` option); "chamfer"/"hungarian" take point sets."""
    if kind in ("chamfer", "hungarian"):
        return point_set_loss(kind, out, target)
    if kind == "mse":
        return mse(out, target)
    if kind == "masked_mse":
        return masked_mse(out, target)
    if kind == "weighted_mse":
        return weighted_mse(out, target, **kwargs)
    if kind == "hurdle":
        return hurdle_loss(out, target, **kwargs)
    raise ValueError(f"unknown reconstruction loss '{kind}' (mse, masked_mse, weighted_mse, hurdle)")


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over latent dimensions, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)).mean()


class L1FeaturePenalty:
    """l1 penalty on intermediate features: :math:`\\mathcal{L} = \\sum_j \\omega_j \\lVert x_j \\rVert_1`.

    Forward hooks record the outputs of ``modules`` (dict name → module, or a list); :meth:`loss` returns
    the weighted sum over every recorded call, then clears the record (only the scalar terms are kept, so
    calls under ``torch.no_grad()`` cost nothing but still report the penalty). ``reduction``: "mean" divides
    ‖x_j‖₁ by its number of elements, "batchmean" by the batch size, "sum" not at all. Use as a context
    manager or call :meth:`remove`.
    """

    def __init__(
        self,
        modules: Mapping[str, nn.Module] | Sequence[nn.Module],
        weights: float | Mapping[str, float] | Sequence[float] = 1.0,
        reduction: Literal["mean", "batchmean", "sum"] = "mean",
    ) -> None:
        self.modules = named_modules(modules)
        names = list(self.modules)
        if isinstance(weights, (int, float)):
            self.weights = {n: float(weights) for n in names}
        elif isinstance(weights, Mapping):
            self.weights = {n: float(weights.get(n, 0.0)) for n in names}
        else:
            if len(weights) != len(names):
                raise ValueError(f"{len(weights)} weights for {len(names)} modules")
            self.weights = {n: float(w) for n, w in zip(names, weights)}
        if reduction not in ("mean", "batchmean", "sum"):
            raise ValueError(f"reduction must be 'mean', 'batchmean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self._terms: list[Tensor] = []
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self.modules.items()]

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            x, n = activation_of(output)
            if x is None or self.weights[name] == 0.0:
                return
            l1 = x.abs().sum()
            if self.reduction == "mean":
                l1 = l1 / max(1, x.numel())
            elif self.reduction == "batchmean":
                l1 = l1 / max(1, n)
            self._terms.append(self.weights[name] * l1)
        return hook

    def loss(self, clear: bool = True) -> Tensor:
        """Σ_j ω_j ‖x_j‖₁ over the recorded outputs (0 if nothing was recorded)."""
        total = torch.stack(self._terms).sum() if self._terms else torch.zeros(())
        if clear:
            self.clear()
        return total

    def clear(self) -> None:
        self._terms = []

    def remove(self) -> None:
        """Detach the hooks and drop recorded outputs."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
