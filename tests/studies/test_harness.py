"""The study harness: resume, the reproducing command, the section order, the options built from the
settings, and what a model is made of read from its classes."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest

from sparsegen.cli.main import build_parser
from sparsegen.cli.study import settings_from
from sparsegen.core.errors import SparsegenInputError
from sparsegen.studies import generative as G
from sparsegen.studies import harness as H
from sparsegen.studies import report as R
from sparsegen.studies import settings as S


def _record(minutes: float, s: S.Convergence) -> dict:
    out = {"minutes": minutes, "ran": True}
    R.write_json(H.result_path(s, f"{minutes:g}min"), out)
    return out


def test_resume_reads_finished_runs_back_and_runs_only_the_others(tmp_path: Path):
    s = S.Convergence(out=str(tmp_path), minutes=[1.0, 2.0, 3.0])
    R.write_json(H.result_path(s, "2min"), {"minutes": 2.0, "ran": False})
    prepared, ran = [], []

    def run_one(minutes: float, s: S.Convergence) -> dict:
        ran.append(minutes)
        return _record(minutes, s)

    runs = [(f"{m:g}min", (m,)) for m in s.minutes]
    rows = H.run_all(s, runs, run_one, prepare=lambda: prepared.append(1), desc="t", progress=False)
    assert ran == [1.0, 3.0] and prepared == [1]  # the finished run is not redone; data prepared once
    assert [r["minutes"] for r in rows] == [1.0, 2.0, 3.0] and rows[1]["ran"] is False  # in run order
    rows = H.run_all(s, runs, run_one, prepare=lambda: prepared.append(1), desc="t", progress=False)
    assert ran == [1.0, 3.0] and prepared == [1]  # all finished: nothing runs, no data is prepared

    rescored = []

    def rescore(minutes: float, s: S.Convergence) -> dict:
        rescored.append(minutes)
        return {"minutes": minutes, "rescored": True}

    rows = H.run_all(s, runs, run_one, prepare=lambda: None, desc="t", progress=False, rescore=rescore)
    assert rescored == [1.0, 2.0, 3.0] and all(r["rescored"] for r in rows) and ran == [1.0, 3.0]


@pytest.mark.parametrize("argv", [
    ["generative", "--family", "images", "--minutes", "3.5", "--jet-types", "g", "w", "--configs",
     "vae_dense"],
    ["conditional", "--jet-types", "t", "w", "--heldout", "500", "--clock", "wall"],
    ["convergence", "--minutes", "8", "0.5", "--jet-type", "t", "--quick"],
    ["sparse-coding", "--penalties", "0", "1.5", "--epochs", "3"],
    ["sparse-input", "--num-jets", "500", "--threads", "2"],
])
def test_the_printed_command_reproduces_the_settings(argv: list[str]):
    parser = build_parser()
    s = settings_from(parser.parse_args(["study", *argv, "--out", "x"]))
    cmd = H.command(s)
    assert cmd.startswith(f"sparsegen study {argv[0]} ")
    again = settings_from(parser.parse_args(shlex.split(cmd)[1:] + ["--out", "x"]))
    assert again == s  # every setting the command states comes back, and no other one differs


def test_command_follows_the_field_order_and_overrides():
    s = S.Generative(jet_types=["g", "t"], jobs=2)
    assert H.command(s, family="points") == (
        "sparsegen study generative --family points --minutes 10 --clock cpu --num-jets 35000 --seed 0 "
        "--jet-types g t --jobs 2 --threads 1")
    assert H.command(S.Convergence(minutes=[4, 2], quick=True)).startswith(
        "sparsegen study convergence --minutes 2 4 --config quickstart")  # budgets run smallest first
    assert "--rescore" not in H.command(S.Generative(rescore=True))  # an action, not a setting


def test_cli_defaults_are_the_settings_defaults():
    parser = build_parser()
    for name, cls in S.STUDIES.items():
        s = settings_from(parser.parse_args(["study", name]))
        assert s == cls(), name
        for f in S.options(cls):
            assert f.metadata["help"], (name, f.name)


def test_sections_follow_one_order(tmp_path: Path):
    s = S.Convergence(results=str(tmp_path / "results.md"))
    for name in reversed(H.SECTIONS):
        H.write_section(s, name, f"body of {name}")
    text = Path(s.results).read_text()
    assert [text.index(f"BEGIN study:{n}") for n in H.SECTIONS] == sorted(
        text.index(f"BEGIN study:{n}") for n in H.SECTIONS)
    H.write_section(s, "sparse_input", "again")
    assert R.section(Path(s.results).read_text(), "sparse_input") == "again"
    for module in ("generative", "sparse_input", "sparse_coding", "conditional", "convergence"):
        source = (Path(H.__file__).parent / f"{module}.py").read_text()
        assert "ORDER" not in source and "update_section" not in source, module  # one order: the harness's


def test_model_parts_are_read_from_the_classes():
    configs = {c.stem: c for c in G.discover_configs()}
    assert G.model_parts(configs["wgan_gp_dense"]) == {"kind": "gan", "generator": "dense", "critic": "dense"}
    assert G.model_parts(configs["wgan_gp_sparse_generator"]) == {"kind": "gan", "generator": "sparse",
                                                                  "critic": "dense"}
    assert G.model_parts(configs["vae_dense"]) == {"kind": "vae", "encoder": "dense", "decoder": "mse"}
    assert G.model_parts(configs["vae_ista"]) == {"kind": "vae", "encoder": "ista", "decoder": "hurdle"}
    assert G.model_parts(configs["flow_matching"]) == {"kind": "flow", "velocity": "points"}
    aware = {name: G.sparse_aware(G.model_parts(c)) for name, c in configs.items()}
    assert not aware["wgan_gp_dense"] and not aware["vae_dense"] and aware["vae_hurdle"]
    assert all(aware[c.stem] for c in G.discover_configs(family="points"))


def _config(tmp_path: Path, model: str, generator: str) -> Path:
    path = tmp_path / "images" / "custom.yaml"
    path.parent.mkdir(exist_ok=True)
    critic = {"class_path": "sparsegen.models.components.DenseCritic"}
    path.write_text(json.dumps({"model": {"class_path": model, "init_args": {
        "generator": {"class_path": generator}, "critic": critic}}}))
    return path


@pytest.mark.parametrize("model, generator, needle", [
    ("sparsegen.models.base.GenerativeModel", "sparsegen.models.components.DCGANGenerator", "no family"),
    ("sparsegen.models.WGANGP", "torch.nn.Linear", "no sparsity"),
    ("sparsegen.models.NoSuchModel", "sparsegen.models.components.DCGANGenerator", "cannot be imported"),
])
def test_an_unknown_model_or_network_is_refused_not_counted_sparse_aware(tmp_path: Path, model: str,
                                                                          generator: str, needle: str):
    with pytest.raises(SparsegenInputError, match=needle):
        G.model_parts(_config(tmp_path, model, generator))


def test_settings_check_names_the_option():
    with pytest.raises(SparsegenInputError, match="--num-jets"):
        S.check(S.Generative(num_jets=10))
    with pytest.raises(SparsegenInputError, match="--jet-types"):
        S.check(S.Conditional(jet_types=["g", "g"]))
    S.check(S.Convergence())
    assert dataclasses.asdict(S.SparseCoding(penalties=[1.0]))["penalties"] == (1.0,)


def _pid(_: int) -> int:
    import os

    return os.getpid()


def test_runs_in_workers_each_get_a_fresh_process():
    """Every run in its own worker process, so one run's memory is gone before the next starts."""
    import sys

    pids = H.run_tasks([0, 1, 2], _pid, jobs=2, desc="pids", progress=False)
    assert len(pids) == 3
    if sys.version_info >= (3, 11):
        assert len(set(pids)) == 3
