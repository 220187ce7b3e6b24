"""Image GAN / VAE behaviour: gradient penalty, exact zeros, overfitting a tiny batch, sampling to Jets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsegen.core.jets import Jets
from sparsegen.data.info import DataInfo
from sparsegen.models import VAE, WGANGP
from sparsegen.models.components import (
    DCGANGenerator,
    DenseCritic,
    DenseDecoder,
    DenseEncoder,
    ISTAEncoder,
    SparseAwareGenerator,
    SparseCritic,
    SparseEncoder,
)
from sparsegen.nn.losses import gradient_penalty, hurdle_loss, masked_mse, weighted_mse


def sparse_images(n: int = 16, npix: int = 32, occupancy: float = 0.05, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    active = torch.rand(n, 1, npix, npix, generator=g) < occupancy
    return torch.where(active, torch.rand(n, 1, npix, npix, generator=g) * 0.5 + 0.05, torch.zeros(()))


# ----------------------------------------------------------------------------- gradient penalty
class Linear(torch.nn.Module):
    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = w

    def forward(self, x):
        if isinstance(x, tuple):  # a point critic reads only the particles in the mask
            x = x[0] * x[1][..., None]
        return (x * self.w).flatten(1).sum(1)


def test_gradient_penalty_of_linear_critic_is_analytic():
    torch.manual_seed(0)
    w = torch.randn(1, 8, 8)
    real, fake = torch.randn(5, 1, 8, 8), torch.randn(5, 1, 8, 8)
    gp = gradient_penalty(Linear(w), real, fake)
    expected = (w.norm() - 1.0) ** 2
    assert torch.allclose(gp, expected, rtol=1e-5)
    # points: the gradient is w on every slot of the union mask, 0 on slots empty in both
    x_r, x_f = torch.randn(4, 6, 3), torch.randn(4, 6, 3)
    m_r = torch.arange(6)[None] < torch.tensor([[2], [3], [6], [1]])
    m_f = torch.arange(6)[None] < torch.tensor([[4], [1], [5], [1]])
    wp = torch.randn(6, 3)
    gp_pts = gradient_penalty(Linear(wp), (x_r * m_r[..., None], m_r), (x_f * m_f[..., None], m_f),
                              eps=torch.full((4,), 0.3))
    union = (m_r | m_f)
    norms = torch.stack([(wp * union[i, :, None]).norm() for i in range(4)])
    assert torch.allclose(gp_pts, ((norms - 1) ** 2).mean(), rtol=1e-5)


def test_gradient_penalty_gradient_flows_into_critic_params():
    critic = DenseCritic(npix=16, channels=(8, 16))
    gp = gradient_penalty(critic, sparse_images(4, 16), sparse_images(4, 16, seed=1))
    gp.backward()
    weights = [p for name, p in critic.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


def test_sparse_critic_penalty_lives_on_the_union_of_active_sites():
    torch.manual_seed(0)
    critic = SparseCritic(npix=32, channels=(8, 16), density_cells=0)
    real, fake = sparse_images(3, 32, seed=1), sparse_images(3, 32, seed=2)
    eps = torch.full((3,), 0.4)
    x_hat = (eps.view(-1, 1, 1, 1) * real + (1 - eps.view(-1, 1, 1, 1)) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    union = (real != 0) | (fake != 0)
    assert torch.all(grad[~union] == 0)
    assert (grad[union] != 0).float().mean() > 0.9
    gp = gradient_penalty(critic, real, fake, eps=eps)
    gp.backward()
    assert sum(float(p.grad.abs().sum()) for p in critic.parameters() if p.grad is not None) > 0
    # the coarse density path (on by default) is what lets gradient reach empty pixels
    dense_path = SparseCritic(npix=32, channels=(8, 16), density_cells=8)
    (grad,) = torch.autograd.grad(dense_path(x_hat).sum(), x_hat)
    assert (grad[~union] != 0).float().mean() > 0.9


# ------------------------------------------------------------------------------- exact zeros
@pytest.mark.parametrize("gen_cls", [DCGANGenerator, SparseAwareGenerator])
def test_generators_output_exact_zeros(gen_cls):
    torch.manual_seed(0)
    gen = gen_cls(latent_dim=16, npix=32, channels=(32, 16, 8, 8))
    x = gen(gen.sample_noise(8))
    assert x.shape == (8, 1, 32, 32)
    assert (x == 0).float().mean() > 0.3 and (x >= 0).all()


def test_sparse_aware_generator_gradients_reach_both_heads():
    torch.manual_seed(0)
    gen = SparseAwareGenerator(latent_dim=16, npix=32, channels=(32, 16, 8, 8))
    gen(gen.sample_noise(8)).sum().backward()
    assert gen.occupancy.weight.grad.abs().sum() > 0 and gen.intensity.weight.grad.abs().sum() > 0


def test_sparse_losses_ignore_agreeing_empty_pixels():
    target = sparse_images(4)
    assert masked_mse(target, target) == 0
    noisy = target + 0.01 * (target == 0)  # small noise on every empty pixel
    assert masked_mse(noisy, target) > 0
    assert weighted_mse(noisy, target, empty_weight=0.0) == 0
    logits = torch.where(target > 0, 10.0, -10.0)
    good = torch.cat([logits, torch.log(target.clamp(min=1e-6))], 1)
    bad = torch.cat([-logits, torch.log(target.clamp(min=1e-6))], 1)
    assert hurdle_loss(good, target) < hurdle_loss(bad, target)


# ---------------------------------------------------------------------------- overfit a batch
def _train(model, batch: dict, steps: int) -> None:
    opts = model.configure_optimizers()
    opts = opts if isinstance(opts, (list, tuple)) else [opts]
    model.train()
    model.log_dict = lambda *a, **k: None  # no trainer attached
    model.log = lambda *a, **k: None
    for _ in range(steps):
        if isinstance(model, WGANGP):
            opt_g, opt_c = opts
            real = batch["images"]
            fake = model._fake(len(real)).detach()
            loss_c, _ = model.critic_loss(real, fake)
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
            model.critic_steps += 1
            if int(model.critic_steps) % model.hparams.n_critic == 0:
                loss_g = model.generator_loss(model._fake(len(real)))
                opt_g.zero_grad()
                loss_g.backward()
                opt_g.step()
                model.update_ema(model.generator_ema, model.generator, model.hparams.ema_decay)
        else:
            loss = model._step(batch, "train")
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()


@pytest.mark.parametrize("gen_cls, critic_cls", [(DCGANGenerator, DenseCritic), (SparseAwareGenerator, DenseCritic)],
                         ids=["dense", "sparse_aware_generator"])
def test_wgan_gp_overfits_a_tiny_batch(gen_cls, critic_cls):
    torch.manual_seed(0)
    real = sparse_images(16, 16, occupancy=0.1)
    real[:, :, 6:10, 6:10] = 0.8  # a bright core, like a jet image
    gen = gen_cls(latent_dim=8, npix=16, channels=(32, 16, 8))
    critic = critic_cls(npix=16, channels=(16, 32))
    model = WGANGP(gen, critic, n_critic=2, lr_generator=2e-3, lr_critic=2e-3, ema_decay=None)

    def distance() -> float:
        with torch.no_grad():
            fake = model.generate(64)
        return float((fake.mean(0) - real.mean(0)).abs().mean())

    before = distance()
    _train(model, {"images": real}, 200)
    after = distance()
    assert after < 0.5 * before, (before, after)
    assert int(model.critic_steps) == 200


def test_sparse_critic_learns_to_separate_real_from_fake():
    """Critic-only training against a fixed generator: the critic loss falls clearly (the WGAN estimate grows)."""
    torch.manual_seed(0)
    real = sparse_images(16, 16, occupancy=0.1)
    real[:, :, 6:10, 6:10] = 0.8
    gen = SparseAwareGenerator(latent_dim=8, npix=16, channels=(32, 16, 8))
    model = WGANGP(gen, SparseCritic(npix=16, channels=(8, 16), density_cells=4), n_critic=10**6, lr_critic=1e-3,
                   ema_decay=None)
    opt = model.configure_optimizers()[1]
    losses = []
    for _ in range(150):
        with torch.no_grad():
            fake = model._fake(16)
        loss, logs = model.critic_loss(real, fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-20:]) < np.mean(losses[:5]) - 1.0, (losses[:5], losses[-20:])
    assert float(logs["wasserstein"]) > 1.0


@pytest.mark.parametrize(
    "encoder, output, recon",
    [
        ("dense", "relu", "mse"),
        ("sparse", "relu", "masked_mse"),
        ("dense", "hurdle", "hurdle"),
        ("ista", "relu", "weighted_mse"),
    ],
)
def test_vae_overfits_a_tiny_batch(encoder, output, recon):
    torch.manual_seed(0)
    real = sparse_images(8, 16, occupancy=0.08)
    real[:, :, 7:9, 7:9] = torch.linspace(0.3, 0.9, 8).view(8, 1, 1, 1)  # a jet-like core of varying pT
    enc = {"dense": lambda: DenseEncoder(npix=16, channels=(8, 16), out_dim=32),
           "sparse": lambda: SparseEncoder(npix=16, channels=(8, 16), out_dim=32),
           "ista": lambda: ISTAEncoder(npix=16, channels=(1, 8, 16), n_iter=2, out_dim=32)}[encoder]()
    dec = DenseDecoder(latent_dim=8, npix=16, channels=(32, 16, 8), output=output)
    model = VAE(enc, dec, latent_dim=8, recon=recon, beta=1e-4, warmup_steps=1, lr=3e-3,
                l1_penalty=1e-3 if encoder == "ista" else 0.0)
    model.log_dict = lambda *a, **k: None

    def error() -> float:
        """Reconstruction error of the posterior means, measured by the model's own loss — except for the
        masked loss, whose set of counted pixels shrinks as false positives are removed: there, the MSE on
        the pixels active in the target (what the remedy is for)."""
        model.eval()
        with torch.no_grad():
            out = model.decoder(model.encode(real)[0])
            err = ((out - real) ** 2)[real > 0].mean() if recon == "masked_mse" else model.recon_loss(out, real)
        model.train()
        return float(err)

    first = error()
    _train(model, {"images": real}, 300)
    last = error()
    assert last < 0.7 * first, (first, last)
    sample = model.generate(4)
    assert sample.shape == (4, 1, 16, 16) and (sample >= 0).all()
    if output == "hurdle":  # Bernoulli occupancy: most pixels exactly empty
        assert (sample == 0).float().mean() > 0.5


def test_sample_returns_jets_with_images_and_exact_zeros():
    torch.manual_seed(0)
    model = WGANGP(SparseAwareGenerator(latent_dim=8, npix=32, channels=(16, 8, 8, 8)), SparseCritic(npix=32, channels=(8,)))
    jets = model.sample(10, batch_size=4, seed=3)
    again = model.sample(10, batch_size=4, seed=3)
    assert isinstance(jets, Jets) and len(jets) == 10 and jets.images.shape == (10, 32, 32)
    assert np.array_equal(jets.images, again.images), "seeded sampling is reproducible"
    assert np.all(jets.num_particles == (jets.images > 0).sum((1, 2)))
    assert (jets.images == 0).mean() > 0.5


def test_sparse_aware_generator_starts_from_the_data_occupancy_and_stays_physical():
    torch.manual_seed(0)
    gen = SparseAwareGenerator(latent_dim=8, npix=32, channels=(16, 8, 8, 8))
    gen.init_from_data(DataInfo(occupancy=0.012, normalizer={"mean": [0.0] * 3, "std": [1.0] * 3, "image_scale": 0.25}))
    assert torch.allclose(gen.occupancy.bias, torch.full_like(gen.occupancy.bias, float(np.log(0.012 / 0.988))))
    x = gen(gen.sample_noise(64))
    assert float(x.max()) <= 4.0 + 1e-6, "a pixel never exceeds ptrel = 1 (4.0 in units of image_scale 0.25)"
    assert 0.0 < float((x > 0).float().mean()) < 0.1
