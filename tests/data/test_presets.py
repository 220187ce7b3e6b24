"""Generation presets: the `jetnet` settings, unchanged default keys, provenance, CLI and data module."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import numpy as np
import pytest

from sparsegen.cli import main
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.io import read_jetnet
from sparsegen.data.datamodule import JetDataModule
from sparsegen.data.generate import PRESET_ERA_DEFAULTS, GenerationConfig, _truth_match
from sparsegen.data.presets import PRESETS, preset_config


def _key_before_presets(cfg: GenerationConfig) -> str:
    """The cache key as computed before the preset fields existed (every other field + the card)."""
    fields = {k: v for k, v in asdict(cfg).items() if k not in PRESET_ERA_DEFAULTS}
    blob = json.dumps({**fields, "card": cfg.card_text()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@pytest.mark.parametrize("jet_type", ["g", "q", "t", "w", "z"])
def test_default_keys_are_unchanged(jet_type):
    for cfg in (GenerationConfig(jet_type), GenerationConfig(jet_type, num_particles=150, seed=7)):
        assert cfg.key() == _key_before_presets(cfg)
        assert "preset" not in cfg.settings() and "resonance_match" not in cfg.settings()


def test_jetnet_preset_settings():
    for jet_type in ("g", "q", "t", "w", "z"):
        cfg = preset_config("jetnet", jet_type, seed=3)
        assert cfg.preset == "jetnet" and cfg.jet_radius == 0.4 and cfg.seed == 3
        card = cfg.card_text()
        assert "! preset jetnet" in card and "PhaseSpace:pTHatMin = 990." in card
        assert card.index("PhaseSpace:pTHatMin = 990.") > card.index("PhaseSpace:pTHatMin = 950.")
        assert cfg.key() != GenerationConfig(jet_type, seed=3).key()
    assert preset_config("jetnet", "t").resonance_match == "axis"
    # hadronic W decays, as JetNet's
    assert "24:onIfAny = 1 2 3 4 5" in preset_config("jetnet", "t").card_text()
    with pytest.raises(SparsegenInputError, match="unknown preset 'nope'"):
        preset_config("nope", "g")
    with pytest.raises(SparsegenInputError, match="fixes jet_radius"):
        preset_config("jetnet", "g", jet_radius=0.8)
    assert set(PRESETS) == {"jetnet", "r08"}
    assert preset_config("r08", "g") == GenerationConfig("g", preset="r08")  # GenerationConfig's own defaults


def test_resonance_matching_modes():
    # t -> W+ b with the b at dR 0.1 and the W quarks at dR 0.5 and 0.9 from the jet axis
    pid, mid, dr = np.array([5, 2, -1]), np.array([6, 24, 24]), np.array([0.1, 0.5, 0.9])

    def axis_at(value: float):
        return lambda group: value  # ΔR between the jet and the summed momentum of the group

    assert not _truth_match(GenerationConfig("t"), pid, mid, dr, axis_at(0.1))
    assert not _truth_match(GenerationConfig("t", jet_radius=0.4), pid, mid, dr, axis_at(0.1))
    assert _truth_match(GenerationConfig("t", jet_radius=0.4, resonance_match="b"), pid, mid, dr,
                        axis_at(0.9))
    assert not _truth_match(GenerationConfig("t", resonance_match="b"), pid, mid, np.array([0.45, 0.1, 0.1]),
                            axis_at(0.1))
    # axis: the top itself within match_dr, its decay products need not be inside
    assert _truth_match(GenerationConfig("t", jet_radius=0.4, resonance_match="axis"), pid, mid, dr,
                        axis_at(0.3))
    assert not _truth_match(GenerationConfig("t", resonance_match="axis"), pid, mid, dr, axis_at(0.45))
    # W: both quarks inside R, or the boson's direction within match_dr
    wid, wmid = np.array([2, -1]), np.array([24, 24])
    assert not _truth_match(GenerationConfig("w", jet_radius=0.4), wid, wmid, np.array([0.2, 0.5]),
                            axis_at(0.1))
    assert _truth_match(GenerationConfig("w", jet_radius=0.4, resonance_match="axis"), wid, wmid,
                        np.array([0.2, 0.5]), axis_at(0.1))
    with pytest.raises(SparsegenInputError, match="resonance_match"):
        GenerationConfig("t", resonance_match="nearest")


@pytest.mark.slow
def test_cli_preset_writes_provenance(tmp_path, capsys):
    out = tmp_path / "g.h5"
    assert main(["data", "generate", "--preset", "jetnet", "--jet-type", "g", "--num-jets", "40",
                 "--seed", "2", "--no-progress", "--out", str(out)]) == 0
    assert "(preset jetnet)" in capsys.readouterr().out
    pf, jf, attrs = read_jetnet(out)
    assert attrs["preset"] == "jetnet" and attrs["jet_radius"] == 0.4 and attrs["resonance_match"] == "axis"
    assert "PhaseSpace:pTHatMax = 1010." in attrs["preset_settings"]
    assert json.loads(attrs["config"])["preset"] == "jetnet"
    assert attrs["config_key"] == preset_config("jetnet", "g", seed=2).key()
    mask = pf[..., 3] > 0
    dr = np.hypot(pf[..., 0], pf[..., 1])[mask]
    assert (dr < 0.4).mean() > 0.97, "anti-kT R = 0.4 jets"
    assert np.all((jf[:, 1] >= 800) & (jf[:, 1] <= 1600))


def test_cli_bad_preset_one_line(tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert main(["data", "generate", "--preset", "cms", "--jet-type", "g", "--num-jets", "5",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sparsegen: error: --preset: unknown preset 'cms' (one of r08, jetnet)"]
    assert not out.exists() and not (tmp_path / "x.h5.parts").exists()


def test_datamodule_preset(tmp_path):
    dm = JetDataModule(jet_types=["g", "t"], num_jets=50, data_dir=str(tmp_path), preset="jetnet")
    assert dm.generation_config("t") == preset_config("jetnet", "t", num_particles=30, seed=0)
    assert dm.files()[0].name.endswith(f"{preset_config('jetnet', 'g').key()}.h5")
    default = JetDataModule(jet_types="g", data_dir=str(tmp_path)).generation_config("g")
    assert default == preset_config("jetnet", "g", num_particles=30, seed=0)  # the default dataset
    wide = JetDataModule(jet_types="g", data_dir=str(tmp_path), preset="r08").generation_config("g")
    assert wide.jet_radius == 0.8 and wide.resonance_match == "contained"
    with pytest.raises(SparsegenInputError, match="unknown preset"):
        JetDataModule(jet_types="g", preset="jetnett")
