"""Fixtures for the sparse-layer tests: tiny seeded sparse images and particle clouds."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from sparsegen.core.jets import Jets


def make_sparse_dense(
    b: int, c: int, h: int, w: int, occupancy: float, seed: int, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense (B, C, H, W) image that is zero outside a random active set, and its (B, 1, H, W) bool mask.

    Active sites have every channel non-zero (|v| >= 0.1) so the active set is exactly the mask.
    """
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(b, 1, h, w, generator=g) < occupancy
    vals = torch.rand(b, c, h, w, generator=g, dtype=dtype) * 0.9 + 0.1
    sign = torch.where(torch.rand(b, c, h, w, generator=g) < 0.5, -1.0, 1.0).to(dtype)
    return vals * sign * mask, mask


@pytest.fixture
def sparse_dense() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """Factory: ``sparse_dense(b, c, h, w, occupancy, seed)`` → (x, mask)."""
    return make_sparse_dense


def make_clouds(
    b: int, p: int, f: int, seed: int, min_particles: int = 1, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random particle clouds (B, P, F) with prefix masks of random multiplicity and garbage in padding."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, p, f, generator=g, dtype=dtype)
    n = torch.randint(min_particles, p + 1, (b,), generator=g)
    mask = torch.arange(p)[None, :] < n[:, None]
    x = torch.where(mask[..., None], x, torch.full_like(x, 1e3))
    return x, mask


@pytest.fixture
def clouds() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """Factory: ``clouds(b, p, f, seed)`` → (x, mask)."""
    return make_clouds


@pytest.fixture
def tiny_jets() -> Jets:
    """Eight random jets of up to 30 particles (seeded)."""
    rng = np.random.default_rng(7)
    n, p = 8, 30
    mult = rng.integers(5, p + 1, n)
    mask = np.arange(p)[None, :] < mult[:, None]
    pt = rng.exponential(1.0, (n, p))
    pt = np.where(mask, pt, 0.0)
    pt = -np.sort(-pt, axis=1)
    pt /= pt.sum(1, keepdims=True)
    parts = np.stack([rng.normal(0, 0.2, (n, p)), rng.normal(0, 0.2, (n, p)), pt], axis=-1)
    parts[~mask] = 0.0
    return Jets.from_particles(parts.astype(np.float32), mask, pt=1000.0)


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """Run each nn test on one torch thread (restored after): the tensors are tiny, and on a shared 2-core
    machine multi-threaded small ops stall on scheduling far more than they gain."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
