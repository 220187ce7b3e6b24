"""``fit | validate | test | predict --ckpt_path FILE``: check the checkpoint before LightningCLI reads it.

LightningCLI loads the file itself and merges its hyper-parameters into the config: a truncated file
ends in a PytorchStreamReader traceback, and a checkpoint of another model in a parser error about that
model's arguments ("the following arguments are required: velocity") that never names the checkpoint.
`check_ckpt_path` reads the command line and its ``--config`` files (their composed blocks merged in,
`sparsegen.core.compose`) just far enough to find the checkpoint and the model the config builds, loads
the checkpoint weights-only (`load_checkpoint`) and compares the model spec stored in it with the config's
``model.class_path`` and networks. Anything it cannot determine (a model given another way) is left to
LightningCLI.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

from sparsegen.core.compose import load_config
from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.migration import migrate
from sparsegen.models.spec import load_checkpoint

SPECIAL_CKPT_PATHS = ("last", "best", "hpc")
"""``--ckpt_path`` values Lightning resolves itself (``registry…`` and URLs too): not files to check."""


def check_ckpt_path(argv: Sequence[str]) -> None:
    """Raise `SparsegenInputError` when ``--ckpt_path`` names a missing, unreadable or incomplete file, or
    a checkpoint of another model than the one the config builds; do nothing without a file path."""
    ckpt_path, model = _ckpt_and_model(list(argv[1:]))
    if not ckpt_path or ckpt_path in SPECIAL_CKPT_PATHS or ckpt_path.startswith("registry") \
            or "://" in ckpt_path:
        return
    if not os.path.exists(ckpt_path):
        raise SparsegenInputError(ckpt_path, "--ckpt_path: checkpoint does not exist")
    ckpt = load_checkpoint(ckpt_path)
    spec = ckpt.get("sparsegen_model") if isinstance(ckpt, dict) else None
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise SparsegenInputError(ckpt_path, "not a sparsegen model checkpoint (no 'sparsegen_model' spec)")
    spec = migrate(ckpt, ckpt_path)["sparsegen_model"]  # a later format is refused; moved classes resolve
    if model.get("class_path") is None:
        return
    stored = {name: arg["class_path"] for name, arg in (spec.get("init_args") or {}).items()
              if isinstance(arg, dict) and "class_path" in arg}
    wanted = {name: path for name, path in model["networks"].items() if name in stored}
    if not _same_class(spec["class_path"], model["class_path"]) or any(
            not _same_class(stored[name], path) for name, path in wanted.items()):
        raise SparsegenInputError(
            "--ckpt_path",
            f"checkpoint {ckpt_path} is a {_describe(spec['class_path'], stored)} checkpoint, the config "
            f"builds {_describe(model['class_path'], model['networks'])}",
        )


def _ckpt_and_model(args: list[str]) -> tuple[str | None, dict[str, Any]]:
    """(``ckpt_path``, ``{"class_path", "networks": {name: class_path}}``) from the arguments and their
    ``--config`` files, later ones winning, as jsonargparse reads them."""
    ckpt_path: str | None = None
    model: dict[str, Any] = {"class_path": None, "networks": {}}
    i = 0
    while i < len(args):
        key, value = args[i], None
        if key.startswith("--") and "=" in key:
            key, value = key.split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):  # not a flag without a value
            value = args[i + 1]
            i += 1
        i += 1
        if value is None:
            continue
        if key in ("--config", "-c"):
            node = _read_yaml(value)
            if isinstance(node, dict):
                ckpt_path = str(node["ckpt_path"]) if node.get("ckpt_path") else ckpt_path
                _merge_model(model, node.get("model"))
        elif key == "--ckpt_path":
            ckpt_path = value if value not in ("", "null", "None") else None
        elif key in ("--model", "--model.class_path"):
            _merge_model(model, value)
        elif key.startswith("--model.init_args.") and key.count(".") in (2, 3):
            name, _, rest = key[len("--model.init_args."):].partition(".")
            if rest in ("", "class_path") and not value.lstrip().startswith(("{", "[")):
                model["networks"][name] = value
    return ckpt_path, model


def _merge_model(model: dict[str, Any], node: Any) -> None:
    if isinstance(node, str):
        node = {"class_path": node}
    if not isinstance(node, dict):
        return
    if node.get("class_path"):
        model["class_path"] = str(node["class_path"])
    for name, arg in (node.get("init_args") or {}).items():
        if isinstance(arg, dict) and arg.get("class_path"):
            model["networks"][name] = str(arg["class_path"])


def _read_yaml(path: str) -> Any:
    """A config file's content with the blocks it composes merged in (`sparsegen.core.compose`; None when it
    cannot be read or composed: LightningCLI, or the composition before it, reports that itself)."""
    try:
        return load_config(path)
    except SparsegenInputError:
        return None


def _resolve(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    if not module.startswith("sparsegen"):
        return None
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def _same_class(stored: str, given: str) -> bool:
    """Same class, whatever module path names it (``sparsegen.models.WGANGP`` = ``….wgan_gp.WGANGP``);
    a short name (``WGANGP``) or a path that does not import is compared by name."""
    a, b = _resolve(stored), _resolve(given)
    if a is not None and b is not None:
        return a is b
    return stored.rpartition(".")[2] == given.rpartition(".")[2]


def _describe(class_path: str, networks: dict[str, str]) -> str:
    name = class_path.rpartition(".")[2]
    parts = [f"{key} {path.rpartition('.')[2]}" for key, path in networks.items()]
    return f"{name} ({', '.join(parts)})" if parts else name
