"""Every command that writes a file checks the output path before any work (`core.io.check_output`): a
folder, a path under a file, a folder without write permission, or an existing file without
``--overwrite`` is one line naming the path, exit status 2, and nothing is written or changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparsegen.cli import main
from sparsegen.core.io import check_output, check_output_folder
from sparsegen.core.jets import Jets
from tests.reliability.cli_checks import error_line, listing

PRECIOUS = b"yesterday's million jets (not necessarily a sparsegen file)"

COMMANDS = {
    "sample": lambda out: ["sample", "--ckpt", "m.ckpt", "--num-jets", "5", "--no-progress", "--out", out],
    "generate": lambda out: ["data", "generate", "--jet-type", "g", "--num-jets", "10", "--chunk-size", "10",
                             "--no-progress", "--out", out],
    "merge": lambda out: ["data", "merge", "a.h5", "b.h5", "--out", out],
    "evaluate": lambda out: ["evaluate", "--real", "r.h5", "--gen", "g.h5", "--quick", "--out", out],
    "evaluate-plots": lambda out: ["evaluate", "--real", "r.h5", "--gen", "g.h5", "--quick", "--plots", out],
}


@pytest.fixture
def no_work(monkeypatch):
    """The work of every command fails the test: the refusal must come before it."""
    import sparsegen.data.files
    import sparsegen.data.generate
    import sparsegen.models.spec

    def work(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(sparsegen.models.spec, "load_model", work)
    monkeypatch.setattr(sparsegen.data.generate, "generate", work)
    monkeypatch.setattr(sparsegen.data.files, "merge_files", work)
    monkeypatch.setattr(Jets, "load", work)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    (tmp_path / "a-file").write_bytes(PRECIOUS)
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "read-only").mkdir()
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "mass.png").write_bytes(PRECIOUS)
    return tmp_path


def deny_writing(monkeypatch, folder: Path) -> None:
    """``folder`` without write permission; root writes anyway, so os.access is told so as well."""
    os.chmod(folder, 0o555)
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if os.path.abspath(path) == str(folder) and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


CASES = {  # output path -> what the line says
    "a-folder": "is a folder",
    "a-file/x.h5": "a-file is a file, not a folder",
    "a-file/new/x.h5": "a-file is a file, not a folder",
    "read-only/x.h5": "no write permission",
    "read-only/new/x.h5": "no write permission",
    "a-file": "exists; pass --overwrite to replace it",
}
PLOT_CASES = {
    "a-file": "exists and is not a folder",
    "a-file/plots": "a-file is a file, not a folder",
    "read-only/plots": "no write permission",
    "plots": "already holds mass.png; pass --overwrite to replace them",
}


PAIRS = [(command, case, expected) for command in COMMANDS
         for case, expected in (PLOT_CASES if command == "evaluate-plots" else CASES).items()]


@pytest.mark.parametrize("command, case, expected", PAIRS)
def test_bad_output_is_refused_before_any_work(workdir, monkeypatch, capsys, no_work, command, case,
                                               expected):
    deny_writing(monkeypatch, workdir / "read-only")
    before = listing(workdir)
    try:
        status = main(COMMANDS[command](case))
    finally:
        os.chmod(workdir / "read-only", 0o755)
    assert status == 2
    line = error_line(capsys.readouterr().err)
    assert case in line and expected in line, line
    assert listing(workdir) == before, "nothing written, the existing file unchanged (no OUT.parts/ either)"


def test_overwrite_replaces_an_existing_sample(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "gen.h5"
    out.write_bytes(PRECIOUS)
    argv = ["sample", "--ckpt", str(tiny_checkpoint), "--num-jets", "5", "--no-progress", "--out", str(out)]
    assert main(argv) == 2 and "--overwrite" in error_line(capsys.readouterr().err)
    assert out.read_bytes() == PRECIOUS
    assert main([*argv, "--overwrite"]) == 0
    assert len(Jets.load(out)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen.h5"], "no temporary file left"


def test_generate_refuses_an_existing_file_and_overwrites_when_asked(tmp_path, capsys):
    out = tmp_path / "g.h5"
    out.write_bytes(PRECIOUS)
    argv = ["data", "generate", "--jet-type", "g", "--num-jets", "10", "--chunk-size", "10", "--seed", "1",
            "--no-progress", "--out", str(out)]
    assert main(argv) == 2
    line = error_line(capsys.readouterr().err)
    assert str(out) in line and "--overwrite" in line
    assert out.read_bytes() == PRECIOUS and not (tmp_path / "g.h5.parts").exists()
    assert main([*argv, "--overwrite"]) == 0
    assert len(Jets.load(out)) == 10 and not (tmp_path / "g.h5.parts").exists()


def test_what_the_checks_let_through(tmp_path):
    check_output(tmp_path / "new" / "deeper" / "x.h5")  # missing folders are made by atomic_write
    (tmp_path / "x.h5").write_bytes(PRECIOUS)
    check_output(tmp_path / "x.h5", overwrite=True)
    check_output_folder(tmp_path / "plots", "--plots")  # does not exist yet
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "notes.txt").write_text("not a figure")
    check_output_folder(tmp_path / "plots", "--plots")  # nothing it would replace
    (tmp_path / "plots" / "g").mkdir()
    (tmp_path / "plots" / "g" / "mass.png").write_bytes(PRECIOUS)  # a per-class figure
    with pytest.raises(ValueError, match="g/mass.png"):
        check_output_folder(tmp_path / "plots", "--plots")
    check_output_folder(tmp_path / "plots", "--plots", overwrite=True)
    assert (tmp_path / "x.h5").read_bytes() == PRECIOUS and not (tmp_path / "new").exists()
