"""Fixtures for model tests: a tiny cached generated dataset shared by every config run."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SPARSEGEN_DATA for config runs: the first run generates 60 gluon jets, the rest reuse them."""
    return tmp_path_factory.mktemp("model_data")


@pytest.fixture
def use_model_data(model_data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("SPARSEGEN_DATA", str(model_data_dir))
    monkeypatch.chdir(tmp_path)
    return tmp_path
