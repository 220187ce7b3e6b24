"""Every ``sparsegen ...`` command the README shows parses: its subcommand exists and takes every option it
uses. Commands in ``bash`` blocks are parsed in full (Lightning ones with their configs, as
``--print_config``); commands quoted in the text are checked option by option (they may be fragments)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from sparsegen.cli.main import LIGHTNING_SUBCOMMANDS, build_parser, main
from sparsegen.models.training import build_cli, resolve_configs

README = Path(__file__).resolve().parents[1] / "README.md"
PLACEHOLDER_CONFIGS = {"X", "..."}
"""``--config X`` in the text stands for any config: checked with the demo's."""


def readme_commands() -> list[tuple[str, bool]]:
    """(command after ``sparsegen``, from a bash block?) for every command in README.md."""
    text = README.read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            m = re.match(r"\s*(?:\.venv/bin/)?sparsegen\s+(.*)", line)
            if m:
                found.append((m.group(1).split(" #")[0].strip(), True))
    for span in re.findall(r"`(?:\.venv/bin/)?sparsegen ([^`]+)`", text):
        found.append((" ".join(span.replace("[", " ").replace("]", " ").split()), False))
    out = []
    for command, full in found:  # "validate|test --config ..." is two commands
        head, _, rest = command.partition(" ")
        out += [(f"{h} {rest}".strip(), full) for h in head.split("|")]
    return out


COMMANDS = readme_commands()


def test_the_readme_shows_commands_of_every_kind():
    heads = {c.split()[0] for c, _ in COMMANDS}
    assert {"data", "fit", "sample", "evaluate", "study", "validate"} <= heads, heads
    assert sum(full for _, full in COMMANDS) >= 15


def _subparser(parser: argparse.ArgumentParser, words: list[str]) -> tuple[argparse.ArgumentParser, list]:
    """The deepest subcommand parser named by the leading words, and the words after them."""
    while words:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or words[0] not in subs[0].choices:
            break
        parser, words = subs[0].choices[words[0]], words[1:]
    return parser, words


def _lightning(argv: list[str]) -> None:
    argv = [("quickstart" if a in PLACEHOLDER_CONFIGS and argv[i - 1] == "--config" else a)
            for i, a in enumerate(argv)]
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as done:
        build_cli(resolve_configs([*argv, "--print_config"]))
    assert done.value.code == 0, getattr(done.value, "message", done.value)


@pytest.mark.parametrize("command,full", COMMANDS, ids=[c[:60] for c, _ in COMMANDS])
def test_a_readme_command_parses(command: str, full: bool):
    argv = shlex.split(command)
    if argv[0] in ("--version", "-V", "--help", "-h"):  # the top-level options
        assert main(argv) == 0
        return
    if argv[0] in LIGHTNING_SUBCOMMANDS:
        if "--config" in argv:
            _lightning(argv)
        return
    parser, rest = _subparser(build_parser(), argv)
    assert parser.prog != build_parser().prog, f"unknown subcommand in: sparsegen {command}"
    known = {s for a in parser._actions for s in a.option_strings}
    used = {a.split("=")[0] for a in rest if a.startswith("--")}
    assert used <= known, f"sparsegen {command}: {sorted(used - known)} not options of '{parser.prog}'"
    if full:
        parser.parse_args(rest)
