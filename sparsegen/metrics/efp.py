"""Energy Flow Polynomials (EFPs) in batched, vectorized PyTorch.

An EFP of a multigraph G with vertices 1..n and edges E is (Komiske, Metodiev, Thaler 2018)

    EFP_G = sum_{i_1..i_n} z_{i_1} ... z_{i_n} prod_{(k,l) in E} theta_{i_k i_l}

with the hadronic measure used by JetNet (energyflow ``measure="hadr", beta=1, normed=None,
coords="ptyphim"``): z_i = ptrel_i (not renormalised) and
theta_ij = ((y_i - y_j)^2 + dphi_ij^2)^(beta/2), dphi_ij = pi - | |phi_i - phi_j| - pi |
(energyflow's periodic phi difference). Particles are passed as (pt=ptrel, y=etarel, phi=phirel).

Evaluation: a disconnected graph is the product of its connected components. A connected graph is
reduced by variable elimination on P-vectors and (P, P) matrices per jet: a leaf vertex v hanging on u
by a matrix M becomes the vertex weight factor ``w_u *= M @ w_v`` (a batched mat-vec); a degree-2
vertex v between u and x becomes the matrix ``M_uv diag(w_v) M_vx`` (a batched matmul), multiplied
element-wise into an existing u-x matrix. Every intermediate is cached by a canonical key, so the
36 EFPs of degree <= 4 need ~20 mat-vecs and a single batched matmul (theta diag(z) theta) per chunk.
This handles every graph of tree-width <= 2, which includes all graphs with d <= 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

Graph = tuple[tuple[int, int], ...]

# Edge lists of energyflow 1.4 ``EFPSet("d<=4", measure="hadr", beta=1, normed=None,
# coords="ptyphim").graphs()``, in that EFPSet's order (n, then d, then graph index); checked against
# energyflow in tests/metrics/test_efp.py.
EFPS_D4: tuple[Graph, ...] = (
    (),
    ((0, 1),),
    ((0, 1), (0, 1)),
    ((0, 1), (0, 1), (0, 1)),
    ((0, 1), (0, 1), (0, 1), (0, 1)),
    ((0, 1), (0, 2)),
    ((0, 1), (0, 2), (0, 2)),
    ((0, 1), (0, 2), (0, 2), (0, 2)),
    ((0, 1), (0, 1), (0, 2), (0, 2)),
    ((0, 1), (0, 2), (1, 2)),
    ((0, 1), (0, 2), (0, 2), (1, 2)),
    ((0, 1), (0, 2), (0, 3)),
    ((0, 1), (0, 2), (0, 2), (0, 3)),
    ((0, 1), (0, 2), (1, 3)),
    ((0, 1), (0, 2), (0, 2), (1, 3)),
    ((0, 1), (0, 1), (0, 2), (1, 3)),
    ((0, 1), (0, 2), (1, 2), (0, 3)),
    ((0, 1), (0, 2), (1, 3), (2, 3)),
    ((0, 1), (0, 2), (0, 3), (0, 4)),
    ((0, 1), (0, 2), (0, 3), (1, 4)),
    ((0, 1), (0, 2), (1, 3), (2, 4)),
    ((0, 1), (2, 3)),
    ((0, 1), (2, 3), (2, 3)),
    ((0, 1), (2, 3), (2, 3), (2, 3)),
    ((0, 1), (0, 1), (2, 3), (2, 3)),
    ((0, 1), (2, 3), (2, 4)),
    ((0, 1), (0, 1), (2, 3), (2, 4)),
    ((0, 1), (2, 3), (2, 4), (2, 4)),
    ((0, 1), (2, 3), (2, 4), (3, 4)),
    ((0, 1), (2, 3), (4, 5)),
    ((0, 1), (2, 3), (2, 4), (2, 5)),
    ((0, 1), (2, 3), (2, 4), (3, 5)),
    ((0, 1), (0, 2), (3, 4), (3, 5)),
    ((0, 1), (2, 3), (4, 5), (4, 5)),
    ((0, 1), (2, 3), (4, 5), (4, 6)),
    ((0, 1), (2, 3), (4, 5), (6, 7)),
)

# The 5 prime EFPs with n=4, d=4 used by JetNet's W1-EFP: energyflow
# ``EFPSet(("n==", 4), ("d==", 4), ("p==", 1), ...)``, i.e. entries 12, 14, 15, 16, 17 of EFPS_D4.
W1EFP_INDICES: tuple[int, ...] = (12, 14, 15, 16, 17)
EFPS_W1: tuple[Graph, ...] = tuple(EFPS_D4[i] for i in W1EFP_INDICES)

EFPSETS: dict[str, tuple[Graph, ...]] = {"d<=4": EFPS_D4, "w1efp": EFPS_W1}

# (P, P) matrices alive per jet in a chunk (theta powers, cached products, temporaries): the chunk size is
# memory_budget // (P^2 * itemsize * _MATRICES_PER_JET) per worker; the 1e8-byte default gives ~1150 jets of 30
# particles (cache-friendly, fastest on CPU) and ~45 jets of 150 particles.
_MATRICES_PER_JET = 12


def efps(
    particles: Any,
    mask: Any = None,
    efpset: str | Sequence[Sequence[tuple[int, int]]] = "d<=4",
    dtype: torch.dtype = torch.float64,
    chunk_size: int | None = None,
    memory_budget: float = 1.0e8,
    device: str | torch.device | None = None,
    num_workers: int | None = None,
) -> np.ndarray:
    """EFPs of a batch of jets.

    Args:
        particles: (N, P, 3) [etarel, phirel, ptrel] (or JetNet's (N, P, 4) with the mask), Tensor or ndarray.
        mask: (N, P) bool, True for real particles (default: the 4th feature if given, else ptrel != 0).
        efpset: ``"d<=4"`` (36 EFPs, FPD/KPD features), ``"w1efp"`` (5 EFPs, n=4 d=4 prime) or a list of
            graphs given as edge lists ``[(i, j), ...]``.
        dtype: computation dtype (float64 reproduces energyflow to ~1e-12; float32 is ~2x faster).
        chunk_size: jets per chunk (default: from ``memory_budget`` bytes of (P, P) matrices).
        device: torch device (default: the input tensor's device, else CPU).
        num_workers: CPU worker threads, one chunk each (default: ``torch.get_num_threads()``); torch's
            intra-op threads are set to 1 while they run and restored afterwards.

    Returns:
        (N, num_efps) float64 ndarray, columns in energyflow's EFPSet order.
    """
    graphs = _resolve_graphs(efpset)
    x = torch.as_tensor(particles)
    if device is None:
        device = x.device
    if x.ndim != 3 or x.shape[-1] < 3:
        raise ValueError(f"particles must have shape (N, P, 3), got {tuple(x.shape)}")
    n, p = x.shape[0], x.shape[1]
    if mask is not None:
        m = torch.as_tensor(mask, device=x.device).reshape(n, p).bool()
    elif x.shape[-1] >= 4:  # JetNet layout: [etarel, phirel, ptrel, mask]
        m = x[..., 3] > 0.5
    else:
        m = x[..., 2] != 0
    if chunk_size is None:
        itemsize = torch.finfo(dtype).bits // 8
        chunk_size = max(1, int(memory_budget // (max(p, 1) ** 2 * itemsize * _MATRICES_PER_JET)))
    out = torch.empty((n, len(graphs)), dtype=torch.float64)
    slices = [slice(start, start + chunk_size) for start in range(0, n, chunk_size)]

    def run(sl: slice) -> torch.Tensor:
        with torch.no_grad():
            chunk = x[sl, :, :3].to(device=device, dtype=dtype)
            return _efps_chunk(chunk, m[sl].to(device), graphs).to("cpu", torch.float64)

    workers = torch.get_num_threads() if num_workers is None else num_workers
    if torch.device(device).type != "cpu" or workers <= 1 or len(slices) <= 1:
        for sl in slices:
            out[sl] = run(sl)
        return out.numpy()
    # CPU: one chunk per worker thread, each op single-threaded. Torch releases the GIL inside ops, so the
    # cores stay busy without OpenMP barriers after every small op (which stall badly on shared cores).
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with ThreadPoolExecutor(workers) as pool:
            for sl, values in zip(slices, pool.map(run, slices)):
                out[sl] = values
    finally:
        torch.set_num_threads(threads)
    return out.numpy()


def thetas(yphi: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """(B, P, P) angular distances ((dy)^2 + dphi^2)^(beta/2) with energyflow's periodic dphi.

    When every jet spans at most pi in phi (always, for relative coordinates) no pair needs the periodic
    wrap and a fused ``cdist`` (exact differences, no matrix-product shortcut) gives the same numbers.
    """
    phi = yphi[..., 1]
    if yphi.shape[-2] == 0 or bool(((phi.amax(-1) - phi.amin(-1)) <= torch.pi).all()):
        d = torch.cdist(yphi, yphi, compute_mode="donot_use_mm_for_euclid_dist")
        return d if beta == 1.0 else d**beta
    dy = yphi[..., :, None, 0] - yphi[..., None, :, 0]
    dphi = (yphi[..., :, None, 1] - yphi[..., None, :, 1]).abs()
    dphi = torch.pi - (dphi - torch.pi).abs()
    d2 = dy * dy + dphi * dphi
    return d2.sqrt() if beta == 1.0 else d2 ** (beta / 2)


def _resolve_graphs(efpset: str | Sequence[Sequence[tuple[int, int]]]) -> tuple[Graph, ...]:
    if isinstance(efpset, str):
        if efpset not in EFPSETS:
            raise ValueError(f"unknown efpset {efpset!r}; use one of {sorted(EFPSETS)} or a list of edge lists")
        return EFPSETS[efpset]
    return tuple(tuple((int(a), int(b)) for a, b in g) for g in efpset)


def _components(graph: Graph) -> list[Graph]:
    """Connected components of a multigraph given by its edge list (an empty graph is one vertex)."""
    if not graph:
        return [()]
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    for a, b in graph:
        parent[find(a)] = find(b)
    groups: dict[int, list[tuple[int, int]]] = {}
    for a, b in graph:
        groups.setdefault(find(a), []).append((a, b))
    return [tuple(edges) for edges in groups.values()]


class _Evaluator:
    """Evaluates connected graphs on one chunk, caching every intermediate vector and matrix by key.

    Keys are canonical strings of the computation: ``z`` (vertex weights), ``T<k>`` (theta^k),
    ``[M@w]`` (mat-vec), ``z[..][..]`` (weights times messages), ``(A*w*B)`` (A diag(w) B),
    ``{A&B}`` (element-wise product) and ``M'`` (transpose, never needed for symmetric matrices).
    """

    def __init__(self, z: torch.Tensor, theta: torch.Tensor) -> None:
        self.cache: dict[str, torch.Tensor] = {"z": z, "T1": theta}
        self.symmetric: set[str] = {"T1", "T2", "T3", "T4"}
        self.theta = theta

    # ------------------------------------------------------------ primitives
    def matrix(self, key: str) -> torch.Tensor:
        if key not in self.cache:
            if key.endswith("'"):
                self.cache[key] = self.matrix(key[:-1]).transpose(-1, -2)
            else:  # "T<k>": theta to the k-th power (k parallel edges), by repeated products
                k = int(key[1:])
                self.symmetric.add(key)
                self.cache[key] = self.matrix(f"T{k - 1}") * self.theta
        return self.cache[key]

    def weight(self, factors: list[str]) -> str:
        """Key of the vertex weight z * prod(messages) (computed on first use)."""
        factors = sorted(factors)
        key = "z" + "".join(factors)
        if key not in self.cache:
            self.cache[key] = self.vector(self.weight(factors[:-1])) * self.cache[factors[-1]]
        return key

    def vector(self, key: str) -> torch.Tensor:
        return self.cache[key]

    def message(self, mkey: str, wkey: str) -> str:
        """Key of the mat-vec M @ w (computed as a broadcast product and row sum)."""
        key = f"[{mkey}@{wkey}]"
        if key not in self.cache:
            self.cache[key] = (self.matrix(mkey) * self.vector(wkey).unsqueeze(-2)).sum(-1)
        return key

    def transpose(self, key: str) -> str:
        if key in self.symmetric:
            return key
        return key[:-1] if key.endswith("'") else f"{key}'"

    # ------------------------------------------------------------ reduction
    def connected(self, edges: Graph) -> torch.Tensor:
        """Value (B,) of a connected multigraph."""
        if not edges:
            return self.cache["z"].sum(-1)
        weights: dict[int, list[str]] = {}
        mats: dict[frozenset[int], tuple[int, int, str]] = {}  # {u, v} -> (u, v, key of M_uv)
        mult: dict[frozenset[int], int] = {}
        for a, b in edges:
            weights.setdefault(a, [])
            weights.setdefault(b, [])
            mult[frozenset((a, b))] = mult.get(frozenset((a, b)), 0) + 1
        for e, k in mult.items():
            a, b = sorted(e)
            mats[e] = (a, b, f"T{k}")

        def oriented(u: int, v: int) -> str:
            a, _, key = mats[frozenset((u, v))]
            return key if a == u else self.transpose(key)

        def wkey(v: int) -> str:
            return self.weight(weights[v])

        def neighbours(v: int) -> list[int]:
            return [next(iter(e - {v})) for e in mats if v in e]

        while len(weights) > 2:
            leaves = [v for v in weights if len(neighbours(v)) == 1]
            if leaves:
                v = leaves[0]
                (u,) = neighbours(v)
                weights[u].append(self.message(oriented(u, v), wkey(v)))
                del mats[frozenset((u, v))], weights[v]
                continue
            deg2 = [v for v in weights if len(neighbours(v)) == 2]
            if not deg2:
                raise ValueError(f"graph {edges} has tree-width > 2; not supported")

            def product_key(v: int) -> tuple[str, int, int]:
                u, x = neighbours(v)
                return f"({oriented(u, v)}*{wkey(v)}*{oriented(v, x)})", u, x

            # prefer an elimination whose matmul is already cached (shares theta diag(z) theta)
            v = next((c for c in deg2 if product_key(c)[0] in self.cache), deg2[0])
            pkey, u, x = product_key(v)
            a_key, b_key = oriented(u, v), oriented(v, x)
            if pkey not in self.cache:
                self.cache[pkey] = (self.matrix(a_key) * self.vector(wkey(v)).unsqueeze(-2)) @ self.matrix(b_key)
                if b_key == self.transpose(a_key):
                    self.symmetric.add(pkey)
            del mats[frozenset((u, v))], mats[frozenset((v, x))], weights[v]
            e = frozenset((u, x))
            if e in mats:
                okey = oriented(u, x)
                ckey = "{" + "&".join(sorted((okey, pkey))) + "}"
                if ckey not in self.cache:
                    self.cache[ckey] = self.matrix(okey) * self.cache[pkey]
                    if okey in self.symmetric and pkey in self.symmetric:
                        self.symmetric.add(ckey)
                mats[e] = (u, x, ckey)
            else:
                mats[e] = (u, x, pkey)
        if len(weights) == 1:
            (v,) = weights
            return self.vector(wkey(v)).sum(-1)
        # two vertices left: w_u^T M w_v, reusing whichever of M @ w_v or M^T @ w_u is cached
        u, v = weights
        m_uv = oriented(u, v)
        options = [(wkey(u), m_uv, wkey(v)), (wkey(v), self.transpose(m_uv), wkey(u))]
        left, mkey, right = next((o for o in options if f"[{o[1]}@{o[2]}]" in self.cache),
                                 min(options, key=lambda o: len(o[2])))
        return (self.vector(left) * self.cache[self.message(mkey, right)]).sum(-1)


def _efps_chunk(x: torch.Tensor, mask: torch.Tensor, graphs: tuple[Graph, ...]) -> torch.Tensor:
    """(B, num_graphs) EFPs of one chunk of (B, P, 3) particles."""
    z = torch.where(mask, x[..., 2], torch.zeros((), dtype=x.dtype, device=x.device))
    yphi = torch.where(mask[..., None], x[..., :2], torch.zeros((), dtype=x.dtype, device=x.device))
    ev = _Evaluator(z, thetas(yphi))
    comp_values: dict[Graph, torch.Tensor] = {}
    cols = []
    for graph in graphs:
        value = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
        for comp in _components(graph):
            key = _canonical(comp)
            if key not in comp_values:
                comp_values[key] = ev.connected(key)
            value = value * comp_values[key]
        cols.append(value)
    return torch.stack(cols, dim=-1)


def _canonical(edges: Graph) -> Graph:
    """Relabel vertices 0..n-1 in order of first appearance (so equal components share a cache key)."""
    labels: dict[int, int] = {}
    out = []
    for a, b in edges:
        la = labels.setdefault(a, len(labels))
        lb = labels.setdefault(b, len(labels))
        out.append((min(la, lb), max(la, lb)))
    return tuple(sorted(out))
