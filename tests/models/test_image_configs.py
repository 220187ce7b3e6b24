"""Every image config runs under fast_dev_run through `sparsegen.cli.main` (CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparsegen.cli import main

ROOT = Path(__file__).resolve().parents[2]
IMAGE_CONFIGS = sorted((ROOT / "configs" / "images").glob("*.yaml"))


def test_all_six_image_configs_exist():
    names = {p.stem for p in IMAGE_CONFIGS}
    assert names >= {"wgan_gp_dense", "wgan_gp_sparse", "vae_dense", "vae_sparse", "vae_hurdle", "vae_ista"}


@pytest.mark.parametrize("config", IMAGE_CONFIGS, ids=lambda p: p.stem)
def test_config_fast_dev_run(config, use_model_data):
    status = main(["fit", "--config", str(config), "--trainer.fast_dev_run", "2", "--data.init_args.num_jets", "60",
                   "--data.init_args.batch_size", "16", "--data.init_args.generation_workers", "1",
                   "--trainer.default_root_dir", str(use_model_data / "runs")])
    assert status == 0
