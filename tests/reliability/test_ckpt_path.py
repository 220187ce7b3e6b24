"""``fit | validate | test | predict --ckpt_path FILE`` is checked before LightningCLI reads it
(`sparsegen.models.ckpt_check`): a missing, unreadable or truncated file, or a checkpoint of another model
than the config's, is one line naming the checkpoint, exit status 2, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sparsegen.cli import main
from sparsegen.models.ckpt_check import check_ckpt_path
from tests.reliability.cli_checks import error_line, listing

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
OWN = str(CONFIGS / "images/wgan_gp_sparse.yaml")  # the config tiny_checkpoint was trained from
TINY_IS = "is a WGANGP (generator SparseAwareGenerator, critic SparseCritic) checkpoint"


@pytest.fixture
def ckpts(tiny_checkpoint, tmp_path, monkeypatch) -> dict[str, str]:
    """Bad checkpoints in a fresh working folder (LightningCLI would write runs/ there)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    data = Path(tiny_checkpoint).read_bytes()
    Path("truncated.ckpt").write_bytes(data[: len(data) // 2])
    Path("garbage.ckpt").write_bytes(b"not a checkpoint")
    torch.save({"state_dict": {}}, "plain.ckpt")
    Path("a-folder").mkdir()
    return {"tiny": str(tiny_checkpoint), "truncated": "truncated.ckpt", "garbage": "garbage.ckpt",
            "plain": "plain.ckpt", "missing": "missing.ckpt", "folder": "a-folder"}


WITH_OWN = ["--config", OWN, "--ckpt_path", "CKPT"]


@pytest.mark.parametrize("argv, ckpt, needle", [
    (["fit", *WITH_OWN], "truncated", "truncated.ckpt: not a complete checkpoint"),
    (["fit", "--config", OWN, "--ckpt_path=CKPT"], "missing", "missing.ckpt: --ckpt_path: checkpoint does"),
    (["validate", *WITH_OWN], "garbage", "garbage.ckpt: not a readable checkpoint"),
    (["test", "--ckpt_path", "CKPT", "--config", OWN], "plain", "plain.ckpt: not a sparsegen model"),
    (["predict", *WITH_OWN], "folder", "a-folder: is a folder"),
    (["validate", "--config", str(CONFIGS / "points/flow_matching.yaml"), "--ckpt_path", "CKPT"], "tiny",
     f"{TINY_IS}, the config builds FlowMatching (velocity EPiCVelocity)"),
    (["fit", "--config", str(CONFIGS / "points/epic_gan.yaml"), "--ckpt_path", "CKPT"], "tiny",
     f"{TINY_IS}, the config builds WGANGP (generator EPiCGenerator, critic EPiCCritic)"),
    (["fit", *WITH_OWN, "--model.init_args.generator", "sparsegen.models.components.ImageGenerator"], "tiny",
     "the config builds WGANGP (generator ImageGenerator, critic SparseCritic)"),
])
def test_bad_ckpt_path_is_one_line_before_lightning(ckpts, tmp_path, capsys, argv, ckpt, needle):
    argv = [a.replace("CKPT", ckpts[ckpt]) for a in argv]
    before = listing(tmp_path)
    assert main(argv) == 2
    line = error_line(capsys.readouterr().err)
    assert needle in line, line
    if ckpt == "tiny":
        assert f"--ckpt_path: checkpoint {ckpts['tiny']} is a" in line
    assert listing(tmp_path) == before, "nothing written (no runs/)"


def test_a_matching_checkpoint_and_lightnings_own_values_pass(ckpts):
    check_ckpt_path(["fit", "--config", OWN, "--ckpt_path", ckpts["tiny"]])
    check_ckpt_path(["fit", "--config", OWN, "--model", "sparsegen.models.wgan_gp.WGANGP", "--ckpt_path",
                     ckpts["tiny"]])  # another module path of the same class
    for special in ("last", "best", "hpc", "null"):
        check_ckpt_path(["fit", "--config", OWN, "--ckpt_path", special])
    check_ckpt_path(["fit", "--config", OWN])


def test_sample_names_a_truncated_checkpoint(ckpts, capsys):
    assert main(["sample", "--ckpt", ckpts["truncated"], "--num-jets", "5", "--out", "x.h5"]) == 2
    assert "truncated.ckpt: not a complete checkpoint" in error_line(capsys.readouterr().err)
