"""``sparsegen data info f.h5 | head -1``: a reader that closes the pipe early ends the command quietly, with
the status of a process killed by SIGPIPE (`sparsegen.cli.main.SIGPIPE_STATUS`), no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sparsegen.cli.main import SIGPIPE_STATUS


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_closed_stdout_exits_quietly(tmp_path, make_jets, extra):
    make_jets(20).save(tmp_path / "f.h5")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        proc = subprocess.run([sys.executable, "-m", "sparsegen.cli", "data", "info", str(tmp_path / "f.h5"),
                               *extra], stdout=write, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == SIGPIPE_STATUS == 141
    assert proc.stderr.decode() == "", "no traceback, no 'Exception ignored' line"


def test_evaluate_writes_its_metrics_before_a_closed_pipe_ends_it(tmp_path, make_jets):
    make_jets(300, seed=1).save(tmp_path / "real.h5")
    make_jets(150, seed=2).save(tmp_path / "gen.h5")
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "sparsegen.cli", "evaluate", "--real",
                               str(tmp_path / "real.h5"), "--gen", str(tmp_path / "gen.h5"), "--quick",
                               "--no-classifier", "--out", str(tmp_path / "m.json")],
                              stdout=write, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(write)
    assert proc.returncode == SIGPIPE_STATUS, proc.stderr.decode()[-2000:]
    assert "Traceback" not in proc.stderr.decode()
    assert (tmp_path / "m.json").stat().st_size > 0, "the metrics were written before the table"
