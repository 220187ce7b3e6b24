"""Conditional generation: conditions from config to CLI; conditioning changes the output; unconditional
checkpoints from before conditioning still load and sample; every bad condition is one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sparsegen.cli import main
from sparsegen.core.defaults import JET_TYPE_INDEX
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.data.conditions import ConditionSpec, condition_dim, raw_conditions
from sparsegen.models import FlowMatching
from sparsegen.models.components import EPiCVelocity
from sparsegen.models.components.conditioning import ConditionEmbedding, drop_condition
from sparsegen.models.flow_matching import guided_field
from sparsegen.models.spec import load_checkpoint, load_model

ROOT = Path(__file__).resolve().parents[2]
LEGACY = Path(__file__).parent / "legacy"


def test_condition_transform_round_trips_exactly(make_jets):
    jets = Jets.concat([make_jets(200, seed=1), make_jets(200, seed=2)])
    jets.jet_features[200:, 0] = JET_TYPE_INDEX["w"]
    spec = ConditionSpec.fit(["pt", "class", "multiplicity", "mass", "eta"], jets, ["t", "w"], 30)
    assert spec.names == ["class", "pt", "eta", "mass", "multiplicity"]  # canonical order
    assert spec.dim == condition_dim(spec.names, ["t", "w"]) == 6
    raw = raw_conditions(jets)
    x = spec.encode(raw)
    assert x.shape == (400, 6) and abs(x[:, 2].mean()) < 1e-5 and abs(x[:, 2].std() - 1) < 1e-4
    back = spec.decode(x)
    np.testing.assert_array_equal(back["class"], raw["class"])
    for name in ("pt", "eta", "mass", "multiplicity"):
        np.testing.assert_allclose(back[name], raw[name], rtol=1e-5, atol=1e-5)
    with pytest.raises(SparsegenInputError, match="unknown condition"):
        ConditionSpec.fit(["charge"], jets, ["t"], 30)


def test_resolve_draws_each_class_from_its_own_distribution(make_jets):
    a, b = make_jets(300, seed=1, min_mult=25, max_mult=30), make_jets(300, seed=2, min_mult=5, max_mult=10)
    b.jet_features[:, 0] = JET_TYPE_INDEX["w"]
    spec = ConditionSpec.fit(["class"], Jets.concat([a, b]), ["t", "w"], 30)
    gen = torch.Generator().manual_seed(0)
    t = spec.resolve({"class": "t"}, 500, gen)
    w = spec.resolve({"class": "w"}, 500, gen)
    assert t["multiplicity"].min() >= 25 and w["multiplicity"].max() <= 10
    assert np.all(t["class"] == JET_TYPE_INDEX["t"]) and np.all(w["class"] == JET_TYPE_INDEX["w"])
    mixed = spec.resolve({}, 2000, gen)
    assert 0.4 < np.mean(mixed["class"] == JET_TYPE_INDEX["t"]) < 0.6


def test_dropped_conditions_embed_to_zero_and_guidance_extrapolates_from_the_unconditional_field():
    torch.manual_seed(0)
    emb = ConditionEmbedding(3, 8)
    c = torch.randn(4, 3)
    e = emb(drop_condition(c, torch.tensor([True, False, True, False])), 4, c)
    assert torch.all(e[[0, 2]] == 0) and torch.equal(e[[1, 3]], emb(c, 4, c)[[1, 3]])
    net = EPiCVelocity(hidden=8, num_layers=2, cond_dim=3)
    torch.nn.init.normal_(net.out.weight)
    x, mask = torch.randn(4, 6, 3), torch.arange(6)[None] < torch.tensor([6, 4, 2, 5])[:, None]
    t = torch.rand(4)
    v_c, v_u = net(x, mask, t, c), net(x, mask, t, drop_condition(c, torch.ones(4, dtype=torch.bool)))
    assert not torch.allclose(v_c, v_u)
    torch.testing.assert_close(guided_field(net, mask, c, 1.5)(x, t), v_c + 1.5 * (v_c - v_u))
    torch.testing.assert_close(guided_field(net, mask, c, 0.0)(x, t), v_c)
    with pytest.raises(SparsegenInputError, match="cond_dropout"):
        FlowMatching(net, guidance=1.0)
    with pytest.raises(SparsegenInputError, match="guidance"):
        FlowMatching(net, cond_dropout=0.1, guidance=-1.0)


def test_a_model_trained_with_condition_dropout_samples_with_guidance(conditional_ckpt):
    model = load_model(conditional_ckpt[0])  # the config's: trained with condition dropout, guided sampling
    assert model.hparams.cond_dropout > 0 and model.hparams.guidance > 0
    torch.nn.init.normal_(model.velocity_ema.out.weight, std=0.3)
    ask = {"class": "w", "pt": 1000.0, "mass": 80.0, "multiplicity": 20}
    guided = model.sample(10, ask, seed=3)
    model.hparams.guidance = 0.0
    plain = model.sample(10, ask, seed=3)
    assert np.array_equal(plain.mask, guided.mask) and not np.allclose(plain.particles, guided.particles)
    assert np.all(np.isfinite(guided.particles))
    model.hparams.cond_dropout = 0.0  # a model that never learned the unconditional field
    with pytest.raises(SparsegenInputError, match="cond_dropout"):
        model.generate(4, cond=torch.zeros(4, 5), guidance=1.0)


@pytest.fixture(scope="module")
def conditional_ckpt(tmp_path_factory) -> tuple[Path, Path]:
    """A conditional flow-matching checkpoint (class, pT, mass, multiplicity; gluon and W) after two
    batches, and the data folder it was trained on."""
    tmp = tmp_path_factory.mktemp("cond")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPARSEGEN_DATA", str(tmp / "data"))
    try:
        status = main(["fit", "--config", str(ROOT / "configs/points/flow_matching_conditional.yaml"),
                       "--data.init_args.jet_types", "[g, w]", "--data.init_args.num_jets", "60",
                       "--data.init_args.num_particles", "40", "--data.init_args.batch_size", "16",
                       "--data.init_args.generation_workers", "1", "--trainer.max_epochs", "1",
                       "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
                       "--model.init_args.velocity.init_args.hidden", "16",
                       "--model.init_args.conserve_pt", "false",  # 40 particles cut most jets
                       "--trainer.default_root_dir", str(tmp / "run"), "--trainer.logger", "false",
                       "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"])
    finally:
        mp.undo()
    assert status == 0
    return tmp / "run" / "checkpoints" / "last.ckpt", tmp / "data"


@pytest.fixture(scope="module")
def conditional_student(conditional_ckpt, tmp_path_factory) -> tuple[Path, Path]:
    """The one-step student of `conditional_ckpt` (the shipped few-step conditional config, small), and the
    data folder."""
    teacher, data = conditional_ckpt
    tmp = tmp_path_factory.mktemp("cond_student")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPARSEGEN_DATA", str(data))
    try:
        status = main(["fit", "--config", "distill/flow_matching_conditional", "--model.init_args.teacher",
                       str(teacher), "--model.init_args.pairs", "48", "--model.init_args.val_pairs", "16",
                       "--data.init_args.jet_types", "[g, w]", "--data.init_args.num_jets", "60",
                       "--data.init_args.num_particles", "40", "--data.init_args.batch_size", "16",
                       "--data.init_args.generation_workers", "1", "--trainer.max_epochs", "1",
                       "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
                       "--model.init_args.velocity.init_args.hidden", "16",
                       "--model.init_args.conserve_pt", "false",
                       "--trainer.default_root_dir", str(tmp / "run"), "--trainer.logger", "false",
                       "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"])
    finally:
        mp.undo()
    assert status == 0
    return tmp / "run" / "checkpoints" / "last.ckpt", data


@pytest.fixture(params=["teacher", "student"])
def conditional_model(request) -> tuple[Path, Path]:
    """The conditional flow and its one-step student: conditions reach both the same way."""
    name = "conditional_ckpt" if request.param == "teacher" else "conditional_student"
    return request.getfixturevalue(name)


def test_conditional_checkpoint_records_its_conditions(conditional_ckpt):
    ckpt = load_checkpoint(conditional_ckpt[0])
    spec = ckpt["sparsegen_data_info"]["conditions"]
    assert spec["names"] == ["class", "pt", "mass", "multiplicity"] and spec["classes"] == ["g", "w"]
    assert (
        ckpt["sparsegen_model"]["init_args"]["velocity"]["init_args"]["cond_dim"] == 5
    )  # 2 classes + pt + mass + n


def test_two_classes_give_different_samples_from_the_same_noise(conditional_ckpt):
    model = load_model(conditional_ckpt[0])
    torch.nn.init.normal_(model.velocity_ema.out.weight, std=0.3)  # a briefly trained field is near zero
    common = {"pt": 1000.0, "mass": 80.0, "multiplicity": 30}
    g = model.sample(20, {"class": "g", **common}, seed=5)
    w = model.sample(20, {"class": "w", **common}, seed=5)
    assert np.array_equal(g.mask, w.mask) and not np.allclose(g.particles, w.particles)
    assert np.all(g.labels == 0) and np.all(w.labels == 3) and np.all(g.pt == 1000.0)
    again = model.sample(20, {"class": "g", **common}, seed=5)
    np.testing.assert_array_equal(g.particles, again.particles)


def test_sample_cli_takes_conditions_and_reproduces_a_files_kinematics(conditional_model, tmp_path):
    ckpt, data = conditional_model
    out = tmp_path / "w.h5"
    assert main(["sample", "--ckpt", str(ckpt), "--num-jets", "30", "--jet-type", "w", "--pt", "1100",
                 "--no-progress", "--out", str(out)]) == 0
    jets = Jets.load(out)
    assert np.all(jets.labels == JET_TYPE_INDEX["w"]) and np.allclose(jets.pt, 1100.0)
    np.testing.assert_allclose(jets.mass, jets.relative_mass * 1100.0, rtol=1e-4)
    real = Jets.concat([Jets.load(p) for p in sorted(data.glob("*.h5"))])
    real = real[np.random.default_rng(0).permutation(len(real))[:50]]
    real.save(tmp_path / "real.h5")
    assert (
        main(
            [
                "sample",
                "--ckpt",
                str(ckpt),
                "--conditions-from",
                str(tmp_path / "real.h5"),
                "--no-progress",
                "--out",
                str(tmp_path / "gen.h5"),
            ]
        )
        == 0
    )
    gen = Jets.load(tmp_path / "gen.h5")
    np.testing.assert_array_equal(gen.labels, real.labels)  # the class mix, jet by jet
    np.testing.assert_array_equal(gen.pt, real.pt)  # the pT spectrum, exactly
    np.testing.assert_array_equal(gen.num_particles, real.num_particles)  # a condition of this model


@pytest.mark.parametrize("args, what", [
    (["--num-jets", "5", "--jet-type", "t"], "trained on classes"),
    (["--num-jets", "5", "--pt", "5000"], "outside the training range"),
    (["--num-jets", "5", "--pt", "-3"], "positive"),
    (["--num-jets", "5", "--eta", "0.5"], "not conditioned on eta"),
    (["--num-jets", "5", "--mass", "5000"], "outside the training range"),
    (["--num-jets", "5", "--multiplicity", "400"], "integer in 1..40"),
    (["--pt", "1000"], "--num-jets"),
    (["--num-jets", "5", "--conditions-from", "REAL", "--pt", "1000"], "cannot be combined"),
    (["--conditions-from", "QUARKS"], "trained on classes"),
    (["--num-jets", "5", "--guidance", "-1"], "must be >= 0"),
])
def test_bad_conditions_are_one_line_exit_2(conditional_ckpt, tmp_path, capsys, make_jets, args, what):
    quarks = make_jets(10)
    quarks.jet_features[:, 0] = JET_TYPE_INDEX["q"]
    quarks.save(tmp_path / "q.h5")
    args = [str(tmp_path / "q.h5") if a in ("REAL", "QUARKS") else a for a in args]
    status = main(["sample", "--ckpt", str(conditional_ckpt[0]), *args, "--no-progress", "--out",
                   str(tmp_path / "out.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and what in err[0], err
    assert not (tmp_path / "out.h5").exists()


def test_extrapolation_only_when_asked(conditional_ckpt, tmp_path):
    assert main(["sample", "--ckpt", str(conditional_ckpt[0]), "--num-jets", "5", "--pt", "2500",
                 "--allow-extrapolation", "--no-progress", "--out", str(tmp_path / "x.h5")]) == 0
    assert np.allclose(Jets.load(tmp_path / "x.h5").pt, 2500.0)


@pytest.mark.parametrize("name", ["flow_matching", "epic_gan"])
def test_unconditional_checkpoints_from_before_conditioning_still_load_and_sample(name, tmp_path, capsys):
    ckpt = LEGACY / f"{name}_fbe8e62.ckpt"  # written by sparsegen at commit fbe8e62, before this change
    out = tmp_path / "gen.h5"
    assert main(["sample", "--ckpt", str(ckpt), "--num-jets", "12", "--no-progress", "--out", str(out)]) == 0
    jets = Jets.load(out)
    assert len(jets) == 12 and jets.max_particles == 30 and np.all(jets.labels == 0)
    assert np.allclose(jets.pt, 1000.0)  # no stored pT distribution: the nominal jet pT, said in DataInfo
    assert (
        main(
            [
                "sample",
                "--ckpt",
                str(ckpt),
                "--num-jets",
                "3",
                "--jet-type",
                "t",
                "--no-progress",
                "--out",
                str(tmp_path / "t.h5"),
            ]
        )
        == 2
    )
    assert "trained on classes ['g']" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["DCGANGenerator", "SparseAwareGenerator", "DenseDecoder"])
def test_image_generators_read_the_condition(kind):
    """Image generators / decoders: same noise, two classes → two images; no condition → refused."""
    from sparsegen.models import components as C

    torch.manual_seed(0)
    net = getattr(C, kind)(latent_dim=8, npix=16, channels=(16, 8, 8), cond_dim=5)
    z = torch.randn(4, 8)

    def run(cls: int) -> torch.Tensor:  # the same noise (and the same Bernoulli draws) for both classes
        seeded = {} if kind == "DenseDecoder" else {"generator": torch.Generator().manual_seed(1)}
        with torch.no_grad():
            return net(z, cond=torch.eye(5)[[cls] * 4], **seeded)

    a, b = run(0), run(3)
    assert a.shape == b.shape and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="conditional"):
        net(z)


@pytest.mark.parametrize("kind", ["DenseCritic", "SparseCritic", "DenseEncoder", "SparseEncoder",
                                  "ISTAEncoder"])
def test_image_critics_and_encoders_read_the_condition(kind):
    """Critics / encoders: the same images under two conditions score / encode differently."""
    from sparsegen.models import components as C

    torch.manual_seed(0)
    net = getattr(C, kind)(npix=16, cond_dim=5)
    images = torch.rand(4, 1, 16, 16) * (torch.rand(4, 1, 16, 16) < 0.1)
    net.eval()
    with torch.no_grad():
        a = net(images, torch.eye(5)[[0] * 4])
        b = net(images, torch.eye(5)[[2] * 4])
    assert a.shape == b.shape and not torch.allclose(a, b)
    assert net.cond_dim == 5
