"""Self-describing models: checkpoints that rebuild their networks without pickled code.

Every component derives from `Component`, which records its class path and init arguments (JSON-able
values only). `GenerativeModel` writes ``{"class_path", "init_args"}`` of itself — with nested
component specs — into each checkpoint (``checkpoint["sparsegen_model"]``). `load_model` reads the
checkpoint with ``torch.load(weights_only=True)`` (no arbitrary code runs), brings an older checkpoint to
the current format (`sparsegen.models.migration`), rebuilds the model from the spec (only classes under
``sparsegen.`` are allowed) and loads the weights.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import pickle
import zipfile
from typing import Any

import torch
from torch import nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.migration import migrate


def jsonable(value: Any) -> Any:
    """Plain Python version of an init argument (components become nested specs)."""
    if isinstance(value, Component):
        return value.spec
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot record init argument of type {type(value).__name__} in a model spec")


class Component(nn.Module):
    """nn.Module that remembers how it was built (``self.spec``)."""

    spec: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def recording_init(self: Any, *args: Any, **kw: Any) -> None:
            if "spec" not in self.__dict__:
                bound = inspect.signature(init).bind(self, *args, **kw)
                bound.apply_defaults()
                init_args = {k: jsonable(v) for k, v in bound.arguments.items() if k != "self"}
                object.__setattr__(
                    self,
                    "spec",
                    {
                        "class_path": f"{type(self).__module__}.{type(self).__qualname__}",
                        "init_args": init_args,
                    },
                )
            init(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]


def instantiate(spec: Any) -> Any:
    """Rebuild an object from a spec (recursively); only ``sparsegen.*`` classes are allowed. The spec is
    the current format's (a checkpoint's is migrated first: `sparsegen.models.migration`)."""
    if isinstance(spec, list):
        return [instantiate(v) for v in spec]
    if not isinstance(spec, dict):
        return spec
    if "class_path" not in spec:
        return {k: instantiate(v) for k, v in spec.items()}
    path = str(spec["class_path"])
    if not path.startswith("sparsegen."):
        raise SparsegenInputError("checkpoint", f"refusing to build class '{path}' (only sparsegen classes)")
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    kwargs = {k: instantiate(v) for k, v in (spec.get("init_args") or {}).items()}
    return cls(**kwargs)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(weights_only=True)``: tensors and plain containers only, never pickled code."""
    path = str(path)
    if not os.path.exists(path):
        raise SparsegenInputError(path, "checkpoint does not exist")
    if os.path.isdir(path):
        raise SparsegenInputError(path, "is a folder, not a checkpoint file")
    if not zipfile.is_zipfile(path):
        try:
            with open(path, "rb") as f:
                head = f.read(4)
        except OSError as exc:
            raise SparsegenInputError(path, f"cannot read the checkpoint ({exc.strerror or exc})") from exc
        if head == b"PK\x03\x04":  # a zip archive's first entry, without the directory written at its end
            raise SparsegenInputError(path, "not a complete checkpoint (the zip archive is truncated, e.g. "
                                            "by an interrupted copy or a full disk)")
        raise SparsegenInputError(path, "not a readable checkpoint (not a PyTorch zip archive)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next((ln.strip() for ln in str(exc).splitlines() if "Unsupported" in ln), "rejected content")
        raise SparsegenInputError(
            path,
            "refusing to load: the checkpoint holds pickled objects or code that the "
            f"weights-only loader rejects ({detail[:100]})",
        ) from exc
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise SparsegenInputError(path, f"not a readable checkpoint ({text[:120]})") from exc


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
    """Any sparsegen checkpoint (of any format up to the current one, `migration.migrate`) → the
    `GenerativeModel` it was saved from, in eval mode."""
    ckpt = load_checkpoint(path)
    spec = ckpt.get("sparsegen_model") if isinstance(ckpt, dict) else None
    if not spec or "state_dict" not in ckpt:
        raise SparsegenInputError(str(path), "not a sparsegen model checkpoint (no 'sparsegen_model' spec)")
    spec = migrate(ckpt, path)["sparsegen_model"]
    try:
        model = instantiate(spec)
    except (TypeError, ValueError, ImportError, AttributeError) as exc:
        raise SparsegenInputError(str(path), f"cannot rebuild the model from its spec ({exc})") from exc
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SparsegenInputError(str(path), f"weights do not match the model ({first})") from exc
    model.on_load_checkpoint(ckpt)
    return model.to(device).eval()
