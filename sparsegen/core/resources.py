"""Files that ship inside the package: the training configs and the Pythia cards.

Everything sparsegen reads at run time is found here, through `importlib.resources`, so an installed wheel
behaves like the source checkout (where ``configs/`` at the repository root links to ``sparsegen/configs``).

A config is given by path or by name: ``points/flow_matching``, ``points/flow_matching.yaml`` and
``configs/points/flow_matching.yaml`` all name ``sparsegen/configs/points/flow_matching.yaml``. A path that
exists always wins, so a user's own config is never shadowed by a shipped one. `model_configs` lists the
model configs; the shared blocks they compose (``base/``) are read through `sparsegen.core.compose`, whose
`resolved_config` gives any config fully composed, as a dict.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from sparsegen.core.errors import SparsegenInputError

CONFIG_GROUPS = ("images", "points")
"""Folders of model configs trained from data alone (``distill/`` holds students, which need a teacher
checkpoint). ``base/`` holds the shared trainer and data blocks that model configs compose
(`sparsegen.core.compose`) and ``logger/`` logger blocks: neither is a model config."""

MODEL_GROUPS = (*CONFIG_GROUPS, "distill")


def _package_dir(*parts: str) -> Path:
    """A folder of the installed package as a real path (wheels and editable installs are unpacked)."""
    root = resources.files("sparsegen").joinpath(*parts)
    return Path(os.fspath(root))


def configs_dir() -> Path:
    """The shipped configs (``sparsegen/configs``)."""
    return _package_dir("configs")


def cards_dir() -> Path:
    """The shipped Pythia cards (``sparsegen/data/cards``)."""
    return _package_dir("data", "cards")


def card_text(name: str) -> str:
    """Text of the Pythia card ``name`` (``common``, ``g``, ``q``, ``t``, ``w``, ``z``)."""
    path = cards_dir() / f"{name}.cmnd"
    if not path.is_file():
        raise SparsegenInputError(str(path), "Pythia card not found (a broken installation?)")
    return path.read_text()


def model_configs(group: str | None = None) -> list[Path]:
    """The shipped model configs (``quickstart.yaml``, ``images/*.yaml``, …, ``distill/*.yaml``), of one
    group or of every group; never a shared block (``base/``) or a logger block (``logger/``)."""
    if group is not None and group not in MODEL_GROUPS:
        raise SparsegenInputError(str(group), "not a group of model configs "
                                              f"(one of {', '.join(MODEL_GROUPS)})")
    groups = MODEL_GROUPS if group is None else (group,)
    paths = [p for g in groups for p in sorted((configs_dir() / g).glob("*.yaml"))]
    return paths if group is not None else [configs_dir() / "quickstart.yaml", *paths]


def config_names(group: str | None = None) -> list[str]:
    """Names of the shipped model configs (``images/vae_hurdle``, …, ``distill/quickstart``), of one group or
    of every group; ``quickstart`` is the demo's."""
    return [p.relative_to(configs_dir()).with_suffix("").as_posix() for p in model_configs(group)]


def config_path(config: str | os.PathLike) -> Path:
    """The config file meant by ``config``: an existing path as given, else the shipped config so named."""
    given = Path(config)
    if given.is_file():
        return given
    name = given.as_posix().removeprefix("./").removeprefix("configs/").removesuffix(".yaml")
    shipped = configs_dir() / f"{name}.yaml"
    if shipped.is_file() and ".." not in Path(name).parts:
        return shipped
    raise SparsegenInputError(str(config), "config file not found, and no shipped config has that name "
                                           f"(shipped: {', '.join(config_names())})")
