"""Jet kinematics from relative particle coordinates (shared by `Jets` and the metrics)."""

from __future__ import annotations

import numpy as np


def jet_kinematics(particles: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
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
    jet_pt = np.hypot(px, py)
    m2 = e**2 - px**2 - py**2 - pz**2
    mass = np.sqrt(np.clip(m2, 0.0, None))
    jet_eta = np.arcsinh(np.divide(pz, jet_pt, out=np.zeros_like(pz), where=jet_pt > 0))
    return e, jet_pt, jet_eta, mass
