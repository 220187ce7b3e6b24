"""Non-finite (nan/inf) and out-of-range numeric options are refused while parsing, before any work: one
line naming the option, exit status 2, nothing written (`sparsegen.core.errors.number`)."""

from __future__ import annotations

import argparse

import pytest

from sparsegen.cli import main
from sparsegen.core.errors import number
from tests.reliability.cli_checks import error_line, listing

SAMPLE = ["sample", "--ckpt", "missing.ckpt", "--num-jets", "5", "--out", "x.h5"]
GENERATE = ["data", "generate", "--jet-type", "g", "--num-jets", "5", "--out", "x.h5"]
EVALUATE = ["evaluate", "--real", "r.h5", "--gen", "g.h5", "--out", "m.json"]


@pytest.mark.parametrize("argv, option, problem", [
    (SAMPLE + ["--guidance", "nan"], "--guidance", "finite"),
    (SAMPLE + ["--guidance", "inf"], "--guidance", "finite"),
    (SAMPLE + ["--guidance", "-0.5"], "--guidance", ">= 0"),
    (SAMPLE + ["--pt", "nan"], "--pt", "finite"),
    (SAMPLE + ["--pt", "-3"], "--pt", "positive"),
    (SAMPLE + ["--mass", "inf"], "--mass", "finite"),
    (SAMPLE + ["--mass", "0"], "--mass", "positive"),
    (SAMPLE + ["--eta=-inf"], "--eta", "finite"),
    (SAMPLE + ["--multiplicity", "0"], "--multiplicity", ">= 1"),
    (SAMPLE + ["--seed", "-1"], "--seed", ">= 0"),
    (SAMPLE + ["--batch-size", "0"], "--batch-size", ">= 1"),
    (["sample", "--ckpt", "missing.ckpt", "--num-jets", "1e3", "--out", "x.h5"], "--num-jets", "integer"),
    (GENERATE + ["--pt-min", "nan"], "--pt-min", "finite"),
    (GENERATE + ["--pt-max", "inf"], "--pt-max", "finite"),
    (GENERATE + ["--pt-min", "-100"], "--pt-min", "positive"),
    (GENERATE + ["--chunk-size", "0"], "--chunk-size", ">= 1"),
    (GENERATE + ["--workers", "-2"], "--workers", ">= 1"),
    (GENERATE + ["--seed", "-4"], "--seed", ">= 0"),
    (EVALUATE + ["--seed", "-1"], "--seed", ">= 0"),
    (EVALUATE + ["--num-jets", "nan"], "--num-jets", "integer"),
    (["study", "generative", "--minutes", "inf", "--out", "x"], "--minutes", "finite"),
    (["study", "conditional", "--minutes", "nan", "--out", "x"], "--minutes", "finite"),
    (["study", "convergence", "--minutes", "2", "inf", "--out", "x"], "--minutes", "finite"),
    (["study", "sparse-coding", "--penalties", "0", "nan", "--out", "x"], "--penalties", "finite"),
    (["study", "sparse-coding", "--penalties", "-1", "--out", "x"], "--penalties", ">= 0"),
    (["study", "generative", "--seed", "-1", "--out", "x"], "--seed", ">= 0"),
])
def test_bad_numbers_are_refused_while_parsing(tmp_path, monkeypatch, capsys, argv, option, problem):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    assert main(argv) == 2
    line = error_line(capsys.readouterr().err)
    assert f"argument {option}:" in line and problem in line, line
    assert listing(tmp_path) == {}, "nothing written"


def test_number_type():
    assert number(float)("1.5") == 1.5 and number(int, low=0)("0") == 0
    assert number(float, above=0)("1e-9") == 1e-9 and number(float)("-2.5") == -2.5
    for parse, text in ((number(float), "nan"), (number(float), "-inf"), (number(float, low=0), "-1"),
                        (number(float, above=0), "0"), (number(int), "2.5"), (number(int), "x")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
