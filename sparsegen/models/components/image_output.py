"""The image generators' output stage: what the head's pre-activations become, and which pixels are kept.

A generator takes ``output=`` one `ImageHead`, the sparse-aware generator also ``mask=`` an `OccupancyMask`.
Each part checks its own settings when it is built, so a combination that does not exist cannot be
written (a floor belongs to energy conservation, which is linear by construction); the generator checks the
one cross-part rule (`check_output`: which heads it takes, a lifting floor needs a mask) when it is built.

Heads (v: the network-space value of a pixel, a: its pre-activation):

* `ReLUHead`: v = max(a, 0) — negative pre-activations are exact zeros (LAGAN's output, here in the
  transformed space where it cannot explode: a pixel's value is a log-intensity, not a pT);
* `LinearHead`: v = a, the transformed intensity itself (CaloScore's linear output); values below the
  pixel threshold become exact zeros when the sample is turned back into ptrel;
* `SoftplusHead` (with an occupancy mask): v = mask · softplus(a);
* `EnergyConservingHead`: a is a log pixel *share*; a jet's intensities are x = total · softmax(shares)
  (over the pixels the occupancy mask keeps, where there is one), so the image sums to a generated total by
  construction. ``total="quantiles"``: the total is the training pixel-sum distribution's inverse CDF at
  Φ(z₀), z₀ the first noise coordinate — the marginal is the data's exactly and the network, which sees z₀,
  can tie the jet's shape to it. ``total="learned"``: total = s_max · σ(w · h), bounded by the largest
  training pixel sum s_max. Totals are a little above 1: the scalar pT sum of a jet's constituents exceeds
  the jet pT. ``floor=`` a `PixelFloor`.

`PixelFloor` (quantile q) keeps every kept pixel at or above the training pixel spectrum's q-quantile x_q,
then restores the jet's sum: ``mode="cut"`` drops a pixel below x_q (a jet's largest pixel is always above
it), ``"lift"`` (occupancy mask only) adds x_q to every kept pixel. Without it a GAN removes unwanted pixels
by fading them, not with its mask, and its spectrum piles up barely-active pixels just above the read-out
threshold; with the cut the mask has to do it. In the dense generator the cut is LAGAN's threshold (pixels
below 1e-3 of the scale zeroed), placed at the spectrum quantile. Measured effect of both: docs/results.md
("How to read these numbers", the floor note).

`OccupancyMask`: a binary mask per pixel (straight-through Gumbel-sigmoid: a Bernoulli sample in the forward
pass, the sigmoid's gradient in the backward pass), so empty pixels are exactly zero; its logits are the
generator's first head channel, started at ``bias`` (or at the training occupancy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.components.image_parts import ImageSpace, inverse_softplus, straight_through_bernoulli
from sparsegen.models.spec import Component


def active_intensity(space: ImageSpace, value: Tensor) -> Tensor:
    """Intensity [ptrel] of a pixel with network value ``value`` (at least the threshold)."""
    return space.to_ptrel(value.clamp_min(space.v_threshold)).clamp_min(1e-12)


class ImageHead(Component):
    """What the intensity channel's pre-activation a (B, 1, H, W) becomes (see the module docstring)."""

    name = ""
    conserves = False  # a holds log pixel shares of a generated total
    learned_total = False  # the generator grows a linear layer for the total

    def __init__(self) -> None:
        super().__init__()
        self.floor: PixelFloor | None = None  # an instance attribute: a submodule where there is one

    def activation(self, a: Tensor) -> Tensor:
        raise NotImplementedError

    def pre_activation(self, v: Tensor) -> Tensor:
        """a with activation(a) = v (v > 0): where a head starts to put a pixel at value v."""
        return v

    def noise_scale(self, v: Tensor, std: Tensor, space: ImageSpace) -> Tensor:
        """Per-pixel noise amplitude on a, for a spread ``std`` of the network value around v."""
        return std

    def image(self, a: Tensor, space: ImageSpace, total: Tensor | None = None,
              mask: Tensor | None = None) -> Tensor:
        """Network-space image from the pre-activations (times the occupancy mask where there is one)."""
        v = self.activation(a)
        return v if mask is None else mask * v


class ReLUHead(ImageHead):
    """v = max(a, 0)."""

    name = "relu"

    def __init__(self) -> None:
        super().__init__()

    def activation(self, a: Tensor) -> Tensor:
        return F.relu(a)


class LinearHead(ImageHead):
    """v = a."""

    name = "linear"

    def __init__(self) -> None:
        super().__init__()

    def activation(self, a: Tensor) -> Tensor:
        return a


class SoftplusHead(ImageHead):
    """v = softplus(a)."""

    name = "softplus"

    def __init__(self) -> None:
        super().__init__()

    def activation(self, a: Tensor) -> Tensor:
        return F.softplus(a)

    def pre_activation(self, v: Tensor) -> Tensor:
        return inverse_softplus(v)

    def noise_scale(self, v: Tensor, std: Tensor, space: ImageSpace) -> Tensor:
        return std / torch.sigmoid(inverse_softplus(v))


class PixelFloor(Component):
    """Every kept pixel at or above the training spectrum's ``quantile`` (module docstring)."""

    def __init__(self, quantile: float = 0.05, mode: Literal["cut", "lift"] = "cut") -> None:
        super().__init__()
        if not 0.0 < quantile < 1.0:
            raise SparsegenInputError("config", f"PixelFloor: quantile must be in (0, 1), got {quantile}")
        if mode not in ("lift", "cut"):
            raise SparsegenInputError("config", f"PixelFloor: mode must be 'lift' or 'cut', got '{mode}'")
        self.quantile, self.mode = float(quantile), mode

    def apply(self, x: Tensor, total: Tensor, shape: torch.Size, space: ImageSpace,
              mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """(floored intensities (B, H·W) summing to ``total`` over the kept pixels, the kept-pixel mask)."""
        x_q = space.spectrum_quantile(self.quantile)
        if self.mode == "lift":  # every kept pixel holds at least the spectrum floor (mask only)
            x = x + x_q
        else:  # "cut": a (kept) pixel below the floor is dropped; the jet's largest pixel never is
            keep = (x >= x_q).to(x.dtype).view(shape)
            mask = keep if mask is None else mask * keep
        return x * total / (x * mask.flatten(1)).sum(1, keepdim=True).clamp_min(1e-12), mask


class EnergyConservingHead(ImageHead):
    """Intensities total · softmax(log shares) over the kept pixels, optionally floored (module docstring)."""

    name = "linear"  # the head emits log shares linearly
    conserves = True

    def __init__(self, total: Literal["quantiles", "learned"] = "quantiles",
                 floor: PixelFloor | None = None) -> None:
        super().__init__()
        if total not in ("learned", "quantiles"):
            raise SparsegenInputError("config", f"EnergyConservingHead: total must be 'learned' or "
                                                f"'quantiles', got '{total}'")
        self.total = total
        self.learned_total = total == "learned"
        self.floor = floor

    def noise_scale(self, v: Tensor, std: Tensor, space: ImageSpace) -> Tensor:
        """The spread in log intensity: std times the slope of log x(v)."""
        step = 1e-3
        slope = (torch.log(active_intensity(space, v + step))
                 - torch.log(active_intensity(space, v - step))) / (2 * step)
        return std * slope

    def image(self, a: Tensor, space: ImageSpace, total: Tensor | None = None,
              mask: Tensor | None = None) -> Tensor:
        """Network-space image whose intensities are ``total`` (B, 1) · softmax(a) over the pixels the mask
        keeps (all pixels without a mask)."""
        if total is None:
            raise ValueError("an energy-conserving head needs the jets' totals")
        flat = a.flatten(1)
        w = torch.exp(flat - flat.max(1, keepdim=True).values.detach())
        kept = w if mask is None else w * mask.flatten(1)
        x = total * w / kept.sum(1, keepdim=True).clamp_min(1e-12)
        if self.floor is not None:
            x, mask = self.floor.apply(x, total, a.shape, space, mask)
        v = space.from_ptrel(x.view_as(a))
        # the mask multiplies the *transformed* value: the same image, but the straight-through gradient of
        # a pixel's mask is the O(1) value it would hold, not the log transform's 1/floor slope at zero
        return v if mask is None else mask * v


class OccupancyMask(Component):
    """Binary straight-through mask from occupancy logits; ``bias``: their initial value (without per-pixel
    biases fitted from the data), ``temperature``: of the relaxed sigmoid."""

    def __init__(self, temperature: float = 1.0, bias: float = -3.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise SparsegenInputError("config", f"OccupancyMask: temperature must be > 0, got {temperature}")
        self.temperature, self.bias = float(temperature), float(bias)

    def forward(self, logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return straight_through_bernoulli(logits, self.temperature, generator)


HEAD_CLASSES: dict[str, type[ImageHead]] = {"relu": ReLUHead, "linear": LinearHead, "softplus": SoftplusHead}


def head_from_flags(owner: str, head: str, energy_conserving: bool, total: str, floor_quantile: float,
                    floor_mode: str, allowed: Sequence[str]) -> ImageHead:
    """The output stage the older keyword flags describe (``head``, ``energy_conserving``, ``total``,
    ``floor_quantile``, ``floor_mode``), with one config error for a combination that does not exist."""
    if head not in allowed:
        raise SparsegenInputError("config", f"{owner}: unknown head '{head}' (one of {', '.join(allowed)})")
    if energy_conserving and head != "linear":
        raise SparsegenInputError("config", f"{owner}: energy_conserving needs head 'linear' "
                                            f"(the head emits log pixel shares), got head '{head}'")
    if not 0.0 <= floor_quantile < 1.0:
        raise SparsegenInputError("config", f"{owner}: floor_quantile must be in [0, 1), "
                                            f"got {floor_quantile}")
    if floor_mode not in ("lift", "cut"):
        raise SparsegenInputError("config", f"{owner}: floor_mode must be 'lift' or 'cut', "
                                            f"got '{floor_mode}'")
    if floor_quantile > 0 and not energy_conserving:
        raise SparsegenInputError("config", f"{owner}: floor_quantile needs energy_conserving (it acts on "
                                            "the conserved intensities)")
    if total not in ("learned", "quantiles"):
        raise SparsegenInputError("config", f"{owner}: total must be 'learned' or 'quantiles', got '{total}'")
    if not energy_conserving:
        return HEAD_CLASSES[head]()
    floor = PixelFloor(floor_quantile, floor_mode) if floor_quantile > 0 else None  # type: ignore[arg-type]
    return EnergyConservingHead(total, floor)  # type: ignore[arg-type]


def check_output(owner: str, output: ImageHead, allowed: Sequence[str], has_mask: bool) -> None:
    """The generator's rules on its output stage: a head it takes, and a lifting floor only with a mask (it
    would light every pixel)."""
    if not isinstance(output, ImageHead):
        raise SparsegenInputError("config", f"{owner}: output must be an image head (ReLUHead, LinearHead, "
                                            "SoftplusHead, EnergyConservingHead), "
                                            f"got {type(output).__name__}")
    if output.name not in allowed:
        raise SparsegenInputError("config", f"{owner}: takes no {type(output).__name__} (heads: "
                                            f"{', '.join(allowed)}, or EnergyConservingHead)")
    if output.floor is not None and output.floor.mode == "lift" and not has_mask:
        raise SparsegenInputError("config", f"{owner}: floor mode 'lift' needs an occupancy mask (it would "
                                            "light every pixel); use 'cut'")
