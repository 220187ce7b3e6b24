"""Stand-in for ``torch_cluster.knn_graph``, installed only into the JetNet bench venv
(``bench/jetnet_env.sh``).

The real ``torch_cluster`` ships no PyPI wheels. JetNet's FPND ParticleNet calls only
``knn_graph(x, k, batch)`` (``loop=False``, ``flow="source_to_target"``), so this package provides exactly
that: for every node i, its k nearest *other* nodes of the same graph by Euclidean distance, as edges
``(j -> i)``: row 0 holds the neighbours j, row 1 the centre i. Distances come from an exact KD-tree search
in float64 (scipy), the same kind of search torch_cluster does on CPU, and deliberately not the
``torch.cdist`` + ``topk`` that sparsegen uses, so the bench compares two independent neighbour searches.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

__all__ = ["knn_graph"]


def knn_graph(x: torch.Tensor, k: int, batch: torch.Tensor | None = None, loop: bool = False,
              flow: str = "source_to_target", cosine: bool = False, num_workers: int = 1,
              batch_size: int | None = None) -> torch.Tensor:
    """(2, E) long tensor of the k-nearest-neighbour graph of ``x`` (N, D) within each ``batch`` graph."""
    if cosine:
        raise NotImplementedError("cosine distance is not provided by this stand-in")
    if flow not in ("source_to_target", "target_to_source"):
        raise ValueError(f"unknown flow {flow!r}")
    pts = x.detach().cpu().double().numpy()
    graph = np.zeros(len(pts), dtype=np.int64) if batch is None else batch.detach().cpu().numpy()
    starts = np.flatnonzero(np.r_[True, graph[1:] != graph[:-1]])
    ends = np.r_[starts[1:], len(pts)]
    sources, targets = [], []
    for s, e in zip(starts, ends):
        n = e - s
        kk = min(k if loop else k + 1, n)
        _, idx = cKDTree(pts[s:e]).query(pts[s:e], k=kk)
        idx = np.asarray(idx).reshape(n, kk)
        if not loop:  # drop the node itself; where ties hid it, drop the farthest instead
            keep = idx != np.arange(n)[:, None]
            keep[keep.all(1), -1] = False
            idx = idx[keep].reshape(n, kk - 1)
        sources.append(idx.reshape(-1) + s)
        targets.append(np.repeat(np.arange(n) + s, idx.shape[1]))
    row, col = np.concatenate(sources), np.concatenate(targets)
    edge = np.stack([row, col]) if flow == "source_to_target" else np.stack([col, row])
    return torch.from_numpy(edge).to(x.device)
