"""Flow matching recipe options: the log-ptrel flow space, time sampling, the learning-rate schedule, the OT
fast path."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.kinematics import relative_kinematics
from sparsegen.data.conditions import ConditionSpec
from sparsegen.data.info import DataInfo
from sparsegen.models import FlowMatching
from sparsegen.models.components import EPiCVelocity
from sparsegen.models.components.point_flow import nearest_offsets
from sparsegen.models.flow_matching import sample_time
from sparsegen.models.flow_space import FlowSpace, ot_permute_source
from sparsegen.models.migration import migrate
from sparsegen.models.spec import instantiate
from sparsegen.nn.matching import hungarian_matching

P = 8
PT_MEAN, PT_STD = 0.05, 0.08


def physical_batch(n: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """Normalized jets whose raw ptrel = x * PT_STD + PT_MEAN is positive and spans decades (like real
    ones)."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(3, P + 1, (n,), generator=g)
    mask = torch.arange(P)[None] < counts[:, None]
    ptrel = torch.exp(-3.0 + 1.2 * torch.randn(n, P, generator=g)).clamp(max=0.9)
    ptrel = ptrel.sort(1, descending=True).values
    x = torch.stack([0.4 * torch.randn(n, P, generator=g) + 0.5, 0.3 * torch.randn(n, P, generator=g) - 0.5,
                     (ptrel - PT_MEAN) / PT_STD], -1)
    return {"particles": torch.where(mask[..., None], x, 0.0), "mask": mask}


def model_for(batch: dict[str, torch.Tensor], **kw) -> FlowMatching:
    kw = {"num_steps": 6, "lr": 3e-3, "warmup_steps": 1, "ema_decay": 0.9} | kw
    model = FlowMatching(EPiCVelocity(hidden=32, global_dim=8, num_layers=2, cond_dim=0), **kw)
    counts = np.bincount(batch["mask"].sum(1).numpy(), minlength=P + 1)
    hist = (counts / counts.sum()).tolist()
    flat = {"pt": np.linspace(900.0, 1100.0, 101).tolist(), "eta": [0.0] * 101, "mass": [100.0] * 101}
    model.data_info = DataInfo(
        representation="points", num_particles=P, multiplicity=hist,
        normalizer={"mean": [0.0, 0.0, PT_MEAN], "std": [1.0, 1.0, PT_STD], "image_scale": 1.0},
        conditions=ConditionSpec([], ["g"], {}, {}, [1.0], {"g": flat}, {"g": hist}).to_dict())
    return model


def test_log_ptrel_space_is_fitted_on_the_first_batch_and_inverts_exactly():
    batch = physical_batch()
    x, mask = batch["particles"], batch["mask"]
    model = model_for(batch, ptrel_space="log")
    model.on_train_batch_start(batch, 0)
    raw = (x[..., 2] * PT_STD + PT_MEAN)[mask]
    assert float(model.space.ptrel_log.loc) == pytest.approx(float(raw.log().mean()), rel=1e-5)
    assert float(model.space.ptrel_log.scale) == pytest.approx(float(raw.log().std()), rel=1e-5)
    z = model.to_flow(x, mask)
    assert float(z[..., 2][mask].mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(z[..., 2][mask].std()) == pytest.approx(1.0, abs=1e-4)
    assert torch.equal(z[..., :2], x[..., :2]) and torch.all(z[~mask] == 0)
    torch.testing.assert_close(model.from_flow(z, mask), x, atol=1e-5, rtol=1e-5)
    loc = model.space.ptrel_log.loc.clone()
    model.on_train_batch_start(physical_batch(seed=1), 1)  # fitted once, not per batch
    assert torch.equal(model.space.ptrel_log.loc, loc)
    # any flow output maps to 0 < ptrel <= 1 (a particle never carries more than its jet's pT)
    wild = torch.tensor([-80.0, -3.0, 0.0, 3.0, 80.0])[:, None, None].expand(5, P, 3)
    ptrel = model.from_flow(wild, torch.ones(5, P, dtype=torch.bool))[..., 2] * PT_STD + PT_MEAN
    assert torch.all(ptrel > 0) and torch.all(ptrel <= 1.0 + 1e-6)


def test_log_ptrel_model_learns_a_batch_and_rebuilds_from_its_checkpoint_spec():
    torch.manual_seed(0)
    batch = physical_batch(16)
    model = model_for(batch, ptrel_space="log", coupling="ot", time_sampling="logit_normal")
    opt = model.configure_optimizers()["optimizer"]
    model.on_train_batch_start(batch, 0)
    real = model.to_flow(batch["particles"], batch["mask"])[batch["mask"]]

    def error() -> float:
        """Per-feature mean and spread of samples vs the batch, in flow space (eta, phi, log ptrel)."""
        x, mask = model.generate(400, torch.Generator().manual_seed(1))
        assert torch.all(x[..., 2][mask] * PT_STD + PT_MEAN > 0)
        gen = model.to_flow(x, mask)[mask]
        return float((gen.mean(0) - real.mean(0)).abs().sum() + (gen.std(0) - real.std(0)).abs().sum())

    first = error()
    for i in range(200):
        model.on_train_batch_start(batch, i)
        loss = model.training_step(batch, i)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.on_train_batch_end(None, batch, i)
    assert error() < 0.3 * first, (first, error())
    jets = model.sample(30, seed=2)
    assert np.all(jets.particles[..., 2][jets.mask] > 0)
    clone = instantiate(model.model_spec())
    assert clone.hparams.ptrel_space == "log" and clone.hparams.time_sampling == "logit_normal"
    clone.load_state_dict(model.state_dict())  # loc / scale travel as buffers
    clone.data_info = model.data_info
    assert np.array_equal(clone.sample(30, seed=2).particles, jets.particles)


def test_asinh_angle_space_is_fitted_on_raw_angles_inverts_exactly_and_stays_in_range():
    batch = physical_batch()
    x, mask = batch["particles"], batch["mask"]
    model = model_for(batch, ptrel_space="log", angle_space="asinh", angle_width=0.05)
    mean, std = [0.1, -0.2, PT_MEAN], [0.2, 0.3, PT_STD]  # angles are standardized too: undone first
    model.data_info = replace(model.data_info, normalizer={"mean": mean, "std": std, "image_scale": 1.0})
    model.on_train_batch_start(batch, 0)
    raw = x[..., :2][mask] * torch.tensor(std[:2]) + torch.tensor(mean[:2])
    torch.testing.assert_close(model.space.angles_asinh.loc, torch.asinh(raw / 0.05).mean(0))
    torch.testing.assert_close(model.space.angles_asinh.scale, torch.asinh(raw / 0.05).std(0))
    z = model.to_flow(x, mask)
    torch.testing.assert_close(z[..., :2][mask].mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(z[..., :2][mask].std(0), torch.ones(2), atol=1e-4, rtol=0)
    assert torch.all(z[~mask] == 0)
    torch.testing.assert_close(model.from_flow(z, mask), x, atol=1e-5, rtol=1e-5)
    wild = torch.tensor([-80.0, 80.0])[:, None, None].expand(2, P, 3)
    angles = model.from_flow(wild, torch.ones(2, P, dtype=torch.bool))[..., :2] * torch.tensor(std[:2])
    angles = angles + torch.tensor(mean[:2])
    assert torch.all(angles.abs() <= 1.0 + 1e-5)  # |Δη|, |Δφ| <= max_angle
    clone = instantiate(model.model_spec())  # the fitted map travels with the checkpoint
    clone.load_state_dict(model.state_dict())
    clone.data_info = model.data_info
    assert clone.hparams.angle_space == "asinh" and clone.hparams.angle_width == 0.05
    assert np.array_equal(clone.sample(20, seed=2).particles, model.sample(20, seed=2).particles)
    with pytest.raises(ValueError, match="angle_space"):
        model_for(batch, angle_space="polar")
    with pytest.raises(ValueError, match="angle_width"):
        model_for(batch, angle_space="asinh", angle_width=0.0)


def test_flow_space_loads_checkpoints_with_scalar_buffers():
    """Checkpoints written before the per-column buffers stored LogPtrel's loc / scale as 0-d tensors (format
    1, brought to the current format by `migration.migrate`)."""
    model = model_for(physical_batch(), ptrel_space="log")
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("space.")}
    state["ptrel_log.loc"], state["ptrel_log.scale"] = torch.tensor(-4.0), torch.tensor(1.5)  # format 1
    state["ptrel_log.fitted"] = torch.tensor(True)
    model.load_state_dict(migrate({"state_dict": state})["state_dict"])
    assert model.space.ptrel_log.loc.tolist() == [-4.0] and model.space.ptrel_log.scale.tolist() == [1.5]


def test_time_sampling():
    g = torch.Generator()
    u = sample_time(20_000, "uniform", g.manual_seed(0))
    assert torch.equal(u, torch.rand(20_000, generator=g.manual_seed(0)))  # what plain CFM always drew
    t = sample_time(20_000, "logit_normal", g.manual_seed(0))
    assert torch.all((t > 0) & (t < 1))
    logit = torch.log(t / (1 - t))
    assert abs(float(logit.mean())) < 0.03 and abs(float(logit.std()) - 1.0) < 0.03
    assert torch.equal(t, sample_time(20_000, "logit_normal", g.manual_seed(0)))
    late = sample_time(20_000, "late", g.manual_seed(0))  # P(t > 1 - e) = sqrt(e): weight near the data
    assert torch.all((late >= 0) & (late <= 1))
    assert abs(float((late > 0.75).float().mean()) - 0.5) < 0.02 and abs(float(late.mean()) - 2 / 3) < 0.01
    with pytest.raises(ValueError, match="time_sampling"):
        FlowMatching(EPiCVelocity(cond_dim=0), time_sampling="beta")


class HalfDone(pl.Callback):
    def progress(self) -> float:
        return 0.5


def test_cosine_schedule_spans_max_steps_or_a_budget_callback():
    batch = physical_batch()
    model = model_for(batch, lr_schedule="cosine", lr_min_factor=0.1, warmup_steps=10)
    assert model.lr_factor(0) == pytest.approx(0.1 * 1.0)  # no trainer: progress 0, warm-up 1/10
    model.trainer = pl.Trainer(max_steps=100, logger=False, enable_checkpointing=False)
    factors = [model.lr_factor(s) for s in (0, 9, 50, 100)]
    assert factors[0] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5 * (1 + np.cos(0.0))))
    assert factors[1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 0.09)))
    assert factors[2] == pytest.approx(0.1 + 0.9 * 0.5) and factors[3] == pytest.approx(0.1)
    model.trainer = pl.Trainer(max_epochs=1, callbacks=[HalfDone()], logger=False, enable_checkpointing=False)
    assert model.lr_factor(1000) == pytest.approx(0.55)
    constant = model_for(batch, warmup_steps=10)
    constant.trainer = pl.Trainer(max_steps=100, logger=False, enable_checkpointing=False)
    assert [constant.lr_factor(s) for s in (0, 50, 100)] == [0.1, 1.0, 1.0]


def test_ot_fast_path_for_prefix_masks_matches_the_general_matching():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(40, P, 3, generator=g), torch.randn(40, P, 3, generator=g)
    counts = torch.randint(0, P + 1, (40,), generator=g)
    mask = torch.arange(P)[None] < counts[:, None]
    fast = ot_permute_source(x0, x1, mask)
    jet, src, dst = hungarian_matching(((x0[:, :, None] - x1[:, None]) ** 2).sum(-1), mask)
    general = x0.clone()
    general[jet, dst] = x0[jet, src]
    def cost(a):
        return ((a - x1) ** 2).sum(-1)[mask]

    torch.testing.assert_close(cost(fast), cost(general))
    assert torch.equal(fast[~mask], x0[~mask])
    # a non-prefix mask takes the general path: same matching on the same real particles
    order = torch.randperm(P, generator=g)
    shuffled = ot_permute_source(x0[:, order], x1[:, order], mask[:, order])
    torch.testing.assert_close(((shuffled - x1[:, order]) ** 2).sum(-1)[mask[:, order]].sum(),
                               cost(fast).sum())


def test_cpu_time_budget_stops_training_after_its_cpu_minutes():
    from sparsegen.studies.convergence import CPUTimeBudget

    budget = CPUTimeBudget(minutes=0.002)  # 0.12 s
    trainer = SimpleNamespace(should_stop=False)
    assert budget.progress() == 0.0
    budget.on_fit_start(trainer, None)
    budget.on_train_batch_end(trainer)
    assert not trainer.should_stop
    x = torch.randn(200, 200)
    while budget.used() < 0.13:
        x = torch.tanh(x @ x.T / 200)
    assert budget.progress() == 1.0
    budget.on_train_batch_end(trainer)
    assert trainer.should_stop
    with pytest.raises(ValueError):
        CPUTimeBudget(0)


def test_nearest_offsets_are_the_k_nearest_real_particles_in_eta_phi():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, P, 3, generator=g)
    counts = torch.tensor([P, 5, 3, 2, 1, 4])
    mask = torch.stack([torch.randperm(P, generator=g) < c for c in counts])  # not a prefix
    out = nearest_offsets(x, mask, 3).view(6, P, 3, 4)
    for b in range(6):
        real = torch.nonzero(mask[b])[:, 0].tolist()
        for i in range(P):
            if i not in real:
                assert torch.all(out[b, i] == 0)
                continue
            others = sorted((float(torch.dist(x[b, j, :2], x[b, i, :2])), j) for j in real if j != i)
            for rank in range(3):
                if rank < len(others):
                    j = others[rank][1]
                    torch.testing.assert_close(out[b, i, rank, :3], x[b, j] - x[b, i])
                    assert out[b, i, rank, 3] == 1
                else:
                    assert torch.all(out[b, i, rank] == 0)  # fewer than k other particles in this jet
    assert nearest_offsets(x, mask, 0).shape == (6, P, 0)
    assert nearest_offsets(x, mask, 50).shape == (6, P, (P - 1) * 4)


def test_conserve_pt_makes_every_generated_jet_sum_to_its_pt_and_needs_uncut_data():
    batch = physical_batch(64)
    model = model_for(batch, conserve_pt=True, ptrel_space="log")  # ptrel > 0: no jet sums to zero
    hist = np.bincount(batch["mask"].sum(1).clamp(max=P - 1).numpy(), minlength=P + 1)
    model.data_info.multiplicity = (hist / hist.sum()).tolist()  # no jet cut at P particles
    model.on_data_info()
    torch.nn.init.normal_(model.velocity_ema.out.weight, std=0.5)  # a field that moves the sum
    jets = model.sample(50, seed=1)
    _, pt, _, _ = relative_kinematics(jets.particles, jets.mask)
    np.testing.assert_allclose(pt, 1.0, rtol=1e-5)
    model.conserve_pt = False
    _, pt_free, _, _ = relative_kinematics(model.sample(50, seed=1).particles, jets.mask)
    assert np.abs(pt_free - 1).max() > 0.05
    cut = model_for(batch, conserve_pt=True)  # this batch has a sixth of its jets at P particles
    with pytest.raises(SparsegenInputError, match="conserve_pt needs every constituent"):
        cut.on_data_info()


class _Vectors(FlowSpace):
    """A toy representation: K fixed slots of F features, all present, no coordinate change."""

    def support(self, num, counts, info, device, generator=None):
        return torch.ones(num, 4, dtype=torch.bool, device=device)

    def to_flow(self, x, support, info):
        return x

    def from_flow(self, z, support, info):
        return z

    def source(self, support, features, generator=None, dtype=None):
        return torch.randn(*support.shape, features, generator=generator, dtype=dtype)

    def masked_mean(self, err, support):
        return err.mean()


class _VectorVelocity(torch.nn.Module):
    features = 2

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(3, 2)

    def forward(self, x, support, t, cond=None):
        return self.net(torch.cat([x, t[:, None, None].expand(*x.shape[:2], 1)], -1))


class _VectorFlow(FlowMatching):
    def build_space(self, *settings):
        return _Vectors()


def test_a_flow_on_another_representation_is_a_space_and_a_velocity_network():
    """Nothing of the flow itself is particle-specific: a new `FlowSpace` and a network for it train (the
    loss falls on a fixed target) and integrate."""
    torch.manual_seed(0)
    model = _VectorFlow(_VectorVelocity(), num_steps=4, ema_decay=None)
    target = torch.tensor([2.0, -1.0]).expand(64, 4, 2)
    support = torch.ones(64, 4, dtype=torch.bool)
    opt = torch.optim.Adam(model.velocity.parameters(), lr=0.05)
    losses = []
    for step in range(150):
        loss = model.flow_matching_loss(target, support, generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    x, mask = model.generate(32, generator=torch.Generator().manual_seed(1))
    assert x.shape == (32, 4, 2) and bool(mask.all())
    assert float((x.mean((0, 1)) - torch.tensor([2.0, -1.0])).abs().max()) < 0.5
