"""LightningCLI for ``sparsegen fit | validate | test | predict --config configs/....yaml``.

Models and data are chosen by ``class_path`` (subclass mode): any `GenerativeModel` (``WGANGP``,
``VAE``, …) and any LightningDataModule (``JetDataModule``); networks are injected the same way
(``sparsegen.models.components.…``). The resolved config is saved next to the run (overwriting, as
wandb runs require); ``seed_everything`` defaults to 0.
"""

from __future__ import annotations

from typing import Sequence

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningCLI

from sparsegen.models.base import GenerativeModel


class SparsegenCLI(LightningCLI):
    """LightningCLI with sparsegen's defaults."""

    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001
        parser.set_defaults({"trainer.default_root_dir": "runs"})


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
        args=list(args) if args is not None else None,
        run=run,
    )


def run(argv: Sequence[str]) -> int:
    """``sparsegen fit|validate|test|predict ...`` (argv includes the subcommand)."""
    build_cli(argv)
    return 0
