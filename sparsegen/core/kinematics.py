"""Jet kinematics and observables (shared by generation, `Jets` and the metrics).

Particles are massless and given as (etarel, phirel, ptrel); 4-vectors are
px = ptrel cos(phi), py = ptrel sin(phi), pz = ptrel sinh(eta), E = ptrel cosh(eta), so the jet pt and
mass computed from them are *relative* (units of the jet pT, JetNet's relative jet features, computed
without coffea): the functions say so in their names (``relative_mass`` = m / pT). `Jets.mass` is the
same quantity in GeV. ``four_vector_kinematics`` works on absolute [px, py, pz, E] (generation).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from sparsegen.core.defaults import NSUBJETTINESS_R0


def wrap_angle(dphi: np.ndarray) -> np.ndarray:
    """Azimuthal differences wrapped into [-pi, pi)."""
    return (np.asarray(dphi) + np.pi) % (2 * np.pi) - np.pi


def four_vector_kinematics(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pt, pseudorapidity, phi, mass) of (..., 4) [px, py, pz, E] rows (units of the input)."""
    p4 = np.asarray(p4, dtype=np.float64)
    px, py, pz, e = p4[..., 0], p4[..., 1], p4[..., 2], p4[..., 3]
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    mass = np.sqrt(np.clip(e**2 - px**2 - py**2 - pz**2, 0.0, None))
    return pt, eta, phi, mass


def relative_kinematics(particles: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """4-vector sum of massless particles given as (etarel, phirel, ptrel).

    Returns (E, pt, eta, mass) of the jet in units of the jet pT, as JetNet's ``jet_features``
    utilities compute the relative jet mass and pT (px = ptrel cos phi, py = ptrel sin phi,
    pz = ptrel sinh eta, E = ptrel cosh eta). float64 internally.
    """
    p = np.asarray(particles, dtype=np.float64)
    eta, phi, pt = p[..., 0], p[..., 1], p[..., 2]
    if mask is not None:
        pt = np.where(np.asarray(mask, bool), pt, 0.0)
    px = (pt * np.cos(phi)).sum(-1)
    py = (pt * np.sin(phi)).sum(-1)
    pz = (pt * np.sinh(eta)).sum(-1)
    e = (pt * np.cosh(eta)).sum(-1)
    relative_pt = np.hypot(px, py)
    m2 = e**2 - px**2 - py**2 - pz**2
    mass = np.sqrt(np.clip(m2, 0.0, None))
    jet_eta = np.arcsinh(np.divide(pz, relative_pt, out=np.zeros_like(pz), where=relative_pt > 0))
    return e, relative_pt, jet_eta, mass


def with_unit_pt(particles: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(etarel, phirel, ptrel) particles with ptrel rescaled per jet so the particles' vector pT sum is 1 (the
    jet pT; jets with a zero sum are left as they are). A jet that keeps every constituent satisfies this
    by definition."""
    _, relative_pt, _, _ = relative_kinematics(particles, mask)
    scale = np.divide(1.0, relative_pt, out=np.ones_like(relative_pt), where=relative_pt > 0)
    out = np.array(particles, copy=True)
    out[..., 2] = (out[..., 2] * scale[:, None]).astype(out.dtype)
    return out


def as_particles(jets: Any, mask: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(particles (N,P,3) float32 or float64, mask (N,P) bool) from `Jets`, a Tensor or an ndarray.

    Arrays with 4 features are read as JetNet's [etarel, phirel, ptrel, mask]. Without a mask, particles
    with ptrel != 0 are real. Masked slots are zeroed.
    """
    if hasattr(jets, "particles") and hasattr(jets, "mask"):
        x, m = np.asarray(jets.particles), np.asarray(jets.mask, bool)
    else:
        x = jets.detach().cpu().numpy() if hasattr(jets, "detach") else np.asarray(jets)
        if x.ndim != 3 or x.shape[-1] not in (3, 4):
            raise ValueError(f"particles must have shape (N, P, 3) or (N, P, 4), got {x.shape}")
        if mask is not None:
            m = mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
            m = m.reshape(x.shape[:2]).astype(bool)
        elif x.shape[-1] == 4:
            m = x[..., 3] > 0.5
        else:
            m = x[..., 2] != 0
        x = x[..., :3]
    x = np.where(m[..., None], x, 0.0).astype(np.result_type(x.dtype, np.float32), copy=False)
    return x, m


def relative_mass(particles: Any, mask: Any = None) -> np.ndarray:
    """Relative jet mass m_jet / pT_jet (N,) float64, as JetNet's ``jet_features(...)["mass"]``."""
    x, m = as_particles(particles, mask)
    return relative_kinematics(x, m)[3]


def relative_pt(particles: Any, mask: Any = None) -> np.ndarray:
    """Relative jet pT (N,) float64 (1 when all particles of the jet are kept)."""
    x, m = as_particles(particles, mask)
    return relative_kinematics(x, m)[1]


def multiplicity(particles: Any, mask: Any = None) -> np.ndarray:
    """Number of real particles per jet (N,) int64."""
    return as_particles(particles, mask)[1].sum(1).astype(np.int64)


def nsubjettiness(particles: Any, mask: Any = None, n_max: int = 3, beta: float = 1.0,
                  r0: float = NSUBJETTINESS_R0) -> np.ndarray:
    """N-subjettiness tau_1..tau_{n_max} (N, n_max) float64 with exclusive-kT axes.

    tau_N = sum_i pt_i min_k dR_ik^beta / (sum_i pt_i r0^beta) (fastjet-contrib ``NormalizedMeasure``),
    dR^2 = (y_axis - eta_i)^2 + dphi^2. Axes are FastJet's exclusive kT jets (R = max allowable, E-scheme,
    as contrib's ``KT_Axes``); the N=1 axis is the jet 4-momentum. Jets with <= N particles have tau_N = 0.
    """
    x, m = as_particles(particles, mask)
    x = x.astype(np.float64)
    eta, phi, pt = x[..., 0], x[..., 1], np.where(m, x[..., 2], 0.0)
    n_jets = len(x)
    counts = m.sum(1)
    norm = pt.sum(1) * r0**beta
    taus = np.zeros((n_jets, n_max))
    axes_of = subjet_axes(x, m, n_max)
    for n in range(1, n_max + 1):
        idx = np.flatnonzero(counts > n)
        if idx.size == 0:
            continue
        y_ax, phi_ax = (a[idx] for a in axes_of[n])
        dphi = wrap_angle(phi[idx, :, None] - phi_ax[:, None, :])
        dr2 = (eta[idx, :, None] - y_ax[:, None, :]) ** 2 + dphi**2
        dmin = np.min(dr2, axis=-1) ** (beta / 2)
        taus[idx, n - 1] = (pt[idx] * dmin).sum(1) / norm[idx]
    return taus


def subjet_axes(particles: Any, mask: Any = None, n_max: int = 3) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{N: (rapidity, phi) of the N-subjettiness axes, each (B, N)} for N = 1..``n_max``, as `nsubjettiness`
    takes them (N = 1: the jet; N >= 2: exclusive kT). Rows of jets with <= N particles are zero."""
    x, m = as_particles(particles, mask)
    x = x.astype(np.float64)
    p4 = _four_vectors(x, m)
    out = {1: _rapidity_phi(p4.sum(1, keepdims=True))}
    clustered = np.flatnonzero(m.sum(1) > 2)  # every jet that needs axes for N >= 2: clustered once
    axes_of = _exclusive_kt_axes(p4[clustered], m[clustered], range(2, n_max + 1)) if clustered.size else {}
    for n in range(2, n_max + 1):
        axes = np.zeros((len(x), n, 4))
        if clustered.size:
            axes[clustered] = axes_of[n]
        out[n] = _rapidity_phi(axes)
    return out


def tau_ratios(
    particles: Any, mask: Any = None, beta: float = 1.0, r0: float = NSUBJETTINESS_R0
) -> tuple[np.ndarray, np.ndarray]:
    """(tau21, tau32) per jet (N,) each; a ratio with a zero denominator is 0."""
    taus = nsubjettiness(particles, mask, n_max=3, beta=beta, r0=r0)
    return _safe_ratio(taus[:, 1], taus[:, 0]), _safe_ratio(taus[:, 2], taus[:, 1])


def _safe_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def _four_vectors(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(N, P, 4) [px, py, pz, E] of massless particles (zero for masked slots)."""
    eta, phi, pt = x[..., 0], x[..., 1], np.where(m, x[..., 2], 0.0)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], axis=-1)


def _rapidity_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rapidity and phi of (..., 4) [px, py, pz, E] vectors."""
    px, py, pz, e = p4[..., 0], p4[..., 1], p4[..., 2], p4[..., 3]
    y = 0.5 * np.log(np.clip(e + pz, 1e-300, None) / np.clip(e - pz, 1e-300, None))
    return y, np.arctan2(py, px)


def _exclusive_kt_axes(p4: np.ndarray, mask: np.ndarray, ns: range) -> dict[int, np.ndarray]:
    """{n: (B, n, 4) exclusive kT jets} of each jet's particles via FastJet, one clustering for all n.

    A jet with fewer than n particles gets zero rows for that n (its tau_n is never used).
    """
    import awkward as ak
    import fastjet

    counts = mask.sum(1)
    flat = p4[mask]
    events = ak.zip({k: ak.unflatten(flat[:, i], counts) for i, k in enumerate(("px", "py", "pz", "E"))})
    jetdef = fastjet.JetDefinition(fastjet.kt_algorithm, fastjet.JetDefinition.max_allowable_R)
    with warnings.catch_warnings(), quiet_stdout():
        warnings.simplefilter("ignore")  # fastjet warns about exclusive jets for every algorithm
        sequence = fastjet.ClusterSequence(events, jetdef)
        out = {}
        for n in ns:
            out[n] = np.zeros((len(p4), n, 4))
            enough = counts >= n  # FastJet refuses more exclusive jets than particles
            seq = sequence if enough.all() else fastjet.ClusterSequence(events[enough], jetdef)
            jets = seq.exclusive_jets(n_jets=n)
            out[n][enough] = np.stack([ak.to_numpy(jets[k]) for k in ("px", "py", "pz", "E")], axis=-1)
    return out


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence FastJet's C++ banner (printed once, on the first clustering) at the file-descriptor level."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
