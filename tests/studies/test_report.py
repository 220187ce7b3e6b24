"""Results-file sections, markdown tables and the sparse-coding stripe count."""

from __future__ import annotations

from pathlib import Path

import torch

from sparsegen.studies import report as R


def test_sections_replace_only_their_own(tmp_path: Path):
    md = tmp_path / "results.md"
    order = ("a", "b", "c")
    R.update_section(md, "c", "C1", order)
    R.update_section(md, "a", "A1", order)
    R.update_section(md, "b", "B1", order)
    text = md.read_text()
    assert text.startswith("# sparsegen results")
    assert text.index("study:a") < text.index("study:b") < text.index("study:c")
    R.update_section(md, "b", "B2\n\nmore", order)
    text = md.read_text()
    assert (
        R.section(text, "a") == "A1" and R.section(text, "b") == "B2\n\nmore" and R.section(text, "c") == "C1"
    )
    assert text.count("BEGIN study:b") == 1
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed


def test_markdown_table_roundtrip_and_fmt():
    text = R.markdown_table(["x", "y"], [[1, "a"], [2.5, "b"]])
    assert R.parse_table(text) == (["x", "y"], [["1", "a"], ["2.5", "b"]])
    assert R.fmt({"value": 0.0123, "error": 0.0004}, 1e3) == "12.3 ± 0.4"
    assert R.fmt({"value": None, "error": None}) == "-" and R.fmt(None) == "-" and R.fmt(float("nan")) == "-"


def test_local_sparsity_counts_the_densest_stripe():
    from sparsegen.studies.sparse_coding import local_sparsity

    code = torch.zeros(2, 4, 8, 8)
    code[0, 0, 2, 2] = code[0, 1, 2, 3] = code[0, 3, 3, 3] = 1.0  # three non-zeros inside one 3x3 window
    code[0, 2, 7, 7] = 1.0  # a fourth one, far away
    assert local_sparsity(code, kernel=3, stride=2).tolist() == [3.0, 0.0]  # window 2*ceil(3/2)-1 = 3
    assert local_sparsity(code, kernel=3, stride=1).tolist() == [3.0, 0.0]  # window 5 still misses (7, 7)
    code[0, 2, 5, 5] = 1.0
    assert local_sparsity(code, kernel=3, stride=1).tolist() == [4.0, 0.0]


def test_a_section_at_another_grid_or_on_other_classes_follows_its_study(tmp_path: Path):
    md = tmp_path / "results.md"
    order = ("gen_images", "gen_points", "later")
    for name in ("later", "gen_images", "gen_images_wqz", "gen_images_npix64", "gen_points"):
        R.update_section(md, name, name.upper(), order)
    text = md.read_text()
    names = ("gen_images", "gen_images_wqz", "gen_images_npix64", "gen_points", "later")
    where = {n: text.index(f"BEGIN study:{n} -->") for n in names}
    assert where["gen_images"] < where["gen_images_wqz"] < where["gen_points"] < where["later"]
    assert where["gen_images"] < where["gen_images_npix64"] < where["gen_points"]
