"""Sampling speed: jets/s of a model on a fixed number of torch threads, and network evaluations per jet.

The demo and ``bench/sampling_speed.py`` time a model here and Pythia8 + FastJet with
`sparsegen.data.generate.simulation_speed`, in the same process, one core each (docs/point_models.md,
"Few-step generation").
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from sparsegen.core.jets import Jets
from sparsegen.models.base import GenerativeModel


def network_evaluations(model: GenerativeModel, **overrides: Any) -> int:
    """Network evaluations per sampled jet: a flow's steps × its solver's stages × 2 with classifier-free
    guidance (a conditional and an unconditional pass), else 1 (one generator or decoder pass)."""
    from sparsegen.models.flow_matching import FlowMatching

    if not isinstance(model, FlowMatching):
        return 1
    h = {**model.hparams, **overrides}
    stages = 2 if h.get("solver", "midpoint") == "midpoint" else 1
    guided = 2 if float(h.get("guidance") or 0.0) > 0 else 1
    return int(h["num_steps"]) * stages * guided


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block on ``threads`` intra-op threads (the previous count is restored)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed_sample(model: GenerativeModel, num_jets: int, seed: int = 0, threads: int = 1,
                 batch_size: int = 1000, **overrides: Any) -> tuple[Jets, float]:
    """``num_jets`` jets from ``model.sample`` (the whole path to `Jets` in GeV) on ``threads`` torch
    threads, with sampling settings ``overrides`` (e.g. ``num_steps``, ``solver``) applied for the call, and
    the seconds they took, after a warm-up batch (first-call allocations are not sampling)."""
    unknown = [k for k in overrides if k not in model.hparams]
    if unknown:
        raise ValueError(f"{type(model).__name__} has no sampling setting {unknown}")
    saved = {k: model.hparams[k] for k in overrides}
    model.hparams.update(overrides)
    try:
        with torch_threads(threads):
            model.sample(min(200, num_jets), seed=seed + 99, batch_size=batch_size)
            start = time.perf_counter()
            jets = model.sample(num_jets, seed=seed, batch_size=batch_size)
            return jets, time.perf_counter() - start
    finally:
        model.hparams.update(saved)
