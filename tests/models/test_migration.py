"""Checkpoint formats (`sparsegen.models.migration`): an older checkpoint is brought to the current format on
every load (`load_model`, Lightning's ``--ckpt_path`` resume), a new one carries the format, and one from a
later format is refused in one line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from sparsegen.cli import main
from sparsegen.core.errors import SparsegenInputError
from sparsegen.models import FlowMatching
from sparsegen.models.components import EPiCGenerator, EPiCVelocity
from sparsegen.models.migration import CHECKPOINT_FORMAT, FORMAT_KEY, MIGRATIONS, migrate
from sparsegen.models.spec import instantiate, load_checkpoint, load_model

LEGACY = Path(__file__).parent / "legacy"  # written by sparsegen at commit fbe8e62: format 1


def legacy(name: str) -> dict:
    return load_checkpoint(LEGACY / f"{name}_fbe8e62.ckpt")


def test_the_format_counts_the_migrations():
    assert CHECKPOINT_FORMAT == len(MIGRATIONS) + 1 >= 2


def test_a_format_1_checkpoint_is_brought_to_the_current_format():
    ckpt = legacy("epic_gan")
    assert FORMAT_KEY not in ckpt and "ema_steps" not in ckpt["state_dict"]
    migrate(ckpt, "legacy")
    assert ckpt[FORMAT_KEY] == CHECKPOINT_FORMAT
    gen = ckpt["sparsegen_model"]["init_args"]["generator"]
    assert gen["class_path"] == "sparsegen.models.components.point_gan.EPiCGenerator"  # the moved module
    assert int(ckpt["state_dict"]["ema_steps"]) == 10**6  # GANs had no EMA counter: counted as warmed up
    assert ckpt["sparsegen_data_info"]["jet_types"] == ["g"] and "jet_type" not in ckpt["sparsegen_data_info"]
    assert ckpt["sparsegen_model"]["init_args"]["spectrum_matching"] == 0.0  # added later, stated
    again = migrate(copy.deepcopy(ckpt))  # a current checkpoint is left as it is
    assert again["sparsegen_model"] == ckpt["sparsegen_model"]
    assert again["sparsegen_data_info"] == ckpt["sparsegen_data_info"]
    assert all(torch.equal(v, again["state_dict"][k]) for k, v in ckpt["state_dict"].items())


@pytest.mark.parametrize("name, net", [("epic_gan", "generator_ema"), ("flow_matching", "velocity_ema")])
def test_legacy_checkpoints_load_and_sample(name, net):
    model = load_model(LEGACY / f"{name}_fbe8e62.ckpt")
    assert type(getattr(model, net)) in (EPiCGenerator, EPiCVelocity)
    if isinstance(model, FlowMatching):  # the retired argument is gone, the added ones have the old meaning
        assert "conditional" not in model.hparams and model.hparams.time_sampling == "uniform"
    jets = model.sample(6, seed=0)
    assert len(jets) == 6 and jets.max_particles == 30
    assert (jets.num_particles > 0).all()


def test_a_legacy_checkpoint_resumes_through_on_load_checkpoint():
    """Lightning's resume calls on_load_checkpoint before it loads the weights: the weights it then loads
    (strictly) are the migrated ones."""
    ckpt = legacy("epic_gan")
    model = instantiate(migrate(copy.deepcopy(ckpt))["sparsegen_model"])
    model.on_load_checkpoint(ckpt)
    model.load_state_dict(ckpt["state_dict"])
    assert int(model.ema_steps) == 10**6 and ckpt[FORMAT_KEY] == CHECKPOINT_FORMAT


def test_a_new_checkpoint_carries_the_format():
    model = FlowMatching(EPiCVelocity(hidden=8, num_layers=1))
    ckpt: dict = {}
    model.on_save_checkpoint(ckpt)
    assert ckpt[FORMAT_KEY] == CHECKPOINT_FORMAT


def test_a_trained_checkpoint_carries_the_format(tiny_checkpoint):
    assert load_checkpoint(tiny_checkpoint)[FORMAT_KEY] == CHECKPOINT_FORMAT


@pytest.mark.parametrize("version, needle", [
    (CHECKPOINT_FORMAT + 1, f"checkpoint format {CHECKPOINT_FORMAT + 1} is newer than this sparsegen reads"),
    ("2", "unknown checkpoint format '2'"),
    (0, "unknown checkpoint format 0"),
])
def test_a_checkpoint_of_an_unknown_format_is_one_line(tmp_path, capsys, version, needle):
    ckpt = legacy("flow_matching")
    ckpt[FORMAT_KEY] = version
    path = tmp_path / "future.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(SparsegenInputError, match=needle):
        load_model(path)
    assert main(["sample", "--ckpt", str(path), "--num-jets", "2", "--no-progress",
                 "--out", str(tmp_path / "x.h5")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and needle in err[0] and str(path) in err[0], err
    assert not (tmp_path / "x.h5").exists()


def test_resuming_from_a_later_format_is_one_line_before_lightning(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = legacy("flow_matching")
    ckpt[FORMAT_KEY] = CHECKPOINT_FORMAT + 1
    torch.save(ckpt, tmp_path / "future.ckpt")
    config = Path(__file__).resolve().parents[2] / "configs" / "points" / "flow_matching.yaml"
    assert main(["fit", "--config", str(config), "--ckpt_path", str(tmp_path / "future.ckpt")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "is newer than this sparsegen reads" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["future.ckpt"], "nothing written"
