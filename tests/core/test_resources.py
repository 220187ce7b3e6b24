"""Shipped files are found through the package, not the working folder: config names, cards."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.resources import card_text, config_names, config_path, configs_dir, model_configs
from sparsegen.models.training import resolve_configs


def test_a_shipped_config_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = configs_dir() / "points" / "flow_matching.yaml"
    for name in ("points/flow_matching", "points/flow_matching.yaml", "configs/points/flow_matching.yaml",
                 "./configs/points/flow_matching.yaml"):
        assert config_path(name) == expected, name
    assert "model:" in expected.read_text()
    assert {"quickstart", "images/vae_hurdle", "points/flow_matching"} <= set(config_names())
    assert "logger/wandb" not in config_names() and all(n.startswith("images/")
                                                        for n in config_names("images"))


def test_model_configs_are_the_named_configs_without_the_shared_blocks():
    every = model_configs()
    assert every[0] == configs_dir() / "quickstart.yaml" and len(every) == len(config_names())
    assert [p.relative_to(configs_dir()).with_suffix("").as_posix() for p in every] == config_names()
    assert not any(p.parent.name in ("base", "logger") for p in every)
    assert model_configs("points") == sorted((configs_dir() / "points").glob("*.yaml"))
    assert (configs_dir() / "base" / "trainer.yaml").is_file()  # the blocks ship, found by name too
    assert config_path("base/trainer") == configs_dir() / "base" / "trainer.yaml"
    with pytest.raises(SparsegenInputError, match="not a group of model configs"):
        model_configs("base")


def test_an_existing_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "configs" / "points" / "flow_matching.yaml"
    own.parent.mkdir(parents=True)
    own.write_text("model: {}\n")
    assert config_path("configs/points/flow_matching.yaml") == Path("configs/points/flow_matching.yaml")


@pytest.mark.parametrize("name", ["points/nope", "../pyproject", "images/../../pyproject"])
def test_an_unknown_config_is_one_error_naming_it(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SparsegenInputError, match="config file not found") as err:
        config_path(name)
    assert name in str(err.value) and "points/flow_matching" in str(err.value)


def test_lightning_arguments_get_every_config_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = resolve_configs(["fit", "--config", "images/vae_hurdle", "--config=logger/wandb",
                            "--trainer.max_epochs", "1"])
    assert argv[2] == str(configs_dir() / "images" / "vae_hurdle.yaml")
    assert argv[3] == f"--config={configs_dir() / 'logger' / 'wandb.yaml'}"
    assert argv[4:] == ["--trainer.max_epochs", "1"]


def test_every_class_card_ships_with_the_common_settings():
    assert "Beams:eCM = 13000." in card_text("common")
    for jet_type in "gqtwz":
        assert card_text(jet_type).strip()
    with pytest.raises(SparsegenInputError, match="Pythia card not found"):
        card_text("x")
