"""The generation cache: generated jets are files named by every generation parameter, reused when present.

Folder: ``physics_data/cache`` in the source tree, overridden by the ``SPARSEGEN_DATA`` environment variable
or an explicit folder. File name: ``{type}_p{P}_n{N}_s{seed}_{settings-hash}.h5`` — the hash covers every
`GenerationConfig` field and the Pythia card text, so a changed card never reuses stale jets.
"""

from __future__ import annotations

import os
from pathlib import Path

from sparsegen.core.defaults import NUM_PARTICLES, PRESET
from sparsegen.core.jets import Jets
from sparsegen.data.generate import GenerationConfig, generate
from sparsegen.data.presets import preset_config

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "physics_data" / "cache"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``path`` if given, else ``$SPARSEGEN_DATA``, else ``physics_data/cache``."""
    return Path(path or os.environ.get("SPARSEGEN_DATA") or DEFAULT_DATA_DIR)


def cached_jets_path(cfg: GenerationConfig, num_jets: int, folder: str | os.PathLike | None = None) -> Path:
    """Cache file of a generation (every parameter is in the name or in the settings hash)."""
    return data_dir(folder) / f"{cfg.jet_type}_p{cfg.num_particles}_n{num_jets}_s{cfg.seed}_{cfg.key()}.h5"


def ensure_generated(cfg: GenerationConfig, num_jets: int, folder: str | os.PathLike | None = None,
                     workers: int = 1, progress: bool = True) -> Path:
    """The cache file of ``cfg``, generating it first when missing."""
    path = cached_jets_path(cfg, num_jets, folder)
    if not path.exists():
        generate(cfg, num_jets, path, workers=workers, progress=progress)
    return path


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
