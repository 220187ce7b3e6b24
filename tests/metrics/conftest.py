"""Shared fixtures for the metrics tests: realistic fake jets, made in memory (never downloaded)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from sparsegen.jets import Jets


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
    jf = np.zeros((n, 5), np.float32)
    jf[:, 0] = 2
    jf[:, 1] = rng.uniform(800, 1200, n)
    jets = Jets(particles, mask)
    jf[:, 2] = jets.jet_features[:, 2]
    jf[:, 3] = jets.jet_features[:, 3] * jf[:, 1]
    jf[:, 4] = mult
    return Jets(particles, mask, jf)


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Metrics tests run single-threaded: the CI box has 2 cores shared with other jobs, and torch's
    intra-op threads slow down badly when cores are oversubscribed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
