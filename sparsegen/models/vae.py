"""`VAE`: variational autoencoder with injected encoder / decoder and sparse-aware reconstruction losses.

loss = recon(decoder(z), x) + β(t)·KL(q(z|x) ‖ N(0, 1)) [+ l1 feature penalty], z = μ + σ·ε,
β(t) = β · min(1, t / warmup_steps) (KL warm-up). ``recon``: "mse" (plain), "masked_mse" and
"weighted_mse" (the sparse-input remedies) or "hurdle" (BCE on occupancy + log-normal NLL on active
pixels; needs a decoder with ``output="hurdle"``); for point clouds "chamfer" or "hungarian" (permutation-
invariant set losses plus the multiplicity head's cross entropy). See `sparsegen.nn.losses`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sparsegen.models.base import GenerativeModel, check_finite
from sparsegen.nn.losses import L1FeaturePenalty, Recon, Sample, kl_divergence, reconstruction_loss


class VAE(GenerativeModel):
    """VAE LightningModule: encoder → (μ, log σ²) heads → reparameterization → decoder."""

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
    ) -> None:
        super().__init__()
        if recon not in ("mse", "masked_mse", "weighted_mse", "hurdle", "chamfer", "hungarian"):
            raise ValueError(f"unknown recon '{recon}' (mse, masked_mse, weighted_mse, hurdle, chamfer, hungarian)")
        if recon == "hurdle" and getattr(decoder, "output", None) != "hurdle":
            raise ValueError("recon='hurdle' needs a decoder with output='hurdle' (two channels)")
        self.save_hyperparameters(ignore=["encoder", "decoder"])
        self.encoder = encoder
        self.decoder = decoder
        self.to_mu = nn.Linear(encoder.out_dim, latent_dim)
        self.to_logvar = nn.Linear(encoder.out_dim, latent_dim)
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
        if self.hparams.recon == "hurdle":
            kwargs["log_sigma"] = self.decoder.log_sigma
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
        self.log_dict({f"{stage}/{k}": v.detach() for k, v in logs.items()}, batch_size=n, prog_bar=stage == "train")
        check_finite(loss, f"VAE {stage} loss", self.global_step)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    def _decode(self, z: Tensor, cond: Tensor | None = None) -> Sample:
        return self.decoder(z) if cond is None else self.decoder(z, cond)

    def generate(self, num: int, generator: torch.Generator | None = None, cond: Tensor | None = None,
                 counts: Tensor | None = None) -> Sample:
        """Decode z ~ N(0, 1) (for a conditional model with conditions ``cond``); ``counts`` is not used: a
        decoder sets its own multiplicity."""
        z = torch.randn(num, self.hparams.latent_dim, device=self.device, generator=generator)
        raw = self._decode(z, cond)
        to_sample = getattr(self.decoder, "to_sample", None)
        return to_sample(raw, generator) if to_sample is not None else raw
