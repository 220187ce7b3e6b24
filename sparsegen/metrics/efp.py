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
element-wise into an existing u-x matrix. Every intermediate is named by a canonical key and computed
once, so a set of graphs compiles (once, cached) into one straight-line program: the 36 EFPs of degree
<= 4 take 65 tensor ops per chunk, 12 mat-vecs and a single batched matmul (theta diag(z) theta).
This handles every graph of tree-width <= 2, which includes all graphs with d <= 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
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

W1EFP_SET = "w1efp"  # the name of JetNet's W1EFP set
EFPSETS: dict[str, tuple[Graph, ...]] = {"d<=4": EFPS_D4, W1EFP_SET: EFPS_W1}

# (P, P) matrices alive per jet in a chunk (theta powers, cached products, temporaries): the chunk size is
# memory_budget // (P^2 * itemsize * _MATRICES_PER_JET) per worker. The work is memory-bound, so chunks
# that stay in cache win (docs/metrics.md "EFPs"): the 3e7-byte default makes chunks of 347 jets of 30
# particles, 13 of 150.
_MATRICES_PER_JET = 12


def efps(
    particles: Any,
    mask: Any = None,
    efpset: str | Sequence[Sequence[tuple[int, int]]] = "d<=4",
    dtype: torch.dtype = torch.float64,
    chunk_size: int | None = None,
    memory_budget: float = 3.0e7,
    device: str | torch.device | None = None,
    num_workers: int | None = None,
) -> np.ndarray:
    """EFPs of a batch of jets.

    Args:
        particles: (N, P, 3) [etarel, phirel, ptrel] (or JetNet's (N, P, 4) with the mask), Tensor or ndarray.
        mask: (N, P) bool, True for real particles (default: the 4th feature if given, else ptrel != 0).
        efpset: ``"d<=4"`` (36 EFPs, FPD/KPD features), ``"w1efp"`` (5 EFPs, n=4 d=4 prime) or a list of
            graphs given as edge lists ``[(i, j), ...]``.
        dtype: computation dtype (float64 reproduces energyflow, docs/metrics.md "EFPs"; float32 is faster).
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
            raise ValueError(
                f"unknown efpset {efpset!r}; use one of {sorted(EFPSETS)} or a list of edge lists"
            )
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


@dataclass(frozen=True)
class _Op:
    """One tensor operation of a plan: ``env[out] = kind(*env[args])``."""

    out: str
    kind: str  # "mul" (element-wise), "transpose", "matvec", "matmul" (A diag(w) B), "sum", "dot", "prod"
    args: tuple[str, ...]


@dataclass(frozen=True)
class _Plan:
    """Straight-line program computing a set of EFPs from ``z`` (B, P) and ``T1`` = theta (B, P, P)."""

    ops: tuple[_Op, ...]
    outputs: tuple[str, ...]
    free_after: tuple[tuple[str, ...], ...]  # keys no longer needed after each op (memory)


class _Planner:
    """Builds a :class:`_Plan` by graph reduction, naming every intermediate by a canonical key.

    Keys: ``z`` (vertex weights), ``T<k>`` (theta^k), ``[M@w]`` (mat-vec), ``z[..][..]`` (weights times
    messages), ``(A*w*B)`` (A diag(w) B), ``{A&B}`` (element-wise product), ``M'`` (transpose, never
    needed for symmetric matrices). Equal keys are computed once per chunk, across all graphs.
    """

    def __init__(self) -> None:
        self.ops: list[_Op] = []
        self.defined: set[str] = {"z", "T1"}
        self.symmetric: set[str] = {"T1"}

    def emit(self, out: str, kind: str, *args: str) -> str:
        if out not in self.defined:
            self.ops.append(_Op(out, kind, args))
            self.defined.add(out)
        return out

    def matrix(self, key: str) -> str:
        if key in self.defined:
            return key
        if key.endswith("'"):
            return self.emit(key, "transpose", self.matrix(key[:-1]))
        k = int(key[1:])  # "T<k>": theta^k (k parallel edges), by repeated products
        self.symmetric.add(key)
        return self.emit(key, "mul", self.matrix(f"T{k - 1}"), "T1")

    def weight(self, factors: list[str]) -> str:
        """Key of the vertex weight z * prod(messages)."""
        factors = sorted(factors)
        key = "z" + "".join(factors)
        if key in self.defined:
            return key
        return self.emit(key, "mul", self.weight(factors[:-1]), factors[-1])

    def message(self, mkey: str, wkey: str) -> str:
        return self.emit(f"[{mkey}@{wkey}]", "matvec", self.matrix(mkey), wkey)

    def transpose(self, key: str) -> str:
        if key in self.symmetric:
            return key
        return key[:-1] if key.endswith("'") else f"{key}'"

    def connected(self, edges: Graph) -> str:
        """Emit the ops of a connected multigraph; returns the key of its (B,) value."""
        if not edges:
            return self.emit("<sum z>", "sum", "z")
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

        def neighbours(v: int) -> list[int]:
            return [next(iter(e - {v})) for e in mats if v in e]

        while len(weights) > 2:
            leaves = [v for v in weights if len(neighbours(v)) == 1]
            if leaves:  # a leaf v on u: w_u *= M_uv @ w_v
                v = leaves[0]
                (u,) = neighbours(v)
                weights[u].append(self.message(oriented(u, v), self.weight(weights[v])))
                del mats[frozenset((u, v))], weights[v]
                continue
            deg2 = [v for v in weights if len(neighbours(v)) == 2]
            if not deg2:
                raise ValueError(f"graph {edges} has tree-width > 2; not supported")

            def product_key(v: int) -> tuple[str, int, int]:
                u, x = neighbours(v)
                return f"({oriented(u, v)}*{self.weight(weights[v])}*{oriented(v, x)})", u, x

            # a degree-2 vertex v between u and x: M_ux <- M_ux * (M_uv diag(w_v) M_vx); prefer one whose
            # matmul already exists (all d <= 4 graphs share theta diag(z) theta)
            v = next((c for c in deg2 if product_key(c)[0] in self.defined), deg2[0])
            pkey, u, x = product_key(v)
            a_key, b_key = oriented(u, v), oriented(v, x)
            if pkey not in self.defined and b_key == self.transpose(a_key):
                self.symmetric.add(pkey)
            self.emit(pkey, "matmul", self.matrix(a_key), self.weight(weights[v]), self.matrix(b_key))
            del mats[frozenset((u, v))], mats[frozenset((v, x))], weights[v]
            e = frozenset((u, x))
            if e in mats:
                okey = oriented(u, x)
                ckey = "{" + "&".join(sorted((okey, pkey))) + "}"
                if ckey not in self.defined and okey in self.symmetric and pkey in self.symmetric:
                    self.symmetric.add(ckey)
                mats[e] = (u, x, self.emit(ckey, "mul", self.matrix(okey), pkey))
            else:
                mats[e] = (u, x, pkey)
        if len(weights) == 1:
            (v,) = weights
            wkey = self.weight(weights[v])
            return self.emit(f"<sum {wkey}>", "sum", wkey)
        # two vertices left: w_u^T M w_v, reusing whichever of M @ w_v or M^T @ w_u already exists
        u, v = weights
        m_uv = oriented(u, v)
        wu, wv = self.weight(weights[u]), self.weight(weights[v])
        options = [(wu, m_uv, wv), (wv, self.transpose(m_uv), wu)]
        left, mkey, right = next((o for o in options if f"[{o[1]}@{o[2]}]" in self.defined),
                                 min(options, key=lambda o: len(o[2])))
        msg = self.message(mkey, right)
        return self.emit(f"<dot {left} {msg}>", "dot", left, msg)


@lru_cache(maxsize=16)
def _plan(graphs: tuple[Graph, ...]) -> _Plan:
    """Compile graphs into one straight-line program (disconnected graphs: product of components)."""
    planner = _Planner()
    outputs = []
    for graph in graphs:
        comps = sorted(planner.connected(_canonical(c)) for c in _components(graph))
        outputs.append(
            comps[0] if len(comps) == 1 else planner.emit("<prod " + " ".join(comps) + ">", "prod", *comps)
        )
    keep = set(outputs)
    last_use: dict[str, int] = {}
    for i, op in enumerate(planner.ops):
        for arg in op.args:
            last_use[arg] = i
    free: list[list[str]] = [[] for _ in planner.ops]
    for key, i in last_use.items():
        if key not in keep:
            free[i].append(key)
    return _Plan(tuple(planner.ops), tuple(outputs), tuple(tuple(f) for f in free))


def _run(plan: _Plan, z: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Execute a plan on one chunk: (B, num_graphs)."""
    env: dict[str, torch.Tensor] = {"z": z, "T1": theta}
    for op, free in zip(plan.ops, plan.free_after):
        a = [env[k] for k in op.args]
        if op.kind == "mul":
            out = a[0] * a[1]
        elif op.kind == "matvec":  # broadcast product and row sum: faster than bmm for one vector
            out = (a[0] * a[1].unsqueeze(-2)).sum(-1)
        elif op.kind == "matmul":
            out = (a[0] * a[1].unsqueeze(-2)) @ a[2]
        elif op.kind == "dot":
            out = (a[0] * a[1]).sum(-1)
        elif op.kind == "sum":
            out = a[0].sum(-1)
        elif op.kind == "transpose":
            out = a[0].transpose(-1, -2)
        else:  # "prod"
            out = a[0]
            for factor in a[1:]:
                out = out * factor
        env[op.out] = out
        for key in free:
            del env[key]
    return torch.stack([env[k] for k in plan.outputs], dim=-1)


def _efps_chunk(x: torch.Tensor, mask: torch.Tensor, graphs: tuple[Graph, ...]) -> torch.Tensor:
    """(B, num_graphs) EFPs of one chunk of (B, P, 3) particles."""
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    z = torch.where(mask, x[..., 2], zero)
    yphi = torch.where(mask[..., None], x[..., :2], zero)
    return _run(_plan(graphs), z, thetas(yphi))


def _canonical(edges: Graph) -> Graph:
    """Relabel vertices 0..n-1 in order of first appearance (so equal components share a cache key)."""
    labels: dict[int, int] = {}
    out = []
    for a, b in edges:
        la = labels.setdefault(a, len(labels))
        lb = labels.setdefault(b, len(labels))
        out.append((min(la, lb), max(la, lb)))
    return tuple(sorted(out))
