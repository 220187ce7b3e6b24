"""`sparsegen data generate | merge | info` through the console entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sparsegen.cli import main
from sparsegen.core.io import read_jetnet


@pytest.mark.slow
def test_generate_and_info(tmp_path, capsys):
    out = tmp_path / "z.h5"
    assert main(["data", "generate", "--jet-type", "z", "--num-jets", "30", "--seed", "1", "--no-progress",
                 "--out", str(out)]) == 0
    assert "30 z jets" in capsys.readouterr().out
    pf, jf, attrs = read_jetnet(out)
    assert pf.shape == (30, 30, 4) and np.all(jf[:, 0] == 4) and attrs["seed"] == 1
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_jets"] == 30 and info["classes"] == {"z": 30}
    assert 70 < info["per_class"]["z"]["mass_quantiles"]["50"] < 140


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    for argv in (
        ["data", "generate", "--jet-type", "x", "--num-jets", "5", "--out", str(tmp_path / "a.h5")],
        ["data", "generate", "--jet-type", "g", "--num-jets", "-5", "--out", str(tmp_path / "a.h5")],
        [
            "data",
            "generate",
            "--jet-type",
            "g",
            "--num-jets",
            "5",
            "--shard",
            "3/2",
            "--out",
            str(tmp_path / "a.h5"),
        ],
        ["data", "info", str(tmp_path / "nope.h5")],
        ["data", "frobnicate"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("sparsegen: error:"), (argv, err)
    assert not (tmp_path / "a.h5").exists()


def test_console_script_exit_status(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "sparsegen.cli", "data", "info", str(tmp_path / "missing.h5")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert (
        res.stderr.strip().count("\n") == 0 and "missing.h5" in res.stderr and "Traceback" not in res.stderr
    )
