"""Reading intermediate activations through forward hooks (the l1 feature penalty and the sparsity
monitor)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn


def activation_of(out: Any) -> tuple[Tensor | None, int]:
    """(tensor, number of samples) from a module output: Tensor, SparseImage-like, or a tuple/list."""
    if isinstance(out, Tensor):
        return out, int(out.shape[0]) if out.ndim else 1
    if hasattr(out, "features") and isinstance(out.features, Tensor):
        return out.features, int(getattr(out, "batch_size", out.features.shape[0]))
    if isinstance(out, (tuple, list)) and out:
        return activation_of(out[0])
    return None, 0


def named_modules(modules: Mapping[str, nn.Module] | Sequence[nn.Module]) -> dict[str, nn.Module]:
    if isinstance(modules, Mapping):
        return dict(modules)
    return {str(i): m for i, m in enumerate(modules)}
