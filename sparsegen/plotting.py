"""Plots people would rather look at: jet-image grids, average images (log scale), histograms.

All functions take `Jets` or arrays, draw with matplotlib's object API (no global state) and, given a
path, save a PNG and close the figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from sparsegen.core.defaults import EXTENT
from sparsegen.core.io import atomic_write


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 110) -> None:
    """Write a figure atomically (format from the file extension) and close it."""
    fmt = os.path.splitext(str(path))[1].lstrip(".") or "png"
    with atomic_write(path, suffix=f".{fmt}") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
    plt.close(fig)


def _finish(fig: plt.Figure, path: str | os.PathLike | None, dpi: int = 110) -> plt.Figure:
    if path is not None:
        save_figure(fig, path, dpi)
    return fig


def pixel_dpi(npix: int, panel_inches: float) -> int:
    """A resolution that gives every image pixel at least three screen pixels in a panel of that size, so a
    lone active pixel of a fine grid (128²) is drawn, not averaged away."""
    return max(110, int(np.ceil(3 * npix / panel_inches)))


def image_grid(images: np.ndarray, extent: float = EXTENT, nrows: int = 3, ncols: int = 4, title: str = "",
               path: str | os.PathLike | None = None) -> plt.Figure:
    """Grid of single jet images on one log colour scale (empty pixels white), one colour bar beside it."""
    images = np.asarray(images)
    n = min(len(images), nrows * ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.1 * ncols + 0.9, 2.1 * nrows), squeeze=False,
                             layout="constrained")
    positive = images[:n][images[:n] > 0]
    vmin = float(positive.min()) if positive.size else 1e-4
    vmax = float(positive.max()) if positive.size else 1.0
    norm = LogNorm(vmin=max(vmin, 1e-5), vmax=max(vmax, max(vmin, 1e-5) * 10))
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            img = np.ma.masked_where(images[i] <= 0, images[i])
            im = ax.imshow(img, origin="lower", extent=(-extent, extent, -extent, extent), cmap="viridis",
                           norm=norm, interpolation="nearest")
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.6, pad=0.02, label=r"$p_T^{rel}$ per pixel")
    if title:
        fig.suptitle(title)
    return _finish(fig, path, pixel_dpi(images.shape[-1], 2.1))


def average_images(panels: dict[str, np.ndarray], extent: float = EXTENT, difference: bool = False,
                   path: str | os.PathLike | None = None) -> plt.Figure:
    """Average jet image per panel on one shared log scale; with ``difference`` adds (second − first) / first.

    Layout for slides: constrained layout, shared axes (labels on the outer panels only) and one colour
    bar per scale, to the right of the panels it belongs to, so no tick label can run into a neighbour.
    """
    names = list(panels)
    means = [np.asarray(panels[k]).mean(0) for k in names]
    diff = difference and len(names) == 2
    ncols = len(names) + int(diff)
    fig, axes = plt.subplots(1, ncols, figsize=(2.9 * ncols + 1.2, 3.0), squeeze=False, sharex=True,
                             sharey=True, layout="constrained")
    axes = axes[0]
    positive = np.concatenate([m[m > 0] for m in means]) if any((m > 0).any() for m in means) else np.ones(1)
    norm = LogNorm(vmin=max(float(positive.min()), 1e-6), vmax=float(positive.max()))
    box = (-extent, extent, -extent, extent)
    for ax, name, mean in zip(axes, names, means):
        im = ax.imshow(np.ma.masked_where(mean <= 0, mean), origin="lower", norm=norm, cmap="viridis",
                       extent=box)
        ax.set_title(name)
        ax.set_xlabel(r"$\eta^{rel}$")
    inner = np.linspace(-extent, extent, 5)[1:-1]  # no edge ticks: neighbours' labels would touch there
    axes[0].set_xticks(inner)
    axes[0].set_yticks(inner)
    axes[0].set_ylabel(r"$\phi^{rel}$")
    fig.colorbar(im, ax=list(axes[:len(names)]), shrink=0.85, pad=0.02, label=r"mean $p_T^{rel}$ per pixel")
    if diff:
        a, b = means
        rel = np.divide(b - a, a, out=np.zeros_like(a), where=a > 0)
        ax = axes[-1]
        im = ax.imshow(rel, origin="lower", cmap="RdBu_r", vmin=-1, vmax=1, extent=box)
        ax.set_title(f"({names[1]} − {names[0]}) / {names[0]}", fontsize=9)
        ax.set_xlabel(r"$\eta^{rel}$")
        fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02, label="relative difference")
    return _finish(fig, path)


def histograms(samples: dict[str, np.ndarray], bins: int | Sequence[float] = 50, xlabel: str = "",
               title: str = "", logy: bool = False, path: str | os.PathLike | None = None,
               ax: plt.Axes | None = None) -> plt.Figure:
    """Normalized step histograms of several samples on shared bins."""
    fig = ax.figure if ax is not None else plt.figure(figsize=(4.8, 3.6))
    ax = ax or fig.add_subplot(111)
    values = [np.asarray(v, dtype=np.float64).ravel() for v in samples.values()]
    values = [v[np.isfinite(v)] for v in values]
    if isinstance(bins, int):
        allv = np.concatenate(values) if values else np.zeros(1)
        lo, hi = np.quantile(allv, [0.001, 0.999]) if allv.size else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for (name, _), v in zip(samples.items(), values):
        ax.hist(v, bins=bins, histtype="step", density=True, label=name, linewidth=1.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return _finish(fig, path)


def _panels(n: int, width: float = 4.4, height: float = 3.4) -> tuple[plt.Figure, np.ndarray]:
    """A row of n panels; constrained layout keeps each panel's axis labels clear of its neighbour."""
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, layout="constrained")
    return fig, axes[0]


def _log_bins(values: Sequence[np.ndarray], bins: int = 50) -> np.ndarray:
    positive = np.concatenate([np.asarray(v)[np.asarray(v) > 0] for v in values] or [np.ones(1)])
    if positive.size == 0:
        positive = np.ones(1)
    lo, hi = np.log10(positive.min()), np.log10(positive.max())
    return np.logspace(lo, hi if hi > lo else lo + 1.0, bins + 1)


def evaluation_plots(
    out_dir: str | os.PathLike,
    samples: dict[str, dict[str, np.ndarray]],
    extent: float = EXTENT,
    threshold: float = 0.0,
) -> list[str]:
    """Real-vs-generated PNGs for ``sparsegen evaluate``; returns the written paths.

    ``samples`` maps a label ("real", "generated") to arrays: mass [GeV] and relative pt of the particles
    the metrics see, multiplicity (per jet), etarel,
    phirel, ptrel (per particle), tau21, tau32 (per jet) and images (N, H, W). Writes mass.png, pt.png,
    multiplicity.png, particle_features.png, nsubjettiness.png, pixel_intensity.png,
    average_images.png (log scale, with the relative difference) and image_grid_<label>.png.
    """
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    names = list(samples)
    written: list[str] = []

    def save(fig: plt.Figure, name: str) -> None:
        path = os.path.join(out, name)
        _finish(fig, path)
        written.append(path)

    def pick(key: str) -> dict[str, np.ndarray]:
        return {k: samples[k][key] for k in names}

    for key, label in (("mass", "jet mass [GeV]"), ("pt", r"relative jet $p_T$ of the particles")):
        save(histograms(pick(key), xlabel=label), f"{key}.png")
    mult = pick("multiplicity")
    top = max(int(np.max(v)) if len(v) else 0 for v in mult.values())
    save(
        histograms(mult, bins=np.arange(-0.5, top + 1.5, 1.0), xlabel="particle multiplicity"),
        "multiplicity.png",
    )

    fig, axes = _panels(3)
    histograms(pick("etarel"), xlabel=r"particle $\eta^{rel}$", ax=axes[0])
    histograms(pick("phirel"), xlabel=r"particle $\phi^{rel}$", ax=axes[1])
    pts = pick("ptrel")
    histograms(pts, bins=_log_bins(list(pts.values())), xlabel=r"particle $p_T^{rel}$", logy=True, ax=axes[2])
    axes[2].set_xscale("log")
    save(fig, "particle_features.png")

    fig, axes = _panels(2)
    histograms(pick("tau21"), bins=np.linspace(0, 1.2, 49), xlabel=r"$\tau_{21}$", ax=axes[0])
    histograms(pick("tau32"), bins=np.linspace(0, 1.2, 49), xlabel=r"$\tau_{32}$", ax=axes[1])
    save(fig, "nsubjettiness.png")

    images = pick("images")
    active = {}
    for k, img in images.items():
        zero = float((img == 0).mean())
        active[f"{k} (zero pixels {100 * zero:.1f}%)"] = img[img > threshold]
    fig = histograms(
        active,
        bins=_log_bins(list(active.values())),
        xlabel="pixel intensity (ptrel), active pixels",
        logy=True,
    )
    fig.axes[0].set_xscale("log")
    save(fig, "pixel_intensity.png")

    save(average_images(images, extent=extent, difference=len(names) == 2), "average_images.png")
    for k, img in images.items():
        save(image_grid(img, extent=extent, title=f"{k} jets"), f"image_grid_{k.replace(' ', '_')}.png")
    return written


def _grid(n: int, ncols: int, width: float, height: float) -> tuple[plt.Figure, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def comparison_grid(panels: dict[str, dict[str, np.ndarray]], xlabel: str = "", ncols: int = 4,
                    integer: bool = False, logx: bool = False, logy: bool = False, title: str = "",
                    reference: str = "real", path: str | os.PathLike | None = None) -> plt.Figure:
    """One histogram panel per model (titled by its key), each overlaying its samples on shared bins.

    ``panels``: {model: {"real": values, "generated": values}}. ``integer``: unit bins (multiplicities);
    ``logx``: log-spaced bins over the positive values; otherwise linear bins over the ``reference``
    samples' range widened by half on each side.
    """
    every = [np.asarray(v, dtype=np.float64).ravel() for p in panels.values() for v in p.values()]
    every = [v[np.isfinite(v)] for v in every]
    if integer:
        top = max((v.max() for v in every if v.size), default=1.0)
        bins: np.ndarray | int = np.arange(-0.5, top + 1.5, 1.0)
    elif logx:
        bins = _log_bins(every)
    else:  # the range of the reference ("real") samples, widened by half: outliers of bad models fall outside
        ref = [np.asarray(p[reference], dtype=np.float64).ravel() for p in panels.values() if reference in p]
        allv = np.concatenate(ref or every) if (ref or every) else np.zeros(1)
        allv = allv[np.isfinite(allv)]
        lo, hi = np.quantile(allv, [0.002, 0.998]) if allv.size else (0.0, 1.0)
        pad = 0.5 * (hi - lo)
        bins = np.linspace(lo - pad if lo - pad > 0 or lo < 0 else 0.0, hi + pad if hi > lo else lo + 1.0, 61)
    fig, axes = _grid(len(panels), ncols, 3.6, 2.9)
    edges = bins if not isinstance(bins, int) else None
    for ax, (name, samples) in zip(axes, panels.items()):
        labelled = {}
        for label, v in samples.items():
            v = np.asarray(v, dtype=np.float64).ravel()
            out = float(((v < edges[0]) | (v > edges[-1])).mean()) if edges is not None and v.size else 0.0
            labelled[f"{label} ({100 * out:.0f}% off scale)" if out > 0.01 else label] = v
        histograms(labelled, bins=bins, xlabel=xlabel, title=name, logy=logy, ax=ax)
        if logx:
            ax.set_xscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, path)


def average_image_grid(means: dict[str, np.ndarray], extent: float = EXTENT, ncols: int = 5, title: str = "",
                       path: str | os.PathLike | None = None) -> plt.Figure:
    """Precomputed average images, one panel each, on one shared log colour scale."""
    arrays = [np.asarray(m, dtype=np.float64) for m in means.values()]
    positive = (
        np.concatenate([m[m > 0] for m in arrays]) if any((m > 0).any() for m in arrays) else np.ones(1)
    )
    norm = LogNorm(vmin=max(float(np.quantile(positive, 0.01)), 1e-7), vmax=float(positive.max()))
    fig, axes = _grid(len(means), ncols, 2.6, 2.6)
    for ax, (name, mean) in zip(axes, zip(means, arrays)):
        ax.imshow(np.ma.masked_where(mean <= 0, mean), origin="lower", norm=norm, cmap="viridis",
                  extent=(-extent, extent, -extent, extent))
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def line_panels(
    panels: dict[str, dict[str, Sequence[float]]],
    xlabel: str | dict[int, str] = "epoch",
    ncols: int = 2,
    logy: dict[int, bool] | bool = False,
    path: str | os.PathLike | None = None,
) -> plt.Figure:
    """One panel per title, a line per series (x = 1, 2, …): loss and validation curves.

    ``xlabel`` and ``logy`` are one value for every panel or {panel index: value}.
    """
    fig, axes = _grid(len(panels), ncols, 5.6, 3.8)
    for i, (ax, (title, series)) in enumerate(zip(axes, panels.items())):
        for name, ys in series.items():
            ys = np.asarray(ys, dtype=np.float64)
            ax.plot(np.arange(1, len(ys) + 1), ys, marker=".", linewidth=1.2, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel.get(i, "") if isinstance(xlabel, dict) else xlabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if (logy.get(i, False) if isinstance(logy, dict) else logy):
            ax.set_yscale("log")
        ax.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    return _finish(fig, path)
