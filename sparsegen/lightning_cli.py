"""LightningCLI for ``sparsegen fit | validate | test | predict --config configs/....yaml``.

Models and data are chosen by ``class_path`` (subclass mode): any `GenerativeModel` (``WGANGP``,
``VAE``, …) and any LightningDataModule (``JetDataModule``); networks are injected the same way
(``sparsegen.models.components.…``). The resolved config is saved next to the run (overwriting, as
wandb runs require); ``seed_everything`` defaults to 0.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from sparsegen.errors import SparsegenInputError
from sparsegen.models.base import GenerativeModel


class ConfigError(SystemExit):
    """A bad config or CLI argument (raised instead of printing usage); `sparsegen.cli` prints one line."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = " ".join(str(message).split())


class _Parser(LightningArgumentParser):
    def error(self, message: str, ex: Exception | None = None) -> None:  # type: ignore[override]
        raise ConfigError(message)


class SparsegenCLI(LightningCLI):
    """LightningCLI with sparsegen's defaults.

    Checkpoints of a run go to ``<default_root_dir>/checkpoints`` (not a per-version folder), so
    ``sparsegen fit --config X --ckpt_path last`` resumes the previous run of the same config.
    """

    def add_arguments_to_parser(self, parser) -> None:
        parser.set_defaults({"trainer.default_root_dir": "runs"})

    def after_instantiate_classes(self) -> None:
        for cb in self.trainer.callbacks:
            if isinstance(cb, ModelCheckpoint) and cb.dirpath is None:
                cb.dirpath = os.path.join(self.trainer.default_root_dir, "checkpoints")


def build_cli(args: Sequence[str] | None = None, run: bool = True) -> SparsegenCLI:
    """The CLI object (``run=False`` only instantiates, for tests and notebooks)."""
    return SparsegenCLI(
        model_class=GenerativeModel,
        datamodule_class=pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        seed_everything_default=0,
        auto_configure_optimizers=False,
        args=None if args is None or list(args) == sys.argv[1:] else list(args),
        run=run,
        parser_class=_Parser,
    )


def run(argv: Sequence[str]) -> int:
    """``sparsegen fit|validate|test|predict ...`` (argv includes the subcommand)."""
    try:
        build_cli(argv)
    except ValueError as exc:
        # jsonargparse wraps errors raised while instantiating classes (e.g. a bad JetDataModule argument)
        if isinstance(exc, SparsegenInputError) or "Union subtypes" not in str(exc):
            raise
        errors = [ln.strip()[2:] for ln in str(exc).splitlines()
                  if ln.strip().startswith("- ") and "NoneType" not in ln]
        raise SparsegenInputError("config", errors[0] if errors else str(exc).splitlines()[0]) from exc
    return 0
