"""`VAE`: variational autoencoder with injected encoder / decoder and sparse-aware reconstruction losses.

loss = recon(decoder(z), x) + β(t)·KL(q(z|x) ‖ N(0, 1)) [+ l1 feature penalty], z = μ + σ·ε,
β(t) = β · min(1, t / warmup_steps) (KL annealing: a linear warm-up from 0). ``recon``: "mse" (plain),
"masked_mse" and "weighted_mse" (the sparse-input remedies) — with any single-channel decoder output
(relu, softplus, linear) — or "hurdle" (BCE on occupancy + Gaussian NLL of the active pixels' values;
needs a decoder with ``output="hurdle"``); for point clouds "chamfer" or "hungarian" (permutation-
invariant set losses plus the multiplicity head's cross entropy). See `sparsegen.nn.losses`. Images are
in the data's network space (`sparsegen.data.normalization`): with the log transform every loss sees
log-intensities. ``prior="fitted"`` samples from a Gaussian fitted to the posterior means (`VAE.fit_prior`).
``lr_schedule="cosine"`` decays the learning rate to ``lr_min_factor`` of its value over the run's step or
time budget (`sparsegen.models.base`), so a budgeted run ends with small, averaging steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.base import GenerativeModel, LRSchedule, check_finite, check_schedule
from sparsegen.nn.losses import L1FeaturePenalty, Recon, Sample, kl_divergence, reconstruction_loss

PRIOR_SAMPLES = 8192
"""Posterior means (the most recent training batches) a fitted prior is estimated from."""


class VAE(GenerativeModel):
    """VAE LightningModule: encoder → (μ, log σ²) heads → reparameterization → decoder."""

    family = "vae"  # what the studies group models by
    networks = ("encoder", "decoder")  # the injected networks (init args), whose `sparsity` the studies read

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int = 32,
        recon: Recon = "mse",
        beta: float = 1.0,
        warmup_steps: int = 500,
        empty_weight: float = 0.05,
        l1_penalty: float = 0.0,
        l1_modules: Sequence[str] | None = None,
        lr: float = 1e-3,
        prior: str = "normal",
        lr_schedule: LRSchedule = "constant",
        lr_min_factor: float = 0.05,
    ) -> None:
        super().__init__()
        check_schedule(lr_schedule, lr_min_factor)
        if prior not in ("normal", "fitted"):
            raise SparsegenInputError("config", f"prior must be 'normal' or 'fitted', got '{prior}'")
        if recon not in ("mse", "masked_mse", "weighted_mse", "hurdle", "chamfer", "hungarian"):
            raise SparsegenInputError("config", f"unknown recon '{recon}' "
                                                "(mse, masked_mse, weighted_mse, hurdle, chamfer, hungarian)")
        if (recon == "hurdle") != (getattr(decoder, "output", None) == "hurdle"):
            raise SparsegenInputError("config", "recon 'hurdle' and a decoder with output 'hurdle' "
                                                "(two channels) go "
                                                f"together, got recon '{recon}' with output "
                                                f"'{getattr(decoder, 'output', None)}'")
        self.save_hyperparameters(ignore=["encoder", "decoder"])
        self.encoder = encoder
        self.decoder = decoder
        self.to_mu = nn.Linear(encoder.out_dim, latent_dim)
        self.to_logvar = nn.Linear(encoder.out_dim, latent_dim)
        # the sampling prior N(prior_mean, L Lᵀ): N(0, 1), or fitted to the posterior means ("fitted")
        self.register_buffer("prior_mean", torch.zeros(latent_dim))
        self.register_buffer("prior_scale_tril", torch.eye(latent_dim))
        self._posterior_means: list[Tensor] = []
        self.l1 = None
        if l1_penalty > 0:
            names = list(l1_modules or [n for n, m in encoder.named_modules() if n.endswith("taps")])
            mods = dict(encoder.named_modules())
            missing = [n for n in names if n not in mods]
            if missing or not names:
                raise ValueError(f"l1_modules {missing or names} not found in the encoder")
            targets = {n: mods[n] for n in names}
            expanded = {f"{n}.{k}": c for n, m in targets.items() if isinstance(m, nn.ModuleList)
                        for k, c in enumerate(m)}
            self.l1 = L1FeaturePenalty(expanded or targets, weights=l1_penalty)

    def conditional_networks(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def encode(self, x: Sample, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.encoder(x) if cond is None else self.encoder(x, cond)
        return self.to_mu(h), self.to_logvar(h).clamp(-12.0, 8.0)

    def recon_loss(self, out: Tensor, x: Sample) -> Tensor:
        kwargs = {}
        if self.hparams.recon == "weighted_mse":
            kwargs["empty_weight"] = self.hparams.empty_weight
        own = getattr(self.decoder, "reconstruction_loss", None)  # a decoder that factorizes its loss
        if own is not None:
            return own(out, x, self.hparams.recon, **kwargs)
        return reconstruction_loss(self.hparams.recon, out, x, **kwargs)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        x = self.real_from_batch(batch)
        cond = batch.get("cond")
        mu, logvar = self.encode(x, cond)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        out = self._decode(z, cond)
        rec = self.recon_loss(out, x)
        kl = kl_divergence(mu, logvar)
        beta = self.hparams.beta * min(1.0, (self.global_step + 1) / max(1, self.hparams.warmup_steps))
        loss = rec + beta * kl
        logs = {"recon": rec, "kl": kl, "beta": torch.tensor(beta)}
        if self.l1 is not None:
            pen = self.l1.loss()
            if stage == "train":
                loss = loss + pen
            logs["l1"] = pen
        logs["loss"] = loss
        n = mu.shape[0]
        if stage == "train" and self.hparams.prior == "fitted":
            self._posterior_means.append(mu.detach())
            self._posterior_means = self._posterior_means[-(PRIOR_SAMPLES // n + 1):]
        self.log_dict({f"{stage}/{k}": v.detach() for k, v in logs.items()}, batch_size=n,
                      prog_bar=stage == "train")
        check_finite(loss, f"VAE {stage} loss", self.global_step)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> dict:
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self.schedule_factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_validation_epoch_start(self) -> None:
        """``prior="fitted"``: refit the sampling prior to the latest training posterior means (before the
        epoch's sample-based metrics and checkpoints)."""
        if self._posterior_means and not self.trainer.sanity_checking:
            self.fit_prior(torch.cat(self._posterior_means))

    @torch.no_grad()
    def fit_prior(self, means: Tensor) -> None:
        """Fit N(m, C) to posterior means (N, latent): the two-stage / ex-post density idea (Dai & Wipf 2019;
        Ghosh et al. 2020). With a small β the aggregate posterior is far from N(0, 1), and decoding prior
        samples from its empty regions gives implausible images; a full-covariance Gaussian on the means
        puts the samples where the decoder was trained, without memorizing any training jet."""
        mean = means.mean(0)
        cov = torch.cov(means.T.double()) + 1e-6 * torch.eye(means.shape[1], dtype=torch.float64,
                                                              device=means.device)
        self.prior_mean.copy_(mean)
        self.prior_scale_tril.copy_(torch.linalg.cholesky(cov).to(means.dtype))

    def _decode(self, z: Tensor, cond: Tensor | None = None) -> Sample:
        return self.decoder(z) if cond is None else self.decoder(z, cond)

    def generate(self, num: int, generator: torch.Generator | None = None, cond: Tensor | None = None,
                 counts: Tensor | None = None) -> Sample:
        """Decode z from the sampling prior (for a conditional model with conditions ``cond``); ``counts`` is
        not used: a decoder sets its own multiplicity."""
        eps = torch.randn(num, self.hparams.latent_dim, device=self.device, generator=generator)
        z = self.prior_mean + eps @ self.prior_scale_tril.T
        raw = self._decode(z, cond)
        to_sample = getattr(self.decoder, "to_sample", None)
        return to_sample(raw, generator) if to_sample is not None else raw
