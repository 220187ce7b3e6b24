"""Kill or Ctrl-C `sparsegen data generate` mid-way; rerunning the same command resumes from finished chunks
and the final file equals an uninterrupted run (no lost or duplicated jets)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sparsegen.core.defaults import PRESET
from sparsegen.core.io import read_jetnet
from sparsegen.data.generate import generate
from sparsegen.data.presets import preset_config

pytestmark = pytest.mark.slow  # Pythia generation

SIGINT_EXIT_S = 5.0
"""Ctrl-C to exit, with margin for a loaded 2-core machine (idle: README, "Interrupted generation"). The
discriminating check is that no running chunk gets published: a chunk of `LONG_CHUNK` jets takes longer than
this on one core, so a command that waited for its workers would publish them."""

LONG_CHUNK = 1000

def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sparsegen.cli", "data", "generate", "--jet-type", "w", "--num-jets", "400",
            "--chunk-size", "80", "--seed", "9", "--no-progress", "--out", str(out), *extra]


def start_and_wait_for_chunks(cmd: list[str], parts: Path, chunks: int) -> subprocess.Popen:
    """Start ``cmd`` in its own process group; return once ``chunks`` chunks are finished."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("chunk_*.npz"))) < chunks:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    return proc


def interruptible() -> None:
    """In the child before exec: Ctrl-C as a terminal's foreground command gets it, whatever this test
    process inherited (a SIGINT ignored or blocked here would be ignored by the command too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def live_processes_in_group(pgid: int, wait_s: float = 5.0) -> list[str]:
    """``ps`` lines of the group's processes that still run after up to ``wait_s`` (zombies have exited:
    a container's init may never reap them)."""
    deadline = time.monotonic() + wait_s
    while True:
        ps = subprocess.run(["ps", "-o", "stat=,args=", "-g", str(pgid)], capture_output=True, text=True)
        live = [ln for ln in ps.stdout.splitlines() if ln.strip() and not ln.strip().startswith("Z")]
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """The uninterrupted run of `command`, in-process."""
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    generate(preset_config(PRESET, "w", seed=9, chunk_size=80), 400, out, progress=False)
    pf, jf, _ = read_jetnet(out)
    return pf, jf


def assert_same_as_reference(out: Path, reference: tuple[np.ndarray, np.ndarray]) -> None:
    pf, jf, _ = read_jetnet(out)
    assert pf.shape == (400, 30, 4)
    assert np.array_equal(pf, reference[0]) and np.array_equal(jf, reference[1])
    assert len(np.unique(jf[:, 1:4], axis=0)) == 400, "no duplicated jets"


def test_killed_generation_resumes_to_the_same_file(tmp_path, reference):
    out = tmp_path / "w.h5"
    parts = tmp_path / "w.h5.parts"
    proc = start_and_wait_for_chunks(command(out), parts, 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in parts.glob("chunk_*.npz"))
    assert 2 <= len(done) < 5 and not out.exists(), "killed before the end, nothing half-written"
    stamps = {p.name: p.stat().st_mtime_ns for p in parts.glob("chunk_*.npz")}

    res = subprocess.run(command(out), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    for name, stamp in stamps.items():
        assert name in done and stamp  # finished chunks were reused (their files were not rewritten)
    assert not parts.exists()
    assert_same_as_reference(out, reference)


@pytest.mark.parametrize("to", ["group", "parent"])
def test_ctrl_c_stops_the_running_chunks_at_once(tmp_path, to):
    """``to="group"``: Ctrl-C in a terminal (every process of the group gets SIGINT); ``"parent"``:
    ``kill -INT`` of the command alone, whose workers must then be stopped by it. Sent while both workers
    are inside a long chunk: the command exits 130 at once, the chunks in flight are never published and no
    temporary file or worker outlives it (resuming from finished chunks: the SIGKILL test above)."""
    out = tmp_path / "w.h5"
    parts = tmp_path / "w.h5.parts"
    cmd = command(out, "--workers", "2")
    cmd[cmd.index("--num-jets") + 1] = str(2 * LONG_CHUNK)
    cmd[cmd.index("--chunk-size") + 1] = str(LONG_CHUNK)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=interruptible)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(live_processes_in_group(proc.pid, wait_s=0)) < 3:
        time.sleep(0.05)  # the command and its two workers
    time.sleep(2.0)  # the workers are initialized and generating
    assert proc.poll() is None and not list(parts.glob("chunk_*.npz")), "a chunk finished before Ctrl-C"
    sent = time.monotonic()
    if to == "group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    took = time.monotonic() - sent
    assert proc.returncode == 130 and err.decode().strip() == "sparsegen: interrupted", err.decode()[-2000:]
    assert not live_processes_in_group(proc.pid), "no worker outlives the command"
    left = sorted(p.name for p in parts.iterdir()) if parts.exists() else []
    assert left == [], f"the running chunks were stopped, not finished or left half-written: {left}"
    assert not out.exists()
    assert took < SIGINT_EXIT_S, f"Ctrl-C took {took:.1f} s to stop the workers (load {os.getloadavg()})"


def test_an_error_in_a_worker_is_one_line_and_leaves_nothing(tmp_path):
    res = subprocess.run(command(tmp_path / "w.h5", "--workers", "2", "--pythia", "Bogus:setting = 3"),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.strip().splitlines() == ["sparsegen: error: Pythia card: Pythia rejected the setting "
                                               "'Bogus:setting = 3'"]
    assert list(tmp_path.iterdir()) == [], "no OUT.parts/ without a finished chunk"
