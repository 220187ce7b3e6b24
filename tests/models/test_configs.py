"""Every shipped config trains through `sparsegen fit` (CPU, a few batches), and what the fit produced is
checked:
the checkpoint reloads through `sparsegen sample`, the sample has the training representation and shapes, and
its jets carry GeV kinematics. Data settings are stated once (npix 16 reaches data, networks and
callbacks), and so is every shared trainer and data block (`configs/base/`, composed by
`sparsegen.core.compose`)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from sparsegen.cli import main
from sparsegen.core.compose import COMPOSE_KEY, composed_blocks, resolved_config
from sparsegen.core.jets import Jets
from sparsegen.core.resources import configs_dir, model_configs
from sparsegen.models.spec import load_checkpoint
from sparsegen.models.training import QUICK_TRAINER

ROOT = Path(__file__).resolve().parents[2]
IMAGE_CONFIGS = model_configs("images")
POINT_CONFIGS = model_configs("points")
SMALL = [
    "--data.init_args.num_jets",
    "60",
    "--data.init_args.batch_size",
    "16",
    "--data.init_args.generation_workers",
    "1",
    *QUICK_TRAINER,
    "--trainer.logger",
    "false",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_model_summary",
    "false",
]


def fit_and_sample(config: Path, root: Path, *extra: str, num_jets: int = 40) -> tuple[dict, Jets]:
    """Fit ``config`` briefly, sample ``num_jets`` jets from last.ckpt via the CLI; (checkpoint, jets)."""
    run = root / config.stem
    assert main(["fit", "--config", str(config), *SMALL, "--trainer.default_root_dir", str(run), *extra]) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())  # the run's config: complete, nothing composed
    assert COMPOSE_KEY not in saved and saved["trainer"]["callbacks"] and saved["data"]["class_path"]
    ckpt = run / "checkpoints" / "last.ckpt"
    out = root / f"{config.stem}.h5"
    assert (
        main(
            [
                "sample",
                "--ckpt",
                str(ckpt),
                "--num-jets",
                str(num_jets),
                "--seed",
                "1",
                "--images",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return load_checkpoint(ckpt), Jets.load(out)


def check_gev(jets: Jets, info: dict) -> None:
    """Generated jets carry a jet pT from the training distribution and their particles' mass in GeV."""
    per_class = info["conditions"]["quantiles"].values()
    lo, hi = min(q["pt"][0] for q in per_class), max(q["pt"][-1] for q in per_class)
    assert np.all((jets.pt >= lo - 1e-3) & (jets.pt <= hi + 1e-3)) and lo > 500, (lo, hi)
    np.testing.assert_allclose(jets.mass, jets.relative_mass * jets.pt, rtol=1e-4, atol=1e-3)
    assert np.all(np.isfinite(jets.mass) & (jets.mass >= 0))


def test_all_image_and_point_configs_exist_with_the_same_callbacks():
    assert {p.stem for p in IMAGE_CONFIGS} >= {"wgan_gp_dense", "wgan_gp_sparse", "vae_dense", "vae_sparse",
                                               "vae_hurdle", "vae_ista"}
    assert {p.stem for p in POINT_CONFIGS} >= {
        "mpgan",
        "mp_pointnet",
        "epic_gan",
        "pointnet_vae",
        "flow_matching",
    }
    callbacks = resolved_config(IMAGE_CONFIGS[0])["trainer"]["callbacks"]
    for path in IMAGE_CONFIGS + POINT_CONFIGS:
        cfg = resolved_config(path)
        # the same callbacks (a config may keep only its last checkpoint, none by val/w1m); always last.ckpt
        assert {c["class_path"] for c in cfg["trainer"]["callbacks"]} == {c["class_path"] for c in callbacks}
        assert any(c.get("init_args", {}).get("save_last") for c in cfg["trainer"]["callbacks"]), path.stem
        family = "images" if path in IMAGE_CONFIGS else "points"
        assert cfg["data"]["init_args"]["representation"] == family
        # data settings are stated once, in the data config: no network repeats them
        text = yaml.safe_dump(cfg["model"])
        assert "npix" not in text and "num_particles" not in text and "extent" not in text, path.stem


def _settings(node: object, prefix: str = "") -> set[tuple[str, str]]:
    """(dotted key, value) of every setting under a mapping; a list is one value (it is replaced whole)."""
    if not isinstance(node, dict):
        return {(prefix, json.dumps(node, sort_keys=True))}
    return set().union(*(_settings(v, f"{prefix}.{k}" if prefix else str(k)) for k, v in node.items()))


def test_no_two_model_configs_repeat_a_trainer_or_data_block():
    """What model configs state themselves (their blocks not merged in): no callbacks list or data class of
    their own — those live in `configs/base/` — and no two configs share two or more trainer settings or two
    or more data settings, which would be a block to share."""
    own = {p: yaml.safe_load(p.read_text()) for p in model_configs()}
    for path, cfg in own.items():
        assert cfg.get(COMPOSE_KEY), f"{path} composes no shared block"
        assert "callbacks" not in (cfg.get("trainer") or {}), path
        assert "class_path" not in (cfg.get("data") or {}), path
    for section in ("trainer", "data"):
        for (a, ca), (b, cb) in itertools.combinations(own.items(), 2):
            shared = _settings(ca.get(section) or {}) & _settings(cb.get(section) or {})
            assert len(shared) < 2, f"{a.stem} and {b.stem} repeat the {section} settings {sorted(shared)}"


def test_every_shared_block_is_composed_and_no_block_is_a_model_config():
    blocks = set((configs_dir() / "base").glob("*.yaml"))
    assert blocks and not blocks & set(model_configs())
    used, todo = set(), list(model_configs())
    while todo:
        for block in composed_blocks(todo.pop()):
            if block not in used:
                used.add(block)
                todo.append(block)
    assert blocks == used, f"unused blocks: {sorted(p.name for p in blocks - used)}"
    for path in model_configs():  # every model config gets a whole trainer and data block
        cfg = resolved_config(path)
        assert cfg["trainer"]["callbacks"] and cfg["data"]["class_path"] and cfg["seed_everything"] == 0, path


@pytest.mark.parametrize("config", IMAGE_CONFIGS, ids=lambda p: p.stem)
def test_image_config_fits_and_its_checkpoint_samples_images(config, use_model_data):
    ckpt, jets = fit_and_sample(config, use_model_data)
    info = ckpt["sparsegen_data_info"]
    assert info["representation"] == "images" and info["npix"] == 32
    assert jets.images is not None and jets.images.shape == (40, 32, 32)
    assert np.all(jets.images >= 0) and np.array_equal(jets.num_particles, (jets.images > 0).sum((1, 2)))
    check_gev(jets, info)


@pytest.mark.parametrize("config", IMAGE_CONFIGS, ids=lambda p: p.stem)
def test_image_config_fits_and_samples_at_detector_granularity(config, use_model_data):
    """npix 128 (0.4 % of the pixels lit): every image config trains, samples and keeps exact zeros; one that
    states ``trunk_pixels`` has its trunk on that grid and refines the active cells."""
    ckpt, jets = fit_and_sample(config, use_model_data, "--data.init_args.npix", "128", num_jets=24)
    info = ckpt["sparsegen_data_info"]
    assert info["npix"] == 128 and sorted(map(int, info["pooled"])) == [8, 16, 32, 64]
    assert jets.images.shape == (24, 128, 128) and np.all(jets.images >= 0)
    assert np.array_equal(jets.num_particles, (jets.images > 0).sum((1, 2)))
    check_gev(jets, info)
    model = resolved_config(config)["model"]["init_args"]
    nets = {k: v for k, v in model.items()
            if isinstance(v, dict) and "trunk_pixels" in v.get("init_args", {})}
    for name, net in nets.items():
        trunk = net["init_args"]["trunk_pixels"]
        assert ckpt["state_dict"][f"{name}.pixel_bias.bias"].shape[-1] == trunk
        assert f"{name}.refiner.mlp.0.weight" in ckpt["state_dict"]
        assert 0 < (jets.images > 0).mean() < 0.05


@pytest.mark.parametrize("config", POINT_CONFIGS, ids=lambda p: p.stem)
def test_point_config_fits_and_its_checkpoint_samples_particles(config, use_model_data):
    ckpt, jets = fit_and_sample(config, use_model_data)
    info = ckpt["sparsegen_data_info"]
    particles = resolved_config(config)["data"]["init_args"]["num_particles"]
    assert info["representation"] == "points" and info["num_particles"] == particles
    assert jets.images is None and jets.max_particles == particles
    assert np.all(jets.num_particles >= 1) and np.all(jets.particles[..., 2][jets.mask] >= 0)
    check_gev(jets, info)


def test_npix_stated_once_changes_data_model_and_callbacks(use_model_data):
    config = ROOT / "configs" / "images" / "wgan_gp_sparse.yaml"
    ckpt, jets = fit_and_sample(config, use_model_data, "--data.init_args.npix", "16")
    assert ckpt["sparsegen_data_info"]["npix"] == 16
    assert ckpt["sparsegen_model"]["init_args"]["generator"]["init_args"]["npix"] == 16
    assert ckpt["sparsegen_model"]["init_args"]["critic"]["init_args"]["npix"] == 16
    assert jets.images.shape == (40, 16, 16)
    state = ckpt["state_dict"]
    # 4x4 start at the width for 16 pixels: the config's widths [64, 32, 16, 8], the finest 3 of them
    assert state["generator.trunk.fc.weight"].shape[0] == 16 * 32


def test_a_network_given_another_npix_by_hand_is_one_config_error(use_model_data, capsys):
    config = ROOT / "configs" / "images" / "wgan_gp_sparse.yaml"
    status = main(
        [
            "fit",
            "--config",
            str(config),
            *SMALL,
            "--trainer.default_root_dir",
            str(use_model_data / "r"),
            "--data.init_args.npix",
            "16",
            "--model.init_args.critic.init_args.npix",
            "32",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "npix" in err[0] and "data" in err[0], err
    assert not (use_model_data / "r" / "checkpoints").exists()


def test_a_python_built_network_for_other_data_is_refused(use_model_data):
    from sparsegen.core.errors import SparsegenInputError
    from sparsegen.data.datamodule import JetDataModule
    from sparsegen.models import WGANGP
    from sparsegen.models.components import DCGANGenerator, DenseCritic

    dm = JetDataModule(num_jets=60, representation="images", npix=16, generation_workers=1)
    dm.prepare_data()  # what Lightning runs first: the jets exist whichever test ran before this one
    model = WGANGP(DCGANGenerator(channels=(32, 16, 8)), DenseCritic(npix=32))
    trainer = type("T", (), {"datamodule": dm})()
    model._trainer = trainer  # what Lightning sets before calling setup
    with pytest.raises(SparsegenInputError, match="npix=32 but the data has npix=16"):
        model.setup("fit")
