"""Composed configs (`sparsegen.core.compose`): blocks merged in order under the config itself, lists
replaced, blocks found next to the config or by shipped name, and every failure one error naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sparsegen.cli import main
from sparsegen.core.compose import compose_argv, composed_blocks, load_config, merge, resolved_config
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.resources import configs_dir


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_merge_mappings_key_by_key_later_wins_and_replaces_lists_and_scalars():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"k": 1}}
    over = {"a": {"y": [3], "z": 2}, "b": None, "c": 5}
    assert merge(base, over) == {"a": {"x": 1, "y": [3], "z": 2}, "b": None, "c": 5}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"k": 1}}  # inputs untouched


def test_blocks_merge_in_order_under_the_config_and_compose_further_blocks(tmp_path):
    write(tmp_path / "blocks" / "root.yaml", "trainer: {devices: 1, max_epochs: 5, callbacks: [a, b]}\n")
    write(tmp_path / "blocks" / "short.yaml", "compose: [root]\ntrainer: {max_epochs: 2, callbacks: [c]}\n")
    write(tmp_path / "blocks" / "data.yaml", "data: {init_args: {n: 10, p: 30}}\n")
    config = write(tmp_path / "run.yaml", "compose: [blocks/short, blocks/data.yaml]\n"
                                          "trainer: {default_root_dir: runs/x}\ndata: {init_args: {n: 20}}\n")
    assert [p.name for p in composed_blocks(config)] == ["short.yaml", "data.yaml"]
    assert load_config(config) == {
        "trainer": {"devices": 1, "max_epochs": 2, "callbacks": ["c"], "default_root_dir": "runs/x"},
        "data": {"init_args": {"n": 20, "p": 30}},
    }


def test_a_copied_config_finds_the_shipped_blocks_by_name(tmp_path):
    shipped = configs_dir() / "images" / "vae_hurdle.yaml"
    copy = write(tmp_path / "mine.yaml", shipped.read_text())
    assert load_config(copy) == resolved_config("images/vae_hurdle")
    assert "compose" not in load_config(copy) and load_config(copy)["data"]["init_args"]["npix"] == 32


@pytest.mark.parametrize("block, problem", [
    (None, "config block not found"),
    ("trainer: [unclosed\n", "not valid YAML"),
    ("- a list\n", "must be a mapping"),
])
def test_a_missing_or_broken_block_is_one_error_naming_that_file(tmp_path, block, problem):
    if block is not None:
        write(tmp_path / "base" / "t.yaml", block)
    config = write(tmp_path / "c.yaml", "compose: [base/t.yaml]\nmodel: {}\n")
    with pytest.raises(SparsegenInputError, match=problem) as err:
        load_config(config)
    message = str(err.value)
    assert str(tmp_path / "base" / "t.yaml") in message and "\n" not in message


def test_blocks_composing_each_other_are_one_error(tmp_path):
    write(tmp_path / "a.yaml", "compose: [b]\n")
    write(tmp_path / "b.yaml", "compose: [a]\n")
    with pytest.raises(SparsegenInputError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_only_composing_configs_are_replaced_on_the_command_line(tmp_path):
    plain = write(tmp_path / "plain.yaml", "trainer: {max_epochs: 1}\n")
    composed = configs_dir() / "points" / "flow_matching.yaml"
    argv = compose_argv(["fit", "--config", str(composed), f"--config={plain}", "-c", "missing.yaml"])
    assert yaml.safe_load(argv[2]) == resolved_config("points/flow_matching")
    assert argv[3:] == [f"--config={plain}", "-c", "missing.yaml"]


def print_config(config: str, capsys) -> dict:
    with pytest.raises(SystemExit) as done:  # LightningCLI exits after printing
        main(["fit", "--config", config, "--print_config"])
    assert done.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def test_a_composed_config_is_one_command_and_prints_complete(tmp_path, capsys):
    printed = print_config("images/vae_hurdle", capsys)
    assert "compose" not in printed
    assert len(printed["trainer"]["callbacks"]) == 4
    assert printed["trainer"]["default_root_dir"] == "runs/vae_hurdle"
    assert printed["data"]["init_args"]["npix"] == 32 and printed["model"]["class_path"].endswith("VAE")
    saved = write(tmp_path / "config.yaml", yaml.safe_dump(printed))  # what a run saves: self-contained
    assert print_config(str(saved), capsys) == printed


def test_a_missing_block_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    config = write(tmp_path / "c.yaml", "compose: [base/nope]\n")
    assert main(["fit", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "base/nope" in err[0] and "config block not found" in err[0], err
