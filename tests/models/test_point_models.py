"""Point models: set losses, ODE solver, overfitting tiny batches (FM, VAE, GANs), seeded sampling, specs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sparsegen.core.jets import Jets
from sparsegen.data.conditions import ConditionSpec
from sparsegen.data.info import DataInfo
from sparsegen.models import VAE, WGANGP, FlowMatching
from sparsegen.models.components import (
    EdgeConvSetEncoder,
    EPiCCritic,
    EPiCGenerator,
    EPiCVelocity,
    MPCritic,
    MPGenerator,
    PointNetCritic,
    PointNetSetEncoder,
    PointSetDecoder,
)
from sparsegen.models.flow_matching import odeint_fixed
from sparsegen.models.flow_space import ot_permute_source
from sparsegen.models.spec import instantiate
from sparsegen.nn.losses import chamfer_loss, hungarian_loss, point_set_loss

P = 8


def toy_jets(n: int = 16, p: int = P, seed: int = 0, min_particles: int = 5) -> dict[str, torch.Tensor]:
    """A normalized-space batch: a hard core near the axis plus softer particles, prefix masks."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(min_particles, p + 1, (n,), generator=g)
    mask = torch.arange(p)[None] < counts[:, None]
    eta = 0.3 * torch.randn(n, p, generator=g) + 0.5
    phi = 0.3 * torch.randn(n, p, generator=g) - 0.5
    pt = torch.linspace(2.0, -0.5, p)[None].expand(n, p) + 0.1 * torch.randn(n, p, generator=g)
    x = torch.stack([eta, phi, pt], -1)
    return {
        "particles": torch.where(mask[..., None], x, 0.0),
        "mask": mask,
        "label": torch.zeros(n, dtype=torch.long),
    }


def data_info(batch: dict[str, torch.Tensor]) -> DataInfo:
    counts = np.bincount(batch["mask"].sum(1).numpy(), minlength=P + 1)
    hist = (counts / counts.sum()).tolist()
    flat = {"pt": np.linspace(900.0, 1100.0, 101).tolist(), "eta": [0.0] * 101, "mass": [100.0] * 101}
    spec = ConditionSpec([], ["g"], {}, {}, [1.0], {"g": flat}, {"g": hist})
    return DataInfo(representation="points", num_particles=P, multiplicity=hist,
                    normalizer={"mean": [0.0, 0.0, -1.0], "std": [1.0, 1.0, 1.0], "image_scale": 1.0},
                    conditions=spec.to_dict())


def attach(model, batch):
    model.data_info = data_info(batch)
    model.on_data_info()
    model.log = lambda *a, **k: None
    model.log_dict = lambda *a, **k: None
    return model


# ----------------------------------------------------------------------------------------- set losses
def test_chamfer_and_hungarian_are_permutation_invariant_and_ignore_padding():
    b = toy_jets(4, seed=1)
    x, mask = b["particles"], b["mask"]
    perm = torch.stack([torch.cat([torch.randperm(int(n)), torch.arange(int(n), P)]) for n in mask.sum(1)])
    xp = x.gather(1, perm[..., None].expand_as(x))
    junk = torch.where(mask[..., None], xp, 1e4)
    for loss in (chamfer_loss, hungarian_loss):
        assert float(loss(junk, x, mask)) == pytest.approx(0.0, abs=1e-6)
        assert float(loss(xp + 0.1, x, mask)) > 0.01


def test_hungarian_is_the_best_permutation_and_chamfer_a_lower_bound():
    g = torch.Generator().manual_seed(3)
    pred, target = torch.randn(1, 5, 3, generator=g), torch.randn(1, 5, 3, generator=g)
    mask = torch.ones(1, 5, dtype=torch.bool)
    best = min(
        float(((pred[0, list(p)] - target[0]) ** 2).sum(-1).mean()) for p in itertools.permutations(range(5))
    )
    assert float(hungarian_loss(pred, target, mask)) == pytest.approx(best, rel=1e-5)
    assert float(chamfer_loss(pred, target, mask)) <= best + 1e-6
    d = ((pred[0, :, None] - target[0, None]) ** 2).sum(-1)
    assert float(chamfer_loss(pred, target, mask)) == pytest.approx(
        float((d.min(0).values.mean() + d.min(1).values.mean()) / 2), rel=1e-5
    )


def test_point_set_loss_adds_the_multiplicity_cross_entropy():
    b = toy_jets(4)
    x, mask = b["particles"], b["mask"]
    good = torch.full((4, P + 1), -20.0).scatter(1, mask.sum(1, keepdim=True), 20.0)
    assert float(point_set_loss("chamfer", (x, good), (x, mask))) == pytest.approx(0.0, abs=1e-5)
    assert float(point_set_loss("hungarian", (x, -good), (x, mask))) > 10
    # a non-prefix target mask is compared slot-for-slot after packing the real particles first
    order = torch.randperm(P)
    assert float(point_set_loss("chamfer", (x, None), (x[:, order], mask[:, order]))) == pytest.approx(
        0.0, abs=1e-6
    )


# ------------------------------------------------------------------------------------------ ODE solver
def test_fixed_step_solvers_have_their_order():
    x0 = torch.ones(1, 1, 1)

    def f(x, t):  # x(1) = e
        return x

    err = {
        (m, n): abs(float(odeint_fixed(f, x0, n, m)) - np.e) for m in ("euler", "midpoint") for n in (8, 16)
    }
    assert 1.8 < err["euler", 8] / err["euler", 16] < 2.2
    assert 3.6 < err["midpoint", 8] / err["midpoint", 16] < 4.4

    def g(x, t):  # dx/dt = 2t is integrated exactly by the midpoint rule, Euler is off by h
        return 2 * t[:, None, None].expand_as(x)

    assert float(odeint_fixed(g, torch.zeros(1, 1, 1), 4, "midpoint")) == pytest.approx(1.0)
    assert float(odeint_fixed(g, torch.zeros(1, 1, 1), 4, "euler")) == pytest.approx(0.75)


def test_ot_coupling_permutes_each_jets_source_to_the_cheapest_matching():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(3, 5, 2, generator=g), torch.randn(3, 5, 2, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    out = ot_permute_source(x0, x1, mask)
    assert torch.equal(out[~mask], x0[~mask])
    for b in range(3):
        n = int(mask[b].sum())
        assert torch.equal(out[b, :n].sort(0).values, x0[b, :n].sort(0).values)  # a permutation of the source
        best = min(float(((x0[b, list(p)] - x1[b, :n]) ** 2).sum()) for p in itertools.permutations(range(n)))
        assert float(((out[b, :n] - x1[b, :n]) ** 2).sum()) == pytest.approx(best, rel=1e-5)


# ------------------------------------------------------------------------------------------- training
def fm_model(**kw) -> FlowMatching:
    return FlowMatching(
        EPiCVelocity(hidden=32, global_dim=8, num_layers=2),
        num_steps=8,
        lr=3e-3,
        warmup_steps=1,
        ema_decay=0.9,
        **kw,
    )


@pytest.mark.parametrize("coupling", ["independent", "ot"])
def test_flow_matching_overfits_a_tiny_batch_and_samples_like_it(coupling):
    torch.manual_seed(0)
    batch = toy_jets(16)
    model = attach(fm_model(coupling=coupling), batch)
    opt = model.configure_optimizers()["optimizer"]
    gen = torch.Generator().manual_seed(0)

    def eval_loss() -> float:
        with torch.no_grad():
            return float(
                model.flow_matching_loss(batch["particles"], batch["mask"], generator=gen.manual_seed(0))
            )

    def sample_error() -> float:
        x, mask = model.generate(400, torch.Generator().manual_seed(1))
        real = batch["particles"][batch["mask"]]
        return float(
            (x[mask].mean(0) - real.mean(0)).abs().sum() + (x[mask].std(0) - real.std(0)).abs().sum()
        )

    first, first_err = eval_loss(), sample_error()
    for _ in range(250):
        loss = model.training_step(batch, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.on_train_batch_end(None, None, 0)
    assert eval_loss() < 0.5 * first
    assert sample_error() < 0.3 * first_err, (first_err, sample_error())


def test_flow_matching_sample_is_seeded_follows_the_histogram_and_rebuilds_from_its_spec():
    torch.manual_seed(0)
    batch = toy_jets(16)
    model = attach(fm_model(), batch)
    torch.nn.init.normal_(model.velocity_ema.out.weight, std=0.1)
    jets = model.sample(50, batch_size=16, seed=3)
    assert isinstance(jets, Jets) and len(jets) == 50 and jets.particles.shape == (50, P, 3)
    assert np.array_equal(jets.particles, model.sample(50, batch_size=16, seed=3).particles)
    assert set(np.unique(jets.num_particles)) <= set(batch["mask"].sum(1).tolist())
    assert np.all(jets.particles[~jets.mask] == 0) and np.all(jets.particles[..., 2] >= 0)
    model.hparams.chunk_size = 7  # integrating in chunks changes nothing but the memory footprint
    chunked = model.sample(50, batch_size=16, seed=3)
    np.testing.assert_allclose(chunked.particles, jets.particles, atol=1e-5)
    model.hparams.chunk_size = 1024
    euler = model.generate(5, torch.Generator().manual_seed(0), num_steps=2, solver="euler")[0]
    assert not torch.allclose(euler, model.generate(5, torch.Generator().manual_seed(0))[0])
    clone = instantiate(model.model_spec())
    clone.load_state_dict(model.state_dict())
    clone.data_info = model.data_info
    assert np.array_equal(clone.sample(20, seed=1).particles, model.sample(20, seed=1).particles)


@pytest.mark.parametrize("encoder, recon", [("pointnet", "chamfer"), ("edgeconv", "hungarian")])
def test_point_vae_overfits_a_tiny_batch(encoder, recon):
    torch.manual_seed(0)
    batch = toy_jets(8)
    enc = (PointNetSetEncoder(out_dim=32, hidden=(32, 32), head=(32,)) if encoder == "pointnet"
           else EdgeConvSetEncoder(out_dim=32, hidden=(16, 16), k=4, head=(32,)))
    model = attach(
        VAE(
            enc,
            PointSetDecoder(latent_dim=8, num_particles=P, hidden=(64,)),
            latent_dim=8,
            recon=recon,
            beta=1e-4,
            warmup_steps=50,
            lr=3e-3,
            l1_penalty=1e-4 if encoder == "edgeconv" else 0.0,
        ),
        batch,
    )
    opt = model.configure_optimizers()["optimizer"]

    def error() -> float:
        with torch.no_grad():
            return float(model.recon_loss(model.decoder(model.encode((batch["particles"], batch["mask"]))[0]),
                                          (batch["particles"], batch["mask"])))

    first = error()
    for _ in range(150):
        loss = model._step(batch, "train")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert error() < 0.3 * first, (first, error())
    jets = model.sample(6, seed=0)
    assert np.all(jets.particles[~jets.mask] == 0) and np.all(jets.particles[jets.mask][:, 2] > 0)


GANS = {
    "epic": lambda: (EPiCGenerator(num_particles=P, latent_dim=4, global_noise_dim=4, hidden=16, global_dim=8,
                                   num_layers=2), EPiCCritic(hidden=16, global_dim=8, num_layers=2), "wgan"),
    "mp_pointnet": lambda: (MPGenerator(num_particles=P, latent_dim=4, hidden=8, fe=(16,), fn=(16,)),
                            PointNetCritic(hidden=(32, 32), head=(32,)), "wgan"),
    "mpgan_lsgan": lambda: (MPGenerator(num_particles=P, latent_dim=4, hidden=8, fe=(16,), fn=(16,)),
                            MPCritic(hidden=8, fe=(16,), fn=(16,)), "lsgan"),
}


def point_gan_ratio(name: str, seed: int, steps: int = 300) -> float:
    """Distance between the generated and real per-particle feature means and spreads after ``steps``
    critic steps of the GAN ``name`` on a tiny batch, as a fraction of the distance before training."""
    torch.manual_seed(seed)
    batch = toy_jets(32)
    gen, critic, loss = GANS[name]()
    model = attach(
        WGANGP(
            gen,
            critic,
            n_critic=2,
            lr_generator=3e-3,
            lr_critic=3e-3,
            ema_decay=0.999,  # sampled from the average of the last steps, as after a fit
            loss=loss,
            gp_lambda=10.0 if loss == "wgan" else 0.0,
        ),
        batch,
    )
    opt_g, opt_c = model.configure_optimizers()
    real = (batch["particles"], batch["mask"])
    target = torch.stack(
        [batch["particles"][batch["mask"]].mean(0), batch["particles"][batch["mask"]].std(0)]
    )

    def distance() -> float:
        with torch.no_grad():
            x, mask = model.generate(256, torch.Generator().manual_seed(0))
        return float((torch.stack([x[mask].mean(0), x[mask].std(0)]) - target).abs().sum())

    before = distance()
    for step in range(steps):
        fake = model._fake(32)
        fake = (fake[0].detach(), fake[1])
        loss_c, _ = model.critic_loss(real, fake)
        opt_c.zero_grad()
        loss_c.backward()
        opt_c.step()
        if step % 2:
            loss_g = model.generator_loss(model._fake(32))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            model.update_ema(model.generator_ema, model.generator, model.hparams.ema_decay)
    assert np.all(model.sample(8, seed=0).particles[..., 2] >= 0)
    return distance() / before


@pytest.mark.parametrize("name", GANS)
def test_point_gans_move_towards_a_tiny_batch(name):
    """Each point GAN halves the distance of its samples' particle-feature means and spreads to the batch's.

    A tiny GAN's outcome is chaotic (the last bit of a BLAS reduction decides a single run), and now and
    then a run blows up instead of learning (the least-squares GAN has no gradient penalty), so one of up to
    three seeds must halve the distance (later seeds run only when the earlier ones did not).
    """
    ratios = []
    for seed in (0, 1, 2):
        ratios.append(point_gan_ratio(name, seed))
        if ratios[-1] < 0.5:
            break
    assert ratios[-1] < 0.5, ratios


def test_wgan_with_point_generator_rebuilds_and_samples_from_its_spec():
    batch = toy_jets(8)
    model = attach(WGANGP(*GANS["epic"]()[:2]), batch)
    assert float(model.generator_ema.prior.probs.sum()) == pytest.approx(1.0)
    assert torch.equal(model.generator_ema.prior.probs, model.generator.prior.probs)
    clone = instantiate(model.model_spec())
    clone.load_state_dict(model.state_dict())  # the data prior is not in the state dict: data_info carries it
    clone.data_info = model.data_info
    clone.on_data_info()
    a, b = clone.sample(10, seed=2), model.sample(10, seed=2)
    assert np.array_equal(a.particles, b.particles) and np.array_equal(a.mask, b.mask)
