"""The studies at --quick scale: table structure, finite metrics, plots, sections of the results file."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from sparsegen.cli import main
from sparsegen.studies import report as R

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"^\**(-?[0-9.]+(?:e[+-]?[0-9]+)?)(?: ± (-?[0-9.]+(?:e[+-]?[0-9]+)?))?\**$")


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every markdown table in ``text``."""
    blocks, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            blocks.append(R.parse_table("\n".join(cur)))
            cur = []
    return blocks


def finite(cell: str) -> bool:
    m = NUMBER.match(cell.strip())
    return bool(m) and all(math.isfinite(float(g)) for g in m.groups() if g is not None)


@pytest.mark.slow
def test_generative_quick(tmp_path: Path):
    out, results = tmp_path / "gen", tmp_path / "results.md"
    # every config, on gluons only (the per-class loop is the same for every class; test speed)
    assert main(["study", "generative", "--quick", "--jet-types", "g", "--out", str(out),
                 "--results", str(results), "--no-progress"]) == 0
    text = results.read_text()
    # the conditional configs have their own study
    configs = {d: sorted(p.stem for p in (ROOT / "configs" / d).glob("*.yaml")
                         if not p.stem.endswith("_conditional"))
               for d in ("images", "points")}
    for family in ("images", "points"):  # each family has its own section: one table per class
        body = R.section(text, f"generative_{family}")
        assert "sparsegen study generative" in body and "--quick" in body and "seed 0" in body
        found = tables(body)
        assert len(found) == 1
        for header, rows in found:
            assert header[:3] == ["config", "sparse-aware", "W1M ×10³"]
            for name in ("W1P ×10³", "W1EFP ×10⁵", "FPD ×10³", "KPD ×10³", "AUC", "sample jets/s"):
                assert name in header
            if family == "images":
                assert "occupancy gen/real" in header and "pixel sum gen/real" in header
            assert [r[0].strip("`") for r in rows[:-1]] == configs[family]
            assert rows[-1][0].startswith("*truth floor")
            metric_cols = range(2, header.index("parts"))  # then: parts, epochs, steps, train s, ...
            for row in rows:
                for i in metric_cols:
                    # "empty": the model generated no particles at all, so per-particle metrics do not exist
                    assert finite(row[i]) or row[i].strip("*") == "empty", (row[0], header[i], row[i])
    for jet_type in ("g",):
        for family in configs.values():
            for config in family:
                result = json.loads((out / jet_type / config / "result.json").read_text())
                metrics = result["metrics"]
                empty = metrics["zero_fraction"]["value"] == 1.0
                for scope in (metrics, metrics["truth_floor"]):
                    for key, entry in scope.items():
                        if key == "truth_floor":
                            continue
                        if entry["value"] is None:
                            assert empty and scope is metrics, (config, key)
                            assert key.startswith(("w1p", "w1_pixel")), (config, key)
                        else:
                            assert math.isfinite(entry["value"]), (config, key)
                            assert math.isfinite(entry["error"]), (config, key)
                assert result["sample_jets_per_s"] > 0 and result["train_s"] > 0
        for family in ("images", "points"):
            for plot in ("mass", "mult", "pix", "average_images"):
                png = tmp_path / "results" / f"generative_{family}_{jet_type}_{plot}.png"
                assert png.stat().st_size > 10_000


@pytest.mark.slow
def test_generative_resumes_and_keeps_other_sections(tmp_path: Path):
    out, results = tmp_path / "gen", tmp_path / "results.md"
    results.write_text(R.HEADER + "\n<!-- BEGIN study:sparse_coding -->\nkept\n"
                       "<!-- END study:sparse_coding -->\n")
    args = ["study", "generative", "--quick", "--configs", "epic_gan", "vae_hurdle", "--jet-types", "g",
            "--out", str(out), "--results", str(results), "--no-progress"]
    assert main(args) == 0
    done = out / "g" / "vae_hurdle" / "result.json"
    stamp = done.stat().st_mtime_ns
    assert main(args) == 0  # finished runs are not redone
    assert done.stat().st_mtime_ns == stamp
    first = json.loads(done.read_text())
    assert main([*args, "--rescore"]) == 0  # re-sampled and re-scored from the best checkpoint
    again = json.loads(done.read_text())
    assert done.stat().st_mtime_ns != stamp
    assert again["metrics"] == first["metrics"]  # same weights, same seeds: the same numbers
    assert again["train_s"] == first["train_s"] and again["sample_jets_per_s"] == first["sample_jets_per_s"]
    text = results.read_text()
    assert R.section(text, "sparse_coding") == "kept"
    assert text.index("study:generative_images") < text.index("study:generative_points") \
        < text.index("study:sparse_coding")  # sections keep the study order
    for family in ("images", "points"):  # one image and one point model, each in its family's section
        (header, rows), = tables(R.section(text, f"generative_{family}"))
        assert len(rows) == 2
    # a class the recipes were not tuned on: its own section after the study's, with the by-class table
    assert main([*args[:4], "vae_hurdle", "--jet-types", "w", *args[8:]]) == 0
    text = results.read_text()
    body = R.section(text, "generative_images_other_classes")
    assert "on W jets" in body.splitlines()[0] and "### by class" in body
    (_, own), (by_class, rows) = tables(body)
    assert by_class[1:3] == ["gluon: occupancy gen/real", "W: occupancy gen/real"] and len(rows) == 1
    begin = {n: text.index(f"study:{n} -->") for n in ("generative_images", "generative_images_other_classes",
                                                       "generative_points")}
    assert begin["generative_images"] < begin["generative_images_other_classes"] < begin["generative_points"]


@pytest.mark.slow
def test_sparse_input_quick(tmp_path: Path):
    from sparsegen.studies import sparse_input as S

    results = tmp_path / "results.md"
    rows = S.run(S.Settings(out=str(tmp_path / "si"), results=str(results), quick=True), progress=False)
    assert len(rows) == len(S.VARIANTS)
    body = R.section(results.read_text(), "sparse_input")
    (h1, ae), (h2, cls) = tables(body)
    assert h1[0] == "variant" and [c[1] for c in S.AE_COLUMNS] == h1[1:1 + len(S.AE_COLUMNS)]
    assert h2[0] == "variant" and [c[1] for c in S.CLS_COLUMNS] == h2[1:1 + len(S.CLS_COLUMNS)]
    assert [r[0] for r in ae + cls] == [v.name for v in S.VARIANTS]
    for header, rows_ in ((h1, ae), (h2, cls)):
        for row in rows_:
            assert all(finite(c) for c in row[1:header.index("outcome")]), row
            assert row[header.index("outcome")] in ("trains", "collapsed to empty", "no progress", "diverged")
    for r in rows:
        assert all(math.isfinite(v) for v in r["metrics"].values())
        assert len(r["history"]) == 2
    assert (tmp_path / "results" / "sparse_input_curves.png").stat().st_size > 10_000


def test_sparse_input_variants_work_at_a_finer_grid_with_their_own_section(tmp_path: Path):
    import torch

    from sparsegen.studies import sparse_input as S

    s = S.Settings(npix=64, out=str(tmp_path / "si"), results=str(tmp_path / "results.md"))
    assert S.grid(s) == 64 and S.section_name(s) == "sparse_input_npix64"
    assert len({S.key(v) for v in S.VARIANTS}) == len(S.VARIANTS)  # every variant has its own key
    picked = S.selected(S.Settings(variants=["tagger-cnn-baseline", "ae-hurdle-output"]))
    assert [v.name for v in picked] == ["AE: hurdle output", "tagger: CNN (baseline)"]  # in table order
    x = torch.zeros(3, 1, 64, 64)
    x[:, 0, 30:33, 31] = 1.0  # a few active pixels, as a jet lights them
    for v in S.VARIANTS:
        out = S.build(v, npix=S.grid(s))(x)
        want = (3, 3 if v.output == "hurdle" else 1, 64, 64) if v.task == "autoencoder" else (3, 1)
        assert tuple(out.shape) == want, v.name
    # the section at another grid follows the study's own, before the next study's
    results = Path(s.results)
    results.write_text(R.HEADER + "\n<!-- BEGIN study:sparse_input -->\na\n<!-- END study:sparse_input -->\n"
                       "\n<!-- BEGIN study:sparse_coding -->\nb\n<!-- END study:sparse_coding -->\n")
    S.H.write_section(s, S.section_name(s), "c")
    text = results.read_text()
    assert text.index("study:sparse_input -->") < text.index("study:sparse_input_npix64") \
        < text.index("study:sparse_coding")
    assert R.section(text, "sparse_input") == "a" and R.section(text, "sparse_input_npix64") == "c"


def test_sparse_input_heads_start_at_the_average_pixel_and_hurdle_keeps_its_expected_count():
    import torch

    from sparsegen.studies import sparse_input as S

    gen = torch.Generator().manual_seed(0)
    x = torch.where(torch.rand(64, 1, 32, 32, generator=gen) < 0.05,
                    torch.rand(64, 1, 32, 32, generator=gen), 0)
    for output in ("softplus", "relu", "hurdle"):
        v = S.Variant("AE", "autoencoder", loss="hurdle" if output == "hurdle" else "mse", output=output)
        model = S.build(v)
        model.decoder.start_at(S.start_biases(output, x, model.space))
        for p in model.decoder.head.parameters():  # the head's weights off: its output is its bias
            if p.dim() > 1:
                p.data.zero_()
        raw = model(x)
        if output == "hurdle":
            p_on = torch.sigmoid(raw[:, 0])
            assert p_on.mean().item() == pytest.approx((x > 0).float().mean().item(), rel=1e-4)
            image = model.reconstruct(raw)
            assert ((image > 0).flatten(1).sum(1) == p_on.flatten(1).sum(1).round()).all()
        else:
            assert model.activate(raw).mean().item() == pytest.approx(x.mean().item(), rel=1e-4)


@pytest.mark.slow
def test_sparse_coding_quick(tmp_path: Path):
    from sparsegen.studies import sparse_coding as C

    results = tmp_path / "results.md"
    rows = C.run(C.Settings(out=str(tmp_path / "sc"), results=str(results), quick=True, penalties=(0.0, 1.0)),
                 progress=False)
    assert len(rows) == len(C.TASKS) * 2 * 2
    (header, body), = tables(R.section(results.read_text(), "sparse_coding"))
    assert header[:4] == ["task", "encoder", "AUC ± s.e.", "accuracy"]
    assert "μ(D1) / bound" in header and "‖Γ3‖₀,∞" in header
    assert len(body) == len(rows)
    for row in body:
        for cell in row[2:]:
            parts = cell.split(" / ")
            assert all(finite(p) for p in parts), (row[:2], cell)
    for r in rows:
        for layer in r["layers"]:
            assert 0.0 <= layer["zero_fraction"] <= 1.0 and 0.0 < layer["mu"] <= 1.0 + 1e-6
            assert layer["bound"] == pytest.approx(0.5 * (1 + 1 / layer["mu"]))
    assert (tmp_path / "results" / "sparse_coding.png").stat().st_size > 10_000


@pytest.mark.slow
def test_generative_at_a_finer_grid_then_by_resolution(tmp_path: Path):
    out, results = tmp_path / "gen", tmp_path / "results.md"
    results.write_text(R.HEADER + "\n<!-- BEGIN study:generative_images -->\nkept\n"
                       "<!-- END study:generative_images -->\n")
    args = ["study", "generative", "--quick", "--configs", "wgan_gp_sparse", "--jet-types", "g",
            "--npix", "16", "--out", str(out), "--results", str(results), "--no-progress"]
    assert main(args) == 0
    done = out / "npix16" / "g" / "wgan_gp_sparse" / "result.json"
    record = json.loads(done.read_text())
    assert record["data"]["npix"] == 16
    stamp = done.stat().st_mtime_ns
    assert main(args) == 0 and done.stat().st_mtime_ns == stamp  # a finished run at that grid is not redone
    text = results.read_text()
    assert R.section(text, "generative_images") == "kept"  # the 32×32 section is another grid's
    body = R.section(text, "generative_images_npix16")
    assert "at 16×16" in body and "--npix 16" in body and "images 16×16" in body
    assert (tmp_path / "results" / "generative_images_npix16_g_average_images.png").is_file()

    # by resolution: the image run where it exists (16², not 32²); the point flow trained once, two grids
    args = ["study", "resolution", "--quick", "--grids", "16", "32", "--jet-types", "g", "--out", str(out),
            "--results", str(results), "--no-progress"]
    assert main(args) == 0
    trained = out / "pixelized" / "g" / "flow_matching" / "train.json"
    stamp = trained.stat().st_mtime_ns
    assert main(args) == 0 and trained.stat().st_mtime_ns == stamp  # not trained again
    text = results.read_text()
    assert text.index("study:generative_images_npix16") < text.index("study:generative_by_resolution")
    (header, rows), = tables(R.section(text, "generative_by_resolution"))
    col = {h: i for i, h in enumerate(header)}
    got = {(r[col["config"]], r[col["grid"]]): r for r in rows}
    assert set(got) == {("`wgan_gp_sparse`", "16²"), ("`flow_matching`", "16²"), ("`flow_matching`", "32²")}
    point16, point32 = got[("`flow_matching`", "16²")], got[("`flow_matching`", "32²")]
    assert point16[col["CPU s/step"]] == point32[col["CPU s/step"]]  # one training, scored at two grids
    assert point32[col["step cost / smallest grid's"]] == "1×"
    occ = {g: float(got[("`flow_matching`", g)][col["real occupancy"]].split()[0]) for g in ("16²", "32²")}
    assert occ["32²"] < occ["16²"] / 2  # 4× the pixels for the same particles: a sparser image
    for r in rows:
        assert finite(r[col["W1M / floor"]]) and finite(r[col["occupancy gen/real"]]), r


@pytest.mark.parametrize("args, needle", [
    (["generative", "--npix", "48"], "--npix"),
    (["sparse-input", "--npix", "48"], "--npix"),
    (["sparse-input", "--variants", "ae-no-such-variant", "--quick"], "ae-no-such-variant"),
    (["generative", "--minutes", "-1"], "--minutes"),
    (["generative", "--configs", "no_such_config", "--quick"], "no_such_config"),
    (["sparse-coding", "--penalties", "-1"], "--penalties"),
    (["sparse-input", "--epochs", "zero"], "--epochs"),
    (["sparse-input", "--num-jets", "5"], "--num-jets"),
    (["generative", "--num-jets", "100", "--quick"], "at least 400"),
    (["generative", "--clock", "sundial"], "--clock"),
    (["conditional", "--jet-types", "g", "--quick"], "at least two different classes"),
    (["nonsense"], "study"),
])
def test_study_cli_bad_input_is_one_line(args: list[str], needle: str, capsys: pytest.CaptureFixture,
                                         tmp_path: Path):
    argv = ["study", *args, "--out", str(tmp_path / "x")] if args[0] != "nonsense" else ["study", *args]
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and needle in err, err


@pytest.mark.slow
def test_conditional_quick(tmp_path: Path):
    out, results = tmp_path / "cond", tmp_path / "results.md"
    results.write_text(R.HEADER + "\n<!-- BEGIN study:generative -->\nkept\n<!-- END study:generative -->\n")
    assert main(["study", "conditional", "--quick", "--jet-types", "g", "w", "--out", str(out), "--results",
                 str(results), "--no-progress"]) == 0
    text = results.read_text()
    assert R.section(text, "generative") == "kept"
    assert text.index("study:generative") < text.index("study:conditional")
    body = R.section(text, "conditional")
    assert "sparsegen study conditional" in body and "--quick" in body
    (header, rows), = tables(body)
    assert header[:2] == ["class", "model"] and "W1M ×10³" in header and "AUC" in header
    assert [r[:2] for r in rows] == [["gluon", "conditional (all classes)"], ["gluon", "per-class"],
                                     ["gluon", "*truth floor*"], ["W", "conditional (all classes)"],
                                     ["W", "per-class"], ["W", "*truth floor*"]]
    for row in rows:
        assert all(finite(c) for c in row[2:2 + 7]), row
    assert "gluon multiplicity" in body and "sampled by class alone" in body
    assert (tmp_path / "results" / "conditional_mass.png").stat().st_size > 10_000
    record = json.loads((out / "conditional" / "result.json").read_text())
    assert record["conditions"] == ["class", "pt", "mass", "multiplicity"]
    assert set(record["metrics"]) == {"g", "w"}
    per = json.loads((out / "per_class_w" / "result.json").read_text())
    assert per["conditions"] == ["pt", "mass", "multiplicity"] and per["minutes"] == record["minutes"] / 2


@pytest.mark.slow
def test_convergence_quick(tmp_path: Path):
    out, results = tmp_path / "conv", tmp_path / "results.md"
    results.write_text(R.HEADER + "\n<!-- BEGIN study:generative -->\nkept\n<!-- END study:generative -->\n")
    argv = ["study", "convergence", "--quick", "--minutes", "0.2", "0.05", "--num-jets", "200", "--eval-jets",
            "100", "--out", str(out), "--results", str(results), "--no-progress"]
    assert main(argv) == 0
    text = results.read_text()
    assert R.section(text, "generative") == "kept"
    body = R.section(text, "convergence")
    assert "sparsegen study convergence --minutes 0.05 0.2" in body and "--config quickstart" in body
    (header, rows), = tables(body)
    assert header[:2] == ["CPU-min", "W1M ×10³"] and "τ21 W1 ×10³" in header and "sample jets/s" in header
    assert [r[0] for r in rows] == ["0.05", "0.2", "*truth floor*"]
    for row in rows[:-1]:
        assert all(finite(c.split(" (")[0]) for c in row[1:5]), row  # value ± error (ratio to the floor)
        assert re.search(r"\(\**[0-9.e+]+×\**\)", row[1]), row[1]
    assert (tmp_path / "results" / "convergence.png").stat().st_size > 10_000
    record = json.loads((out / "0.05min" / "result.json").read_text())
    assert record["minutes"] == 0.05 and record["steps"] >= 1 and record["sample_jets_per_s"] > 0
    assert record["metrics"]["truth_floor"]["w1m"]["value"] > 0
    stamp = (out / "0.2min" / "result.json").stat().st_mtime_ns
    assert main(argv) == 0  # finished budgets are reused, not retrained
    assert (out / "0.2min" / "result.json").stat().st_mtime_ns == stamp


def test_convergence_rejects_repeated_budgets(tmp_path: Path, capsys: pytest.CaptureFixture):
    status = main(["study", "convergence", "--quick", "--minutes", "2", "2", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "--minutes" in err and len(err.splitlines()) == 1, err
