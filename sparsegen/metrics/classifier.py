"""Classifier two-sample test: can a small network tell generated jets from real ones?

A permutation-invariant DeepSets network (per-particle MLP, masked mean and sum pooling, jet MLP) reads
(etarel, phirel, log ptrel) of every particle, optionally next to jet-level features (e.g. mass, pT,
multiplicity, tau21, tau32). It is trained on 60% of the jets (real = 1, generated = 0, equal counts),
the epoch with the best validation loss (20%) is kept, and the ROC AUC on the held-out 20% is reported:
0.5 means indistinguishable, 1.0 means perfectly separable. The error is the Hanley-McNeil (1982)
standard error of the AUC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from sparsegen.core.kinematics import as_particles


class DeepSets(nn.Module):
    """phi: per-particle MLP; masked mean and sum pooling; rho: MLP on [pooled, jet features] -> logit."""

    def __init__(self, particle_dim: int = 3, jet_dim: int = 0, hidden: int = 64) -> None:
        super().__init__()
        self.phi = nn.Sequential(
            nn.Linear(particle_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.rho = nn.Sequential(nn.Linear(2 * hidden + jet_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, jet: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, P, F), mask (B, P) bool, jet (B, K) -> logits (B,)."""
        m = mask.to(x.dtype)
        summed = torch.bmm(m.unsqueeze(1), self.phi(x)).squeeze(1)  # masked sum over particles: one matmul
        n = m.sum(1, keepdim=True).clamp(min=1.0)
        pooled = [summed / n, summed / x.shape[1]]
        if jet is not None:
            pooled.append(jet)
        return self.rho(torch.cat(pooled, dim=-1)).squeeze(-1)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels = np.asarray(labels).astype(bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("roc_auc needs both classes")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_standard_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley-McNeil standard error of an AUC estimated from n_pos positives and n_neg negatives."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def _particle_inputs(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(N, P, 3) [etarel, phirel, log ptrel] with masked slots zero."""
    logpt = np.log(np.clip(x[..., 2], 1e-8, None))
    feats = np.stack([x[..., 0], x[..., 1], logpt], axis=-1)
    return np.where(m[..., None], feats, 0.0).astype(np.float32)


def classifier_auc(
    real: Any,
    gen: Any,
    mask_real: Any = None,
    mask_gen: Any = None,
    jet_features_real: np.ndarray | None = None,
    jet_features_gen: np.ndarray | None = None,
    max_jets: int | None = None,
    epochs: int = 20,
    patience: int = 4,
    batch_size: int = 128,
    hidden: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = False,
) -> tuple[float, float]:
    """Test AUC ± standard error of a DeepSets real-vs-generated classifier (60/20/20 split).

    Args:
        real, gen: `Jets` or (N, P, 3) particles (with optional masks); particle counts may differ.
        jet_features_real, jet_features_gen: optional (N, K) jet-level inputs (standardized here).
        max_jets: use at most this many jets per class (both classes get the same count).
    """
    xr, mr = as_particles(real, mask_real)
    xg, mg = as_particles(gen, mask_gen)
    p = max(xr.shape[1], xg.shape[1])
    xr, xg = (np.pad(a, ((0, 0), (0, p - a.shape[1]), (0, 0))) for a in (xr, xg))
    mr, mg = (np.pad(a, ((0, 0), (0, p - a.shape[1]))) for a in (mr, mg))
    rng = np.random.default_rng(seed)
    n = min(len(xr), len(xg), max_jets or np.iinfo(np.int64).max)
    if n < 10:
        raise ValueError(f"classifier test needs at least 10 jets per class, got {n}")
    ir, ig = rng.permutation(len(xr))[:n], rng.permutation(len(xg))[:n]
    feats = np.concatenate([_particle_inputs(xr[ir], mr[ir]), _particle_inputs(xg[ig], mg[ig])])
    mask = np.concatenate([mr[ir], mg[ig]])
    labels = np.concatenate([np.ones(n, np.float32), np.zeros(n, np.float32)])
    jets = None
    if jet_features_real is not None and jet_features_gen is not None:
        jets = np.concatenate([np.asarray(jet_features_real)[ir], np.asarray(jet_features_gen)[ig]]).astype(
            np.float32
        )

    # stratified 60/20/20 split
    splits: list[list[np.ndarray]] = [[], [], []]
    for cls_idx in (np.arange(n), n + np.arange(n)):
        perm = rng.permutation(cls_idx)
        a, b = int(0.6 * n), int(0.8 * n)
        for s, part in enumerate((perm[:a], perm[a:b], perm[b:])):
            splits[s].append(part)
    train, val, test = (np.concatenate(s) for s in splits)

    # standardize with training statistics (particle features over real slots only)
    sel = mask[train]
    mu, sd = feats[train][sel].mean(0), feats[train][sel].std(0) + 1e-6
    feats = np.where(mask[..., None], (feats - mu) / sd, 0.0).astype(np.float32)
    if jets is not None:
        jets = ((jets - jets[train].mean(0)) / (jets[train].std(0) + 1e-6)).astype(np.float32)

    t_feats, t_mask, t_labels = torch.from_numpy(feats), torch.from_numpy(mask), torch.from_numpy(labels)
    t_jets = torch.from_numpy(jets) if jets is not None else None

    threads = torch.get_num_threads()
    try:
        # a network this small trains fastest on one thread (and does not fight other jobs for cores)
        torch.set_num_threads(1)
        scores = _train_and_score(t_feats, t_mask, t_jets, t_labels, train, val, test, hidden, lr, epochs,
                                  patience, batch_size, seed, progress)
    finally:
        torch.set_num_threads(threads)
    auc = roc_auc(labels[test], scores)
    n_pos = int(labels[test].sum())
    return auc, auc_standard_error(auc, n_pos, len(test) - n_pos)


def _train_and_score(
    feats: torch.Tensor,
    mask: torch.Tensor,
    jets: torch.Tensor | None,
    labels: torch.Tensor,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    hidden: int,
    lr: float,
    epochs: int,
    patience: int,
    batch_size: int,
    seed: int,
    progress: bool,
) -> np.ndarray:
    """Train on ``train`` with early stopping on the ``val`` loss; return the logits of ``test``.

    Each epoch gathers the shuffled training set once and walks it in contiguous batches (the same batches
    as indexing every step, without a gather per step); validation and test run in chunks.
    """

    def logits(model: nn.Module, idx: np.ndarray, chunk: int = 4096) -> torch.Tensor:
        parts = []
        for start in range(0, len(idx), chunk):
            ii = torch.from_numpy(idx[start:start + chunk])
            parts.append(model(feats[ii], mask[ii], None if jets is None else jets[ii]))
        return torch.cat(parts)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DeepSets(feats.shape[-1], 0 if jets is None else jets.shape[1], hidden)
        opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        loss_fn = nn.BCEWithLogitsLoss()
        shuffle = torch.Generator().manual_seed(seed)
        best = (np.inf, {k: v.clone() for k, v in model.state_dict().items()})
        stale = 0
        iterator: Any = range(epochs)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc="classifier", leave=False)
        val_labels = labels[torch.from_numpy(val)]
        for _ in iterator:
            model.train()
            order = torch.from_numpy(train[torch.randperm(len(train), generator=shuffle).numpy()])
            x, m, y = feats[order], mask[order], labels[order]
            j = None if jets is None else jets[order]
            for start in range(0, len(order), batch_size):
                sl = slice(start, start + batch_size)
                opt.zero_grad()
                loss = loss_fn(model(x[sl], m[sl], None if j is None else j[sl]), y[sl])
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(logits(model, val), val_labels))
            if val_loss < best[0] - 1e-4:
                best, stale = (val_loss, {k: v.clone() for k, v in model.state_dict().items()}), 0
            else:
                stale += 1
                if stale >= patience:
                    break
        model.load_state_dict(best[1])
        model.eval()
        with torch.no_grad():
            return logits(model, test).numpy()
