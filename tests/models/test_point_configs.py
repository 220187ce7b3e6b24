"""Every point config runs under fast_dev_run through `sparsegen.cli.main` (CPU) and builds the model it names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sparsegen.cli import main

ROOT = Path(__file__).resolve().parents[2]
POINT_CONFIGS = sorted((ROOT / "configs" / "points").glob("*.yaml"))


def test_all_five_point_configs_exist_with_the_image_callbacks():
    assert {p.stem for p in POINT_CONFIGS} >= {"mpgan", "mp_pointnet", "epic_gan", "pointnet_vae", "flow_matching"}
    image_callbacks = yaml.safe_load((ROOT / "configs" / "images" / "wgan_gp_dense.yaml").read_text())["trainer"]["callbacks"]
    for path in POINT_CONFIGS:
        cfg = yaml.safe_load(path.read_text())
        assert [c["class_path"] for c in cfg["trainer"]["callbacks"]] == [c["class_path"] for c in image_callbacks]
        assert cfg["data"]["init_args"]["representation"] == "points"
        assert cfg["data"]["init_args"]["jet_types"] == "g" and cfg["data"]["init_args"]["num_jets"] == 10000


@pytest.mark.parametrize("config", POINT_CONFIGS, ids=lambda p: p.stem)
def test_point_config_fast_dev_run(config, use_model_data):
    status = main(["fit", "--config", str(config), "--trainer.fast_dev_run", "2", "--data.init_args.num_jets", "60",
                   "--data.init_args.batch_size", "16", "--data.init_args.generation_workers", "1",
                   "--trainer.default_root_dir", str(use_model_data / "runs")])
    assert status == 0
