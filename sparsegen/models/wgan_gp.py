"""`WGANGP`: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017), representation-agnostic.

The generator and critic are injected modules (see ``models/components``); they decide whether the GAN
works on images or on point clouds. Manual optimization: every training batch is one critic step; every
``n_critic``-th critic step is followed by ``n_generator`` generator steps (LAGAN used two generator
updates per discriminator update); the first ``critic_warmup`` critic steps train the critic alone, so a
generator that starts at the data (per-pixel biases and noise from the training maps) is not first pushed
around by an untrained critic. Generator steps are counted in the ``gen_steps`` buffer
(``trainer.global_step`` counts critic steps too).

``lr_schedule="cosine"`` decays both learning rates to ``lr_min_factor`` of their values over the run (its
step or time budget; `sparsegen.models.base`), so a budgeted run ends with small, averaging steps.

Objectives (``loss``): ``"wgan"`` (Wasserstein, the default), ``"ns"`` (non-saturating: the critic is a
logistic classifier, the generator maximizes log D(fake)) and ``"lsgan"`` (least squares, as MPGAN used).
The gradient penalty λ·E[(‖∇D(x̂)‖ − 1)²] applies to all three when ``gp_lambda`` > 0; ``drift`` adds
ε·E[D(real)²] (ProGAN), which keeps a Wasserstein critic's outputs from drifting.

``spectrum_matching`` = μ > 0 (images only) adds μ·W1(active-pixel values of the fake batch, of the real
batch) to the generator loss (`sparsegen.nn.losses.spectrum_distance`, above the generator's pixel
threshold): a feature-matching term on the intensity spectrum of the few active pixels, which a critic
that mostly sees where pixels are learns last (without it, short runs put a decade too much weight in the
soft tail).

``occupancy_matching`` = ν > 0 (images only) adds ν·W1(active pixels per image of the fake batch, of the
real batch) / (real mean) (`sparsegen.nn.losses.occupancy_distance`): the same kind of term for the
occupancy. A sparse critic sees only the active sites (and a coarse density), so it can push a masked
generator's occupancy but not pin it; this term has a slope at every empty pixel through the straight-through
mask.

``mass_matching`` = κ > 0 (images only) adds κ·W1(relative jet mass of the fake batch, of the real batch) /
(real mean) (`sparsegen.nn.losses.mass_distance`, pixels as massless particles at their centres): the jet
mass of a two-prong jet is set by where its second prong sits, which a critic learns from the geometry
last (W jets: docs/results.md § 1a, other classes).
"""

from __future__ import annotations

import inspect
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.base import GenerativeModel, LRSchedule, check_finite, check_schedule
from sparsegen.nn.losses import (
    Sample,
    gradient_penalty,
    mass_distance,
    occupancy_distance,
    spectrum_distance,
)


class WGANGP(GenerativeModel):
    """WGAN-GP LightningModule (manual optimization, optional EMA generator for sampling)."""

    family = "gan"  # what the studies group models by
    networks = ("generator", "critic")  # the injected networks (init args), whose `sparsity` the studies read

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        n_critic: int = 5,
        gp_lambda: float = 10.0,
        lr_generator: float = 1e-4,
        lr_critic: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.9),
        ema_decay: float | None = 0.999,
        loss: Literal["wgan", "ns", "lsgan"] = "wgan",
        n_generator: int = 1,
        drift: float = 0.0,
        critic_warmup: int = 0,
        spectrum_matching: float = 0.0,
        occupancy_matching: float = 0.0,
        mass_matching: float = 0.0,
        lr_schedule: LRSchedule = "constant",
        lr_min_factor: float = 0.05,
    ) -> None:
        super().__init__()
        if n_critic < 1 or n_generator < 1:
            raise SparsegenInputError(
                "config", f"n_critic and n_generator must be >= 1, got {n_critic}, {n_generator}"
            )
        if loss not in ("wgan", "ns", "lsgan"):
            raise SparsegenInputError("config", f"loss must be 'wgan', 'ns' or 'lsgan', got {loss!r}")
        for key, value in (("spectrum_matching", spectrum_matching),
                           ("occupancy_matching", occupancy_matching), ("mass_matching", mass_matching)):
            if not value >= 0:
                raise SparsegenInputError("config", f"{key} must be >= 0, got {value}")
        check_schedule(lr_schedule, lr_min_factor)
        self.save_hyperparameters(ignore=["generator", "critic"])
        self.automatic_optimization = False
        self.generator = generator
        self.critic = critic
        self.generator_ema = self.ema_copy(generator, ema_decay)
        self.register_buffer("gen_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("critic_steps", torch.zeros((), dtype=torch.long))

    def conditional_networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "critic": self.critic}

    # ------------------------------------------------------------------ training
    def configure_optimizers(self):
        hp = self.hparams
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr_generator, betas=tuple(hp.betas))
        opt_c = torch.optim.Adam(self.critic.parameters(), lr=hp.lr_critic, betas=tuple(hp.betas))
        return [opt_g, opt_c]

    def _fake(self, n: int, net: nn.Module | None = None, cond: Tensor | None = None,
              counts: Tensor | None = None, generator: torch.Generator | None = None) -> Sample:
        """Generated samples; conditional: for conditions ``cond`` (and point masks of multiplicity
        ``counts``)."""
        net = net or self.generator
        if counts is None:
            noise = net.sample_noise(n, self.device, generator)
        else:
            noise = net.sample_noise(n, self.device, generator, counts=counts)
        return net(noise, generator=generator) if cond is None else net(noise, generator=generator, cond=cond)

    def _score(self, sample: Sample, cond: Tensor | None = None) -> Tensor:
        return self.critic(sample) if cond is None else self.critic(sample, cond)

    def critic_loss(self, real: Sample, fake: Sample,
                    cond: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        d_real, d_fake = self._score(real, cond), self._score(fake, cond)
        logs: dict[str, Tensor] = {"wasserstein": (d_real.mean() - d_fake.mean()).detach()}
        kind = self.hparams.loss
        if kind == "wgan":
            loss = d_fake.mean() - d_real.mean()
        elif kind == "ns":
            loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        else:
            loss = 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake**2).mean()
        if self.hparams.gp_lambda > 0:
            gp = gradient_penalty(lambda s: self._score(s, cond), real, fake)
            loss = loss + self.hparams.gp_lambda * gp
            logs["gp"] = gp.detach()
        if self.hparams.drift > 0:
            loss = loss + self.hparams.drift * (d_real**2).mean()
        logs["critic_loss"] = loss.detach()
        return loss, logs

    def generator_loss(self, fake: Sample, cond: Tensor | None = None, real: Sample | None = None,
                       logs: dict[str, Tensor] | None = None) -> Tensor:
        """The objective's generator term, plus the spectrum-, occupancy- and mass-matching terms that are on
        (they need ``real``)."""
        d_fake = self._score(fake, cond)
        kind = self.hparams.loss
        if kind == "wgan":
            loss = -d_fake.mean()
        elif kind == "ns":
            loss = F.softplus(-d_fake).mean()
        else:
            loss = 0.5 * ((d_fake - 1) ** 2).mean()
        if isinstance(fake, Tensor) and isinstance(real, Tensor):
            thr = self._v_threshold()
            for key, distance, name in (
                ("spectrum_matching", lambda r, f: spectrum_distance(r, f, thr), "spectrum"),
                ("occupancy_matching", lambda r, f: occupancy_distance(r, f, thr), "occupancy"),
                ("mass_matching", self._mass_distance, "mass"),
            ):
                weight = float(self.hparams.get(key, 0.0))
                if weight > 0:
                    term = distance(real, fake)
                    loss = loss + weight * term
                    if logs is not None:
                        logs[name] = term.detach()
        return loss

    def _mass_distance(self, real: Tensor, fake: Tensor) -> Tensor:
        """`mass_distance` of two network-space image batches (intensities through the generator's space;
        fake pixels at or below the threshold are empty, as in a sample)."""
        space, thr = self.generator.space, self._v_threshold()

        def to_ptrel(v: Tensor) -> Tensor:
            return space.to_ptrel(F.relu(v)) * (v > thr)

        return mass_distance(to_ptrel(real), to_ptrel(fake), float(self.data_info.extent))

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        opt_g, opt_c = self.optimizers()
        self._schedule_learning_rates(opt_g, opt_c)
        real = self.real_from_batch(batch)
        n = (real if isinstance(real, Tensor) else real[0]).shape[0]
        cond, counts = self._conditions_of(batch, real)
        with torch.no_grad():
            fake = self._fake(n, cond=cond, counts=counts)
        loss_c, logs = self.critic_loss(real, fake, cond)
        check_finite(loss_c, "critic loss", int(self.critic_steps))
        opt_c.zero_grad(set_to_none=True)
        self.manual_backward(loss_c)
        opt_c.step()
        self.critic_steps += 1
        if (int(self.critic_steps) % self.hparams.n_critic
                or int(self.critic_steps) <= self.hparams.critic_warmup):
            return
        for _ in range(self.hparams.n_generator):
            loss_g = self.generator_loss(self._fake(n, cond=cond, counts=counts), cond, real, logs)
            check_finite(loss_g, "generator loss", int(self.gen_steps))
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
            self.gen_steps += 1
            self.update_ema(self.generator_ema, self.generator, self.hparams.ema_decay)
        logs["gen_loss"] = loss_g.detach()
        self.log_dict({f"train/{k}": v for k, v in logs.items()}, prog_bar=False, batch_size=n)
        self.log("train/gen_steps", self.gen_steps.float(), batch_size=n)

    def _schedule_learning_rates(self, *opts) -> None:
        """Both learning rates times the run's schedule factor (`GenerativeModel.schedule_factor`)."""
        f = self.schedule_factor(int(self.trainer.global_step))
        for opt, lr in zip(opts, (self.hparams.lr_generator, self.hparams.lr_critic)):
            for group in opt.param_groups:
                group["lr"] = lr * f

    def _v_threshold(self) -> float:
        """Network value of the pixel threshold (0 without an image space)."""
        space = getattr(self.generator, "space", None)
        return float(getattr(space, "v_threshold", 0.0) or 0.0)

    @staticmethod
    def _conditions_of(batch: dict[str, Tensor], real: Sample) -> tuple[Tensor | None, Tensor | None]:
        """A conditional batch's conditions and, for point clouds, its multiplicities (fakes share both)."""
        cond = batch.get("cond")
        if cond is None or isinstance(real, Tensor):
            return cond, None
        return cond, real[1].sum(1)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        real = self.real_from_batch(batch)
        n = (real if isinstance(real, Tensor) else real[0]).shape[0]
        cond, counts = self._conditions_of(batch, real)
        with torch.no_grad():
            w = (self._score(real, cond).mean()
                 - self._score(self._fake(n, cond=cond, counts=counts), cond).mean())
        self.log("val/wasserstein", w, batch_size=n)

    # ------------------------------------------------------------------ sampling
    def generate(self, num: int, generator: torch.Generator | None = None, cond: Tensor | None = None,
                 counts: Tensor | None = None) -> Sample:
        """``num`` samples of the (EMA) generator; point generators take the multiplicities ``counts``."""
        net = self.generator_ema if self.generator_ema is not None else self.generator
        net.eval()
        takes_counts = "counts" in inspect.signature(net.sample_noise).parameters
        out = self._fake(num, net, cond, counts if takes_counts else None, generator)
        net.train(self.training)
        return out

