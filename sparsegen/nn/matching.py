"""Optimal one-to-one matching of the real particles of two point sets (the Hungarian algorithm)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor


def hungarian_matching(cost: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per jet, the minimum-cost assignment between its real slots (``scipy.optimize.linear_sum_assignment``).

    ``cost`` (B, P, P): cost[b, i, j] of pairing slot i of the first set with slot j of the second; ``mask``
    (B, P) marks the real slots of both sets (same multiplicity). Returns LongTensors ``(jet, i, j)`` of all
    matched pairs, concatenated over jets (on ``cost``'s device). Solved on the CPU, no gradient.
    """
    costs = cost.detach().cpu().numpy()
    masks = mask.detach().cpu().numpy()
    jets, rows, cols = [], [], []
    for b in range(costs.shape[0]):
        real = np.flatnonzero(masks[b])
        if len(real) == 0:
            continue
        r, c = linear_sum_assignment(costs[b][np.ix_(real, real)])
        jets.append(np.full(len(r), b))
        rows.append(real[r])
        cols.append(real[c])
    if not jets:
        empty = torch.zeros(0, dtype=torch.long, device=cost.device)
        return empty, empty, empty
    return tuple(torch.as_tensor(np.concatenate(a), dtype=torch.long, device=cost.device)  # type: ignore[return-value]
                 for a in (jets, rows, cols))
