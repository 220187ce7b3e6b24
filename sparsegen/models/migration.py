"""Checkpoint format versions and the migrations that bring an older checkpoint to the current format.

Every checkpoint a sparsegen model writes carries ``checkpoint["sparsegen_format"] = CHECKPOINT_FORMAT``
(`GenerativeModel.on_save_checkpoint`); a checkpoint without the key is format 1 (everything written before
formats were numbered). `migrate` runs on every load — `load_model` (``sparsegen sample`` / ``evaluate``,
a distillation teacher) and Lightning's ``--ckpt_path`` resume (`GenerativeModel.on_load_checkpoint`, before
the weights are loaded) — and applies ``MIGRATIONS[k - 1]`` to a format-k checkpoint until it is current,
so model code only ever sees the current format. A checkpoint from a later format is refused in one line.

To change what a checkpoint holds (rename a module, a parameter, a hyperparameter; add an init argument
whose old behaviour is not its new default), append a function to ``MIGRATIONS``: it receives the
checkpoint dict of the format before it and edits it in place.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from sparsegen.core.defaults import JET_TYPES
from sparsegen.core.errors import SparsegenInputError

FORMAT_KEY = "sparsegen_format"

Checkpoint = dict[str, Any]


# ------------------------------------------------------------------------------ format 1 -> 2
MOVED_MODULES = {
    "sparsegen.models.components.points": "sparsegen.models.components.point_gan",
    "sparsegen.models.components.point_layers": "sparsegen.models.components.point_parts",
    "sparsegen.models.components.point_autoencoders": "sparsegen.models.components.point_vae",
    "sparsegen.models.components.point_velocity": "sparsegen.models.components.point_flow",
}
"""Modules renamed in format 2 (the point modules named like the image ones)."""

RETIRED_ARGS: dict[str, Any] = {"num_classes": 0, "conditional": False}
"""Init arguments that conditioning replaced, with the value that meant "off" (dropped when at it)."""

ADDED_ARGS: dict[str, dict[str, Any]] = {
    "FlowMatching": {"time_sampling": "uniform", "ptrel_space": "linear", "angle_space": "linear",
                     "angle_width": 0.02, "lr_schedule": "constant", "cond_dropout": 0.0, "guidance": 0.0,
                     "conserve_pt": False},
    "VAE": {"lr_schedule": "constant"},
    "WGANGP": {"n_generator": 1, "drift": 0.0, "critic_warmup": 0, "spectrum_matching": 0.0,
               "occupancy_matching": 0.0, "mass_matching": 0.0, "lr_schedule": "constant"},
}
"""Model init arguments added while format 1 was written, with the behaviour a checkpoint without them had
(stated here, so a later change of a default never changes what an old checkpoint means)."""

FLOW_MAPS = ("ptrel_log", "angles_asinh")
"""Flow-coordinate modules whose ``loc`` / ``scale`` buffers were 0-d before they became per-column."""


def _renamed(path: str) -> str:
    module, _, name = path.rpartition(".")
    return f"{MOVED_MODULES.get(module, module)}.{name}"


def _migrate_spec(spec: Any) -> Any:
    """Moved class paths, retired arguments at "off" dropped, added arguments stated (recursively)."""
    if isinstance(spec, list):
        return [_migrate_spec(v) for v in spec]
    if not isinstance(spec, dict):
        return spec
    if "class_path" not in spec:
        return {k: _migrate_spec(v) for k, v in spec.items()}
    path = _renamed(str(spec["class_path"]))
    args = {k: _migrate_spec(v) for k, v in (spec.get("init_args") or {}).items()
            if not (k in RETIRED_ARGS and v == RETIRED_ARGS[k])}
    for key, value in ADDED_ARGS.get(path.rpartition(".")[2], {}).items():
        args.setdefault(key, value)
    return {**spec, "class_path": path, "init_args": args}


def to_format_2(ckpt: Checkpoint) -> None:
    """Format 1 → 2: the renamed point modules; the model spec's retired and added arguments; GANs' EMA
    counter (they had none: the average counts as warmed up); 0-d flow-coordinate buffers; one ``jet_type``
    → the ``jet_types`` list."""
    if isinstance(ckpt.get("sparsegen_model"), dict):
        ckpt["sparsegen_model"] = _migrate_spec(ckpt["sparsegen_model"])
    state = ckpt.get("state_dict")
    if isinstance(state, dict):
        state.setdefault("ema_steps", torch.tensor(10**6))
        for key, value in list(state.items()):
            owner, _, name = key.rpartition(".")
            if (name in ("loc", "scale") and owner.rpartition(".")[2] in FLOW_MAPS
                    and isinstance(value, torch.Tensor) and value.dim() == 0):
                state[key] = value.reshape(1)
    info = ckpt.get("sparsegen_data_info")
    if isinstance(info, dict) and "jet_types" not in info and "jet_type" in info:
        info["jet_types"] = [JET_TYPES[int(info.pop("jet_type"))]]


# ------------------------------------------------------------------------------ format 2 -> 3
def to_format_3(ckpt: Checkpoint) -> None:
    """Format 2 → 3: a flow's coordinate maps moved into its flow space (``ptrel_log.loc`` →
    ``space.ptrel_log.loc``; `flow_space.ParticleSpace`)."""
    state = ckpt.get("state_dict")
    if isinstance(state, dict):
        for key in [k for k in state if k.partition(".")[0] in FLOW_MAPS]:
            state[f"space.{key}"] = state.pop(key)


MIGRATIONS: list[Callable[[Checkpoint], None]] = [to_format_2, to_format_3]
"""``MIGRATIONS[k - 1]`` turns a format-k checkpoint into format k + 1 (in place)."""

CHECKPOINT_FORMAT = len(MIGRATIONS) + 1
"""The format this sparsegen writes (and the newest it reads)."""


def checkpoint_format(ckpt: Checkpoint, source: str | os.PathLike = "checkpoint") -> int:
    """The format of ``ckpt`` (1 without the key); one error line for a format this sparsegen cannot read."""
    version = ckpt.get(FORMAT_KEY, 1)
    if isinstance(version, torch.Tensor) and version.numel() == 1:
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SparsegenInputError(str(source), f"unknown checkpoint format {version!r} (expected an integer "
                                               f"from 1 to {CHECKPOINT_FORMAT})")
    if version > CHECKPOINT_FORMAT:
        raise SparsegenInputError(str(source), f"checkpoint format {version} is newer than this sparsegen "
                                               f"reads (up to {CHECKPOINT_FORMAT}): upgrade sparsegen")
    return version


def migrate(ckpt: Checkpoint, source: str | os.PathLike = "checkpoint") -> Checkpoint:
    """Bring ``ckpt`` to `CHECKPOINT_FORMAT` in place (and return it); a current one is left as it is."""
    for step in MIGRATIONS[checkpoint_format(ckpt, source) - 1:]:
        step(ckpt)
    ckpt[FORMAT_KEY] = CHECKPOINT_FORMAT
    return ckpt


def stamp(ckpt: Checkpoint) -> None:
    """Mark a checkpoint being written as the current format."""
    ckpt[FORMAT_KEY] = CHECKPOINT_FORMAT
