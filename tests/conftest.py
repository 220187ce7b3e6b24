"""Shared fixtures: small real Pythia8+FastJet samples, generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread per test: on a 2-core CI box, oversubscribed threads cost more than they gain."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def pythia_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pythia")


@pytest.fixture(scope="session")
def pythia_file(pythia_dir: Path):
    """``pythia_file(jet_type, num_jets, num_particles=30, seed=0)`` → path of a generated file (cached)."""
    from sparsegen.data.generate import GenerationConfig, generate

    def make(jet_type: str, num_jets: int, num_particles: int = 30, seed: int = 0) -> Path:
        path = pythia_dir / f"{jet_type}_{num_jets}_{num_particles}_{seed}.h5"
        if not path.exists():
            generate(GenerationConfig(jet_type, num_particles=num_particles, seed=seed), num_jets, path,
                     workers=1, progress=False)
        return path

    return make


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """last.ckpt of a 1-epoch sparse WGAN-GP fit on 60 generated gluon jets."""
    from sparsegen.cli import main

    root = Path(__file__).resolve().parents[1]
    tmp = tmp_path_factory.mktemp("ckpt")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPARSEGEN_DATA", str(tmp / "data"))
    try:
        status = main(["fit", "--config", str(root / "configs/images/wgan_gp_sparse.yaml"),
                       "--data.init_args.num_jets", "60", "--data.init_args.batch_size", "16",
                       "--data.init_args.generation_workers", "1", "--trainer.max_epochs", "1",
                       "--trainer.limit_train_batches", "2", "--trainer.default_root_dir", str(tmp / "run"),
                       "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"])
    finally:
        mp.undo()
    assert status == 0
    return tmp / "run" / "checkpoints" / "last.ckpt"
