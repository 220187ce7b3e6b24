"""Where a model trains: LightningCLI for ``sparsegen fit | validate | test | predict`` and `fit` for Python.

Models and data are chosen by ``class_path`` (subclass mode): any `GenerativeModel` (``WGANGP``, ``VAE``,
``FlowMatching``) and any LightningDataModule (``JetDataModule``); networks are injected the same way
(``sparsegen.models.components.…``). The resolved config is saved next to the run (overwriting, as
wandb runs require); ``seed_everything`` defaults to 0.

**Data settings are stated once**, in the data config: ``npix``, ``extent`` and ``num_particles`` of
``data.init_args``, and ``cond_dim`` (the length of the condition vector of its ``conditions``), are linked
into every network of the model that takes them (networks default to ``None`` = "from the data"). A network
given a different value by hand is a config error (one line, exit 2); callbacks read the model's
``data_info``.

`fit` is the one "train a config (optionally for a budget of wall clock or CPU time) and keep its best
checkpoint" used by the demo, the studies and the benches.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from sparsegen.core.compose import compose_argv
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.core.resources import config_path
from sparsegen.data.conditions import condition_dim
from sparsegen.data.info import LINKED_SETTINGS
from sparsegen.models.base import GenerativeModel
from sparsegen.models.callbacks import CPUTimeBudget

QUICK_TRAINER = (
    "--trainer.max_epochs",
    "1",
    "--trainer.limit_train_batches",
    "2",
    "--trainer.limit_val_batches",
    "1",
    "--trainer.check_val_every_n_epoch",
    "1",
    "--trainer.val_check_interval",
    "1.0",
)
"""Test scale: one short epoch instead of a wall-clock budget, validated at its end (whatever the config's
validation interval)."""


class ConfigError(SystemExit):
    """A bad config or CLI argument (raised instead of printing usage); `sparsegen.cli` prints one line."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = " ".join(str(message).split())


class _Parser(LightningArgumentParser):
    def error(self, message: str, ex: Exception | None = None) -> None:  # type: ignore[override]
        raise ConfigError(message)


def _get(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    return getattr(node, key, None)


def _set(node: Any, key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
    else:
        setattr(node, key, value)


def _items(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    if hasattr(node, "__dict__"):
        return list(vars(node).items())
    return []


def link_data_settings(model: Any, data: Any, path: str = "model") -> None:
    """Fill ``npix`` / ``extent`` / ``num_particles`` / ``cond_dim`` of every network spec under ``model``
    from ``data`` (``cond_dim``: the length of the condition vector of the data's ``conditions``).

    ``model`` and ``data`` are parsed ``{"class_path", "init_args"}`` nodes. A network whose init takes a
    linked setting gets the data's value; one given a different value raises `ConfigError`.
    """
    data_args = _get(data, "init_args")
    values = {k: _get(data_args, k) for k in LINKED_SETTINGS} if data_args is not None else {}
    conditions, jet_types = _get(data_args, "conditions"), _get(data_args, "jet_types")
    if conditions is not None and jet_types is not None:
        values["cond_dim"] = condition_dim(
            conditions, [jet_types] if isinstance(jet_types, str) else jet_types
        )
    values = {k: v for k, v in values.items() if v is not None}
    if values:
        _link(model, values, path)


def _link(node: Any, values: dict[str, Any], path: str) -> None:
    class_path, init_args = _get(node, "class_path"), _get(node, "init_args")
    if isinstance(class_path, str) and init_args is not None:
        module, _, name = class_path.rpartition(".")
        try:
            params = inspect.signature(getattr(importlib.import_module(module), name).__init__).parameters
        except (ImportError, AttributeError, ValueError, TypeError):
            params = {}
        for key, value in values.items():
            if key not in params:
                continue
            given = _get(init_args, key)
            if given is None:
                _set(init_args, key, value)
            elif given != value:
                raise ConfigError(
                    f"{path}.init_args.{key} is {given} but data.init_args.{key} is {value}: state "
                    f"{key} once, in the data config (it is linked to every network that takes it)"
                )
        for key, child in _items(init_args):
            _link(child, values, f"{path}.init_args.{key}")
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            _link(child, values, f"{path}[{i}]")


class SparsegenCLI(LightningCLI):
    """LightningCLI with sparsegen's defaults.

    Checkpoints of a run go to ``<default_root_dir>/checkpoints`` (not a per-version folder), so
    ``sparsegen fit --config X --ckpt_path last`` resumes the previous run of the same config.
    """

    def add_arguments_to_parser(self, parser) -> None:
        parser.set_defaults({"trainer.default_root_dir": "runs"})

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        link_data_settings(cfg["model"], cfg["data"])

    def after_instantiate_classes(self) -> None:
        for cb in self.trainer.callbacks:
            if isinstance(cb, ModelCheckpoint) and cb.dirpath is None:
                cb.dirpath = os.path.join(self.trainer.default_root_dir, "checkpoints")


def build_cli(args: Sequence[str] | None = None, run: bool = True) -> SparsegenCLI:
    """The CLI object (``run=False`` only instantiates, for `fit`, tests and notebooks)."""
    argv = compose_argv(sys.argv[1:] if args is None else args)  # configs' shared blocks merged in
    return SparsegenCLI(
        model_class=GenerativeModel,
        datamodule_class=pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        seed_everything_default=0,
        auto_configure_optimizers=False,
        args=None if argv == sys.argv[1:] else argv,
        run=run,
        parser_class=_Parser,
    )


def resolve_configs(argv: Sequence[str]) -> list[str]:
    """``argv`` with every ``--config`` value made a file path (a shipped config may be named:
    `sparsegen.core.resources.config_path`)."""
    out, argv = [], list(argv)
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            arg = "--config=" + str(config_path(arg.partition("=")[2]))
        elif i > 0 and argv[i - 1] == "--config":
            arg = str(config_path(arg))
        out.append(arg)
    return out


def run_lightning(argv: Sequence[str]) -> int:
    """``sparsegen fit|validate|test|predict ...`` (argv includes the subcommand)."""
    argv = resolve_configs(argv)
    from sparsegen.models.ckpt_check import check_ckpt_path

    check_ckpt_path(argv)  # before LightningCLI reads the file: one line naming the checkpoint
    try:
        build_cli(argv)
    except ValueError as exc:
        # jsonargparse wraps errors raised while instantiating classes (e.g. a bad JetDataModule argument)
        if isinstance(exc, SparsegenInputError) or "Union subtypes" not in str(exc):
            raise
        errors = [ln.strip()[2:] for ln in str(exc).splitlines()
                  if ln.strip().startswith("- ") and "NoneType" not in ln]
        problem = errors[0] if errors else str(exc).splitlines()[0]
        problem = problem.removeprefix("config: ")  # a component's own config error, wrapped: "config" once
        raise SparsegenInputError("config", problem) from exc
    return 0


# ------------------------------------------------------------------------------------- fit from Python
def max_time(minutes: float) -> str:
    """Lightning's DD:HH:MM:SS from minutes."""
    seconds = round(minutes * 60)
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass
class FitResult:
    """What `fit` returns: the CLI objects, the checkpoint the model holds and the last one, timing and step
    counts.

    ``checkpoint`` is the file whose weights the returned model holds: the best by the monitored metric
    (``checkpoint_kind == "best"``) or, for a config that monitors nothing, the last one (``"last"``);
    ``""`` (kind ``""``) when the run wrote no checkpoint."""

    cli: SparsegenCLI
    checkpoint: str
    checkpoint_kind: str
    last: str
    train_s: float
    load: float
    epochs: int
    steps: int
    critic_steps: int
    train_cpu_s: float = 0.0

    @property
    def model(self) -> GenerativeModel:
        return self.cli.model

    @property
    def datamodule(self) -> Any:
        return self.cli.datamodule


def fit(config: str | os.PathLike, run_dir: str | os.PathLike, seed: int = 0, minutes: float | None = None,
        num_jets: int | None = None, logger: str = "csv", overrides: Sequence[str] = (),
        progress_bar: bool = False, save_config: bool = True, clock: str = "wall") -> FitResult:
    """Train ``config`` into ``run_dir`` and restore its best checkpoint (by the monitored metric,
    ``val/w1m``; without one the model stays at its last step: `FitResult.checkpoint`).

    ``minutes`` sets a budget, epochs unbounded: of wall clock (``clock="wall"``, Lightning ``max_time``) or
    of this process's CPU time (``clock="cpu"``, `CPUTimeBudget`: the same computation however busy the
    machine is, with four times the minutes of wall clock as a backstop); ``num_jets`` overrides the data
    size; ``logger`` is "csv" (into ``run_dir``) or "wandb" (the shipped ``logger/wandb`` config, offline);
    ``overrides`` are further LightningCLI arguments and win over everything above (e.g. `QUICK_TRAINER`).
    The resolved config is written to ``run_dir/config.yaml``.
    """
    run_dir = Path(run_dir)
    argv = [
        "--config",
        str(config_path(config)),
        "--seed_everything",
        str(seed),
        "--trainer.default_root_dir",
        str(run_dir),
        "--trainer.enable_progress_bar",
        str(progress_bar).lower(),
    ]
    if clock not in ("wall", "cpu"):
        raise SparsegenInputError("clock", f"must be 'wall' or 'cpu', got '{clock}'")
    if minutes is not None:
        wall = minutes if clock == "wall" else 4 * minutes
        argv += ["--trainer.max_time", max_time(wall), "--trainer.max_epochs", "100000",
                 "--trainer.enable_model_summary", "false"]
    if num_jets is not None:
        argv += ["--data.init_args.num_jets", str(num_jets)]
    if logger == "wandb":
        argv += ["--config", str(config_path("logger/wandb")),
                 "--trainer.logger.init_args.save_dir", str(run_dir),
                 "--trainer.logger.init_args.name", run_dir.name]
    elif logger == "csv":
        argv += [
            "--trainer.logger",
            "pytorch_lightning.loggers.CSVLogger",
            "--trainer.logger.save_dir",
            str(run_dir),
        ]
    else:
        raise SparsegenInputError("logger", f"must be 'csv' or 'wandb', got '{logger}'")
    cli = build_cli([*argv, *overrides], run=False)
    if minutes is not None and clock == "cpu":
        cli.trainer.callbacks.append(CPUTimeBudget(minutes))
    if save_config:
        from sparsegen.core.io import write_text

        write_text(run_dir / "config.yaml", cli.parser.dump(cli.config, skip_none=False))
    start, cpu_start, load_before = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    train_s, train_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    model = cli.model
    cbs = cli.trainer.checkpoint_callbacks
    best = next((c.best_model_path for c in cbs if c.monitor and c.best_model_path), "")
    last = next((c.last_model_path for c in cbs if c.last_model_path), "")
    kind = "best" if best else ("last" if last else "")
    result = FitResult(cli, best or last, kind, last, train_s, (load_before + os.getloadavg()[0]) / 2,
                       cli.trainer.current_epoch, int(getattr(model, "gen_steps", cli.trainer.global_step)),
                       int(getattr(model, "critic_steps", 0)), train_cpu_s)
    if best:
        model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    return result


def held_out(datamodule: Any) -> Jets:
    """The real jets a trained model is scored against: validation + test splits."""
    datamodule.prepare_data()
    return Jets.concat([datamodule.real_jets("val"), datamodule.real_jets("test")])
