"""Composed configs: a config names the shared blocks it builds on and holds only what differs.

A config's top-level ``compose:`` lists blocks, e.g. ``compose: [base/trainer, base/data_images]``. An entry
is a file relative to the composing config's folder when one exists there (``.yaml`` may be left out), else
the name of a shipped config (`sparsegen.core.resources.config_path`), so a copied config still finds the
shipped blocks. The blocks are merged in the order given, then the config itself on top: mappings merge key
by key, the later one winning; any other value — a list such as ``trainer.callbacks``, a scalar, ``null`` —
replaces the earlier one whole. A block may compose other blocks.

jsonargparse reads a nested config file only for a whole group (``trainer: file.yaml``) and cannot add
overrides next to it, hence this step before LightningCLI parses: `compose_argv` hands it every composed
``--config`` as the merged YAML text, so ``sparsegen fit --config images/vae_hurdle`` stays one command and
the config Lightning saves with a run is complete. A config without ``compose`` is passed on untouched.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.resources import config_path

COMPOSE_KEY = "compose"


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` on top (new dict; mappings merge recursively, anything else is replaced)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        node = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SparsegenInputError(str(path), f"config cannot be read ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise SparsegenInputError(str(path), f"config is not valid YAML: {problem}") from exc
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise SparsegenInputError(str(path), f"a config must be a mapping of keys, got {type(node).__name__}")
    return node


def block_path(entry: Any, composer: Path) -> Path:
    """The file a ``compose`` entry of ``composer`` names (see the module docstring)."""
    if not isinstance(entry, str) or not entry.strip():
        raise SparsegenInputError(str(composer), f"'{COMPOSE_KEY}' entries must be config names or paths, "
                                                 f"got {entry!r}")
    for candidate in (composer.parent / entry, composer.parent / f"{entry}.yaml"):
        if candidate.is_file():
            return candidate
    try:
        return config_path(entry)
    except SparsegenInputError:
        raise SparsegenInputError(str(composer.parent / entry),
                                  f"config block not found (composed by {composer})") from None


def composed_blocks(path: str | os.PathLike) -> list[Path]:
    """The blocks ``path`` composes directly, in order."""
    path = Path(path)
    entries = _read(path).get(COMPOSE_KEY) or []
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list):
        raise SparsegenInputError(str(path), f"'{COMPOSE_KEY}' must be a list of config blocks")
    return [block_path(e, path) for e in entries]


def load_config(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The config file ``path`` with every block it composes merged in (no ``compose`` key left)."""
    path = Path(path)
    key = path.resolve()
    if key in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, key))
        raise SparsegenInputError(str(path), f"config blocks compose each other in a cycle ({chain})")
    own = _read(path)
    out: dict[str, Any] = {}
    for block in composed_blocks(path):
        out = merge(out, load_config(block, (*_seen, key)))
    own.pop(COMPOSE_KEY, None)
    return merge(out, own)


def resolved_config(config: str | os.PathLike) -> dict[str, Any]:
    """The config given by path or shipped name (``images/vae_hurdle``), fully composed, as a dict."""
    return load_config(config_path(config))


def _composes(path: str) -> bool:
    """Whether ``path`` is a readable config with a ``compose`` key (anything else LightningCLI reads as
    before, and reports itself when it cannot)."""
    try:
        node = yaml.safe_load(Path(path).read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return isinstance(node, dict) and COMPOSE_KEY in node


def compose_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with every ``--config`` / ``-c`` file that composes blocks replaced by its merged YAML text
    (jsonargparse takes a config as a path or as its content)."""
    out, argv = [], list(argv)
    for i, arg in enumerate(argv):
        if arg.startswith("--config=") and _composes(arg.partition("=")[2]):
            arg = "--config=" + yaml.safe_dump(load_config(arg.partition("=")[2]), sort_keys=False)
        elif i > 0 and argv[i - 1] in ("--config", "-c") and _composes(arg):
            arg = yaml.safe_dump(load_config(arg), sort_keys=False)
        out.append(arg)
    return out
