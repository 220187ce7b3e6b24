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
