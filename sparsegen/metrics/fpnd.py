"""Fréchet ParticleNet Distance (FPND): JetNet's published score against real JetNet jets.

FPND (Kansal et al. 2021, arXiv:2106.11535) passes 30-particle jets through a ParticleNet classifier that
JetNet trained on its real g/q/t/w/z jets and takes the Fréchet distance between the Gaussian of the
256 penultimate activations of the sample and the one JetNet stored for real jets of the same class.
The real statistics and the weights ship with the ``jetnet`` wheel; sparsegen never depends on
``jetnet``, it reads the folder::

    pip download --no-deps jetnet==0.2.5 && unzip jetnet-0.2.5-py3-none-any.whl 'jetnet/*'
    → jetnet/evaluation/fpnd_resources/jetnet/30_particles/{pnet_state_dict.pt, {g,q,t}_{mu,sigma}.txt}

Everything below reproduces JetNet 0.2.5's ``jetnet.evaluation.fpnd`` (checked by ``bench/fpnd_vs_jetnet.py``
against the library itself; its agreement: physics_data/README.md):

* input: (N, 30, 3) [etarel, phirel, ptrel], padded slots zero (the mask is not an input); each feature
  divided by JetNet's stored maximum |value| (``JetNet.fpnd_norm``: 1.6212, 0.5207, 0.8935), then 0.5
  subtracted from ptrel;
* network: 3 EdgeConv blocks, k = 16 nearest other particles of the same jet (the first block on
  (eta, phi) only, the others on all current features), edge MLP on [x_i, x_j − x_i] of three
  Linear–BatchNorm–ReLU layers (64, 128, 256 wide), mean over the neighbours, the input concatenated
  after the block output (skip connection: 3 → 67 → 195 → 451 features), mean over the 30 particles,
  then ``fc1`` (451 → 256) without activation: the FPND activations;
* statistics: the first 50,000 jets at most (JetNet's ``NUM_SAMPLES``), mean and unbiased covariance
  (``np.cov``), Fréchet distance to the stored mean/covariance of the class. FPND is biased upward at
  small N (the sample covariance's noise adds to the trace term): publish it at >= 20,000 jets.

The neighbour search is ``torch.cdist`` (exact differences, no matrix-product shortcut) + ``topk`` inside
each jet; JetNet uses torch_cluster's ``knn_graph``. Both exclude the particle itself.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sparsegen.core.defaults import JET_TYPE_INDEX, JET_TYPES
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.metrics.distances import frechet_distance

FPND_CLASSES: tuple[str, ...] = ("g", "q", "t")
NUM_PARTICLES = 30
NUM_FEATURES = 3
MAX_JETS = 50_000
FEATURE_MAXES = (1.6211985349655151, 0.520724892616272, 0.8934717178344727)  # JetNet.fpnd_norm
PTREL_SHIFT = -0.5
K = 16
BLOCK_WIDTHS = (64, 128, 256)
FC_WIDTH = 256
NUM_CLASSES = 5
SUBFOLDER = Path("jetnet") / f"{NUM_PARTICLES}_particles"
WEIGHTS = "pnet_state_dict.pt"


# ----------------------------------------------------------------------------------------- network
class EdgeNet(nn.Module):
    """Edge MLP of one EdgeConv block: [x_i, x_j - x_i] (2F) → width, three Linear–BatchNorm–ReLU layers."""

    def __init__(self, in_features: int, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for fan_in in (2 * in_features, width, width):
            layers += [nn.Linear(fan_in, width), nn.BatchNorm1d(width), nn.ReLU()]
        self.model = nn.Sequential(*layers)

    def forward(self, edges: torch.Tensor) -> torch.Tensor:
        return self.model(edges)


class EdgeConv(nn.Module):
    """Mean over the k neighbours j of ``nn([x_i, x_j - x_i])`` (the ``nn`` name matches JetNet's keys)."""

    def __init__(self, net: EdgeNet) -> None:
        super().__init__()
        self.nn = net

    def forward(self, x: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
        """x (B, P, F), neighbours (B, P, k) indices into P → (B, P, width)."""
        b, p, f = x.shape
        k = neighbours.shape[-1]
        x_j = torch.gather(x.unsqueeze(1).expand(b, p, p, f), 2, neighbours.unsqueeze(-1).expand(b, p, k, f))
        x_i = x.unsqueeze(2).expand(b, p, k, f)
        out = self.nn(torch.cat([x_i, x_j - x_i], dim=-1).reshape(b * p * k, 2 * f))
        return out.reshape(b, p, k, -1).mean(dim=2)


def knn(points: torch.Tensor, k: int) -> torch.Tensor:
    """(B, P, k) indices of the k nearest other points of the same jet (Euclidean), points (B, P, D)."""
    dist = torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")
    dist.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    return dist.topk(k, dim=-1, largest=False).indices


class ParticleNet(nn.Module):
    """JetNet's FPND ParticleNet (30 particles × 3 features), state-dict compatible with its published
    weights.

    ``edge_nets[i]`` and ``edge_convs[i].nn`` are the same module, as in JetNet, so the state dict lists
    each block's weights under both names.
    """

    def __init__(self, num_features: int = NUM_FEATURES, k: int = K) -> None:
        super().__init__()
        self.k = k
        self.edge_nets = nn.ModuleList()
        self.edge_convs = nn.ModuleList()
        width = num_features
        for block in BLOCK_WIDTHS:
            net = EdgeNet(width, block)
            self.edge_nets.append(net)
            self.edge_convs.append(EdgeConv(net))
            width += block
        self.fc1 = nn.Sequential(nn.Linear(width, FC_WIDTH))
        self.fc2 = nn.Linear(FC_WIDTH, NUM_CLASSES)

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """FPND activations (B, 256) of normalized jets x (B, P, 3)."""
        for i, conv in enumerate(self.edge_convs):
            neighbours = knn(x[..., :2] if i == 0 else x, self.k)
            x = torch.cat([conv(x, neighbours), x], dim=-1)
        return self.fc1(x.mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 5) (g, q, t, w, z): the classifier head; FPND uses ``activations``."""
        return self.fc2(torch.relu(self.activations(x)))


# ----------------------------------------------------------------------------------------- resources
def resource_folder(path: str | os.PathLike) -> Path:
    """The ``jetnet/30_particles`` folder under ``path`` (JetNet's ``fpnd_resources``) or ``path`` itself."""
    root = Path(path)
    if not root.exists():
        raise SparsegenInputError(str(path), "FPND resource folder not found (JetNet's "
                                             "jetnet/evaluation/fpnd_resources from the jetnet wheel)")
    if not root.is_dir():
        raise SparsegenInputError(str(path), "FPND resources must be a folder "
                                             "(JetNet's jetnet/evaluation/fpnd_resources)")
    for folder in (root / SUBFOLDER, root):
        if (folder / WEIGHTS).is_file():
            return folder
    raise SparsegenInputError(str(path), f"not JetNet's FPND resources: no {SUBFOLDER / WEIGHTS} "
                                         "(expected the jetnet wheel's jetnet/evaluation/fpnd_resources)")


def load_particlenet(path: str | os.PathLike) -> ParticleNet:
    """JetNet's pretrained FPND ParticleNet from its resource folder, loaded weights-only, in eval mode."""
    folder = resource_folder(path)
    try:
        state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError) as err:
        raise SparsegenInputError(str(folder / WEIGHTS), f"not JetNet's ParticleNet weights: "
                                                         f"{str(err).splitlines()[0]}") from None
    net = ParticleNet()
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()} if isinstance(state, dict) else {}
    if got != expected:
        diff = sorted(set(got) ^ set(expected)) or sorted(k for k in got if got[k] != expected[k])
        raise SparsegenInputError(str(folder / WEIGHTS), "not JetNet's FPND ParticleNet: state dict differs "
                                                         f"(e.g. {diff[0] if diff else 'not a state dict'})")
    net.load_state_dict(state)
    return net.eval()


def real_statistics(path: str | os.PathLike, jet_type: str) -> tuple[np.ndarray, np.ndarray]:
    """JetNet's stored (mean (256,), covariance (256, 256)) of real ``jet_type`` jets' activations."""
    if jet_type not in FPND_CLASSES:
        known = f"'{jet_type}'" if jet_type in JET_TYPES else f"unknown class '{jet_type}'"
        raise SparsegenInputError("FPND", "JetNet publishes real-jet statistics for g, q and t only, "
                                          f"not for {known}")
    folder = resource_folder(path)
    out = []
    for name, shape in ((f"{jet_type}_mu.txt", (FC_WIDTH,)), (f"{jet_type}_sigma.txt", (FC_WIDTH, FC_WIDTH))):
        file = folder / name
        if not file.is_file():
            raise SparsegenInputError(str(folder), f"not JetNet's FPND resources: {name} missing")
        try:
            arr = np.loadtxt(file, dtype=np.float64)
        except ValueError as err:
            raise SparsegenInputError(str(file), f"not a JetNet statistics file: {err}") from None
        if arr.shape != shape or not np.all(np.isfinite(arr)):
            raise SparsegenInputError(str(file), "not a JetNet statistics file: "
                                                 f"shape {arr.shape}, expected {shape}")
        out.append(arr)
    return out[0], out[1]


# ----------------------------------------------------------------------------------------- FPND
def normalize(particles: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """JetNet's FPND input: padding zeroed, features / FEATURE_MAXES, ptrel − 0.5 → (N, P, 3) float32."""
    x = np.where(mask[..., None], particles, 0.0).astype(np.float32)
    x /= np.asarray(FEATURE_MAXES, dtype=np.float32)
    x[..., 2] += np.float32(PTREL_SHIFT)
    return x


def check_jets(jets: Jets, jet_type: str | None = None) -> str:
    """The FPND class of ``jets`` (``jet_type`` or their common label); one-line errors for bad input."""
    if jets.max_particles != NUM_PARTICLES:
        raise SparsegenInputError("FPND", f"defined on JetNet's {NUM_PARTICLES}-particle jets, got "
                                          f"{jets.max_particles} particles per jet (use jets.hardest(30) "
                                          "only if that is what you mean to score)")
    if len(jets) < 2:
        raise SparsegenInputError("FPND", f"needs at least 2 jets for a covariance, got {len(jets)}")
    if not np.all(np.isfinite(jets.particles[jets.mask])):
        raise SparsegenInputError("FPND", "jets contain non-finite particle features")
    if jet_type is None:
        labels = np.unique(jets.labels)
        if len(labels) != 1 or not 0 <= labels[0] < len(JET_TYPES):
            raise SparsegenInputError("FPND", f"jets of several classes {labels.tolist()}: "
                                              "score one class at a time or pass jet_type")
        jet_type = JET_TYPES[int(labels[0])]
    if jet_type not in JET_TYPE_INDEX:
        raise SparsegenInputError("FPND", f"unknown jet type '{jet_type}' (one of {', '.join(JET_TYPES)})")
    if jet_type not in FPND_CLASSES:
        raise SparsegenInputError("FPND", f"JetNet publishes real-jet statistics for g, q and t only, "
                                          f"not for '{jet_type}'")
    return jet_type


@torch.no_grad()
def fpnd_activations(net: ParticleNet, jets: Jets, batch_size: int = 256) -> np.ndarray:
    """(N, 256) float64 FPND activations of 30-particle jets (JetNet's normalization applied here)."""
    x = normalize(jets.particles, jets.mask)
    out = [net.activations(torch.from_numpy(x[i: i + batch_size])) for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy()


def activation_statistics(activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, unbiased covariance) of activations (N, 256), JetNet's convention (``np.cov``)."""
    return activations.mean(axis=0), np.cov(activations, rowvar=False)


class FPNDScorer:
    """FPND against one class's real statistics, with the folder, network and class checked once up front."""

    def __init__(self, resource_dir: str | os.PathLike, jet_type: str, batch_size: int = 256) -> None:
        self.jet_type = jet_type
        self.mu, self.sigma = real_statistics(resource_dir, jet_type)
        self.net = load_particlenet(resource_dir)
        self.batch_size = batch_size

    def __call__(self, jets: Jets, max_jets: int = MAX_JETS) -> float:
        """FPND of the first ``max_jets`` of ``jets`` (30 particles) against the stored real statistics."""
        check_jets(jets, self.jet_type)
        mu, sigma = activation_statistics(fpnd_activations(self.net, jets[:max_jets], self.batch_size))
        return frechet_distance(self.mu, self.sigma, mu, sigma)


def fpnd(jets: Jets, resource_dir: str | os.PathLike, jet_type: str | None = None, max_jets: int = MAX_JETS,
         batch_size: int = 256) -> float:
    """FPND of ``jets`` (30 particles) against JetNet's real statistics of their class (g, q or t).

    Args:
        jets: one class of 30-particle jets; the first ``max_jets`` (JetNet: 50,000) are scored.
        resource_dir: JetNet's ``fpnd_resources`` folder (or its ``jetnet/30_particles`` subfolder).
        jet_type: the class to compare with; default: the jets' common label.
    """
    return FPNDScorer(resource_dir, check_jets(jets, jet_type), batch_size)(jets, max_jets)


__all__ = [
    "FPND_CLASSES",
    "FPNDScorer",
    "ParticleNet",
    "activation_statistics",
    "check_jets",
    "fpnd",
    "fpnd_activations",
    "load_particlenet",
    "normalize",
    "real_statistics",
    "resource_folder",
]
