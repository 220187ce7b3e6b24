"""The generation cache: generated jets are files named by every generation parameter, reused when present.

Folder: an explicit folder, else the ``SPARSEGEN_DATA`` environment variable, else ``physics_data/cache`` of
the source checkout the package runs from, else (an installed package) the user cache,
``$XDG_CACHE_HOME/sparsegen`` or ``~/.cache/sparsegen``: jets are reused across projects, never written into
site-packages. File name: ``{type}_p{P}_n{N}_s{seed}_{settings-hash}.h5`` — the hash covers every
`GenerationConfig` field and the Pythia card text, so a changed card never reuses stale jets.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from sparsegen.core.defaults import NUM_PARTICLES, PRESET
from sparsegen.core.jets import Jets
from sparsegen.data.generate import GenerationConfig, generate
from sparsegen.data.presets import preset_config

_CHECKOUT = Path(__file__).resolve().parents[2]


def default_data_dir() -> Path:
    """``physics_data/cache`` in a source checkout, else the user cache folder."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "physics_data").is_dir():
        return _CHECKOUT / "physics_data" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sparsegen"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``path`` if given, else ``$SPARSEGEN_DATA``, else `default_data_dir`."""
    return Path(path or os.environ.get("SPARSEGEN_DATA") or default_data_dir())


def cached_jets_path(cfg: GenerationConfig, num_jets: int, folder: str | os.PathLike | None = None) -> Path:
    """Cache file of a generation (every parameter is in the name or in the settings hash)."""
    return data_dir(folder) / f"{cfg.jet_type}_p{cfg.num_particles}_n{num_jets}_s{cfg.seed}_{cfg.key()}.h5"


def ensure_generated(cfg: GenerationConfig, num_jets: int, folder: str | os.PathLike | None = None,
                     workers: int = 1, progress: bool = True) -> Path:
    """The cache file of ``cfg``, generating it first when missing."""
    path = cached_jets_path(cfg, num_jets, folder)
    if not path.exists() and not _derive_from_more_particles(cfg, num_jets, path):
        generate(cfg, num_jets, path, workers=workers, progress=progress)
    return path


def _derive_from_more_particles(cfg: GenerationConfig, num_jets: int, path: Path) -> bool:
    """Write ``path`` from a cached file of the same generation with more particles per jet, if one exists.

    Exact, not an approximation: particles are stored hardest first and the jet features (pT, η, mass) are
    those of the full jet, so keeping the hardest P particles of a P' > P file gives the very file a
    P-particle generation writes (only the kept-particle count in the jet features changes).
    """
    from sparsegen.core.io import read_jetnet, write_jetnet

    for other in sorted(path.parent.glob(f"{cfg.jet_type}_p*_n{num_jets}_s{cfg.seed}_*.h5")):
        try:
            more = int(other.name.split("_")[1][1:])
        except ValueError:
            continue
        if more <= cfg.num_particles or other.name != cached_jets_path(
                replace(cfg, num_particles=more), num_jets, path.parent).name:
            continue
        pf, jf, attrs = read_jetnet(other)
        pf = pf[:, : cfg.num_particles].copy()
        jf = jf.copy()
        jf[:, 4] = pf[:, :, 3].sum(axis=1)
        attrs = {**attrs, "num_particles": cfg.num_particles, "config_key": cfg.key(),
                 "derived_from": other.name, "config": json.dumps(cfg.settings(), sort_keys=True)}
        write_jetnet(path, pf, jf, attrs)
        return True
    return False


def load_or_generate(
    jet_type: str,
    num_jets: int,
    num_particles: int = NUM_PARTICLES,
    seed: int = 0,
    folder: str | os.PathLike | None = None,
    workers: int = 1,
    progress: bool = True,
    preset: str = PRESET,
) -> Jets:
    """Generated jets of one class (settings of ``preset``) from the cache, generating them first when
    missing."""
    cfg = preset_config(preset, jet_type, num_particles=num_particles, seed=seed)
    return Jets.load(ensure_generated(cfg, num_jets, folder, workers, progress))
