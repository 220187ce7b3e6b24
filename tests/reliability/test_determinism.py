"""Same seed → byte-identical generated data files, and bit-identical sampled jets from two processes that
run the same kernels."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from sparsegen.core.jets import Jets

pytestmark = pytest.mark.slow  # Pythia generation and the tiny checkpoint's fit


def test_generated_files_are_byte_identical(tmp_path):
    for name, workers in (("a", "1"), ("b", "2")):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sparsegen.cli",
                "data",
                "generate",
                "--jet-type",
                "t",
                "--num-jets",
                "120",
                "--chunk-size",
                "50",
                "--seed",
                "3",
                "--workers",
                workers,
                "--no-progress",
                "--out",
                str(tmp_path / f"{name}.h5"),
            ],
            check=True,
            capture_output=True,
        )
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


# One intra-op thread and no dynamic MKL threading: how many threads split a reduction changes its last
# bits, and a last bit can flip a straight-through Bernoulli pixel or the spectrum-floor cut, which then
# rescales the whole energy-conserving jet; with the kernels pinned, two processes must agree bit for bit.
PINNED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MKL_DYNAMIC": "FALSE"}


def sample(ckpt, seed: int, out) -> Jets:
    subprocess.run([sys.executable, "-m", "sparsegen.cli", "sample", "--ckpt", str(ckpt), "--num-jets", "40",
                    "--seed", str(seed), "--images", "--no-progress", "--out", str(out)],
                   check=True, capture_output=True, env=os.environ | PINNED)
    return Jets.load(out)


def test_sampled_jets_are_identical_across_processes(tmp_path, tiny_checkpoint):
    a, b = (sample(tiny_checkpoint, 7, tmp_path / f"{name}.h5") for name in ("a", "b"))
    assert (a.images > 0).any()
    for field in ("images", "particles", "mask", "jet_features"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    c = sample(tiny_checkpoint, 8, tmp_path / "c.h5")
    assert not np.array_equal(c.images, a.images)
