"""Kill `sparsegen data generate` mid-way; rerunning the same command resumes from finished chunks and the
final file equals an uninterrupted run (no lost or duplicated jets)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sparsegen.core.defaults import PRESET
from sparsegen.core.io import read_jetnet
from sparsegen.data.generate import generate
from sparsegen.data.presets import preset_config

pytestmark = pytest.mark.slow  # Pythia generation


def test_killed_generation_resumes_to_the_same_file(tmp_path):
    out = tmp_path / "w.h5"
    cmd = [sys.executable, "-m", "sparsegen.cli", "data", "generate", "--jet-type", "w", "--num-jets", "400",
           "--chunk-size", "80", "--seed", "9", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    parts = tmp_path / "w.h5.parts"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("chunk_*.npz"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in parts.glob("chunk_*.npz"))
    assert 2 <= len(done) < 5 and not out.exists(), "killed before the end, nothing half-written"
    stamps = {p.name: p.stat().st_mtime_ns for p in parts.glob("chunk_*.npz")}

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    for name, stamp in stamps.items():
        assert name in done and stamp  # finished chunks were reused (their files were not rewritten)
    assert not parts.exists()

    generate(preset_config(PRESET, "w", seed=9, chunk_size=80), 400, tmp_path / "ref.h5", progress=False)
    pf, jf, _ = read_jetnet(out)
    ref_pf, ref_jf, _ = read_jetnet(tmp_path / "ref.h5")
    assert pf.shape == (400, 30, 4)
    assert np.array_equal(pf, ref_pf) and np.array_equal(jf, ref_jf)
    assert len(np.unique(jf[:, 1:4], axis=0)) == 400, "no duplicated jets"
