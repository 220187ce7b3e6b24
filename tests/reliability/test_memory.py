"""A request that cannot fit in memory is refused up front (`sparsegen.core.memory.check_memory`): one line
saying how much it needs and how much the machine has, exit status 2, nothing allocated or written."""

from __future__ import annotations

import pytest

from sparsegen.cli import main
from sparsegen.core import memory
from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.base import GenerativeModel
from tests.reliability.cli_checks import error_line, listing

HUGE = str(10**12)


def test_sampling_more_jets_than_memory_holds(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    def sample(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(GenerativeModel, "sample", sample)
    assert main(["sample", "--ckpt", str(tiny_checkpoint), "--num-jets", HUGE, "--no-progress",
                 "--out", str(tmp_path / "x.h5")]) == 2
    line = error_line(capsys.readouterr().err)
    assert f"--num-jets: {HUGE} jets need at least" in line and "available" in line, line
    assert listing(tmp_path) == {}


def test_generating_more_jets_than_memory_holds(tmp_path, capsys):
    out = tmp_path / "g.h5"
    assert main(["data", "generate", "--jet-type", "g", "--num-jets", HUGE, "--out", str(out)]) == 2
    line = error_line(capsys.readouterr().err)
    assert f"--num-jets: {HUGE} jets of 30 particles need at least" in line and "in total" in line, line
    assert listing(tmp_path) == {}, "no OUT.parts/ either"


def test_check_memory_says_need_and_have(monkeypatch):
    available, total = memory.memory_bytes()
    assert 0 < available <= total  # this (Linux) machine reports both
    monkeypatch.setattr(memory, "memory_bytes", lambda: (2_000_000_000, 8_000_000_000))
    memory.check_memory("--num-jets", 1_999_999_999, "a few jets")
    with pytest.raises(SparsegenInputError) as err:
        memory.check_memory("--num-jets", 3.5e9, "many jets")
    assert str(err.value) == ("--num-jets: many jets need at least 3.5 GB of memory, this machine has "
                              "2.0 GB available (8.0 GB in total)")
    monkeypatch.setattr(memory, "memory_bytes", lambda: (None, None))
    memory.check_memory("--num-jets", 1e30, "unknowable")  # a platform that does not say: no refusal
