"""Shared fixtures: small real Pythia8+FastJet samples (generated once per test session), JetNet-like fake
jets made in memory, a tiny checkpoint."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sparsegen.core.jets import Jets

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")


# Fixtures that run Pythia generation or a Lightning fit: every test using one (directly or through another
# fixture) is marked slow; whole files of slow tests set ``pytestmark``, and the few slow tests of mixed files
# carry the mark themselves. `make test-fast` leaves them out (``-m "not slow"``).
SLOW_FIXTURES = {"pythia_dir", "pythia_file", "tiny_checkpoint", "conditional_ckpt", "model_data_dir",
                 "use_model_data"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def sigint_restored():
    """Each test leaves Ctrl-C as it found it: Lightning ignores SIGINT for good once a fit was interrupted,
    and a subprocess started later would inherit that (a command that cannot be interrupted)."""
    import signal

    handler, mask = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, set())
    yield
    signal.signal(signal.SIGINT, handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread per test: on a 2-core CI box, oversubscribed threads cost more than they gain."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def pythia_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One folder for the whole run, shared by the pytest-xdist workers (each file is generated once)."""
    if worker_id == "master":
        return tmp_path_factory.mktemp("pythia")
    shared = tmp_path_factory.getbasetemp().parent / "pythia"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def pythia_file(pythia_dir: Path):
    """``pythia_file(jet_type, num_jets, num_particles=30, seed=0)`` → path of a generated file (cached)."""
    from sparsegen.data.generate import GenerationConfig, generate

    def make(jet_type: str, num_jets: int, num_particles: int = 30, seed: int = 0) -> Path:
        path = pythia_dir / f"{jet_type}_{num_jets}_{num_particles}_{seed}.h5"
        with open(path.with_suffix(".lock"), "w") as lock:  # the other worker waits instead of redoing it
            fcntl.flock(lock, fcntl.LOCK_EX)
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


def fake_jets(n: int, seed: int = 0, num_particles: int = 30, min_mult: int = 20, max_mult: int = 30,
              two_prong_fraction: float = 0.5, width: tuple[float, float] = (0.1, 0.2)) -> Jets:
    """JetNet-like jets: multiplicities in [min_mult, max_mult], exponentially falling ptrel summing to ~1
    (sorted descending), Gaussian (eta, phi) with a per-jet width; a fraction of jets has two prongs."""
    rng = np.random.default_rng(seed)
    mult = rng.integers(min_mult, max_mult + 1, n)
    mask = np.arange(num_particles)[None, :] < mult[:, None]
    pt = rng.exponential(1.0, (n, num_particles)) ** 2 + 0.01
    pt = np.where(mask, pt, 0.0)
    pt = -np.sort(-pt, axis=1)
    pt = pt / pt.sum(1, keepdims=True) * rng.uniform(0.97, 1.0, (n, 1))
    sigma = rng.uniform(*width, (n, 1))
    eta = rng.normal(0.0, 1.0, (n, num_particles)) * sigma
    phi = rng.normal(0.0, 1.0, (n, num_particles)) * sigma
    two = rng.random(n) < two_prong_fraction
    sep = rng.uniform(0.25, 0.45, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    second = (rng.random((n, num_particles)) < 0.35) & two[:, None]
    eta = eta * np.where(two[:, None], 0.4, 1.0) + second * (sep * np.cos(angle))[:, None]
    phi = phi * np.where(two[:, None], 0.4, 1.0) + second * (sep * np.sin(angle))[:, None]
    particles = np.stack([eta, phi, pt], axis=-1).astype(np.float32)
    particles[~mask] = 0.0
    return Jets.from_particles(particles, mask, pt=rng.uniform(800, 1200, n), jet_type=2)


@pytest.fixture
def make_jets() -> Callable[..., Jets]:
    return fake_jets


@pytest.fixture(scope="session")
def real_jets() -> Jets:
    """5,000 fake real jets (session-wide; do not modify)."""
    return fake_jets(5000, seed=1)


@pytest.fixture(scope="session")
def real_jets_2() -> Jets:
    """An independent sample from the same distribution as ``real_jets``."""
    return fake_jets(5000, seed=2)
