"""Bad input wherever input enters: one line on stderr naming the input, exit status 2, no traceback,
nothing half-written. Property-based: hypothesis throws malformed arrays and files at the readers and the
evaluator."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsegen.cli import main
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.io import read_jetnet, validate_arrays
from sparsegen.core.jets import Jets

ROOT = Path(__file__).resolve().parents[2]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("sparsegen: error:") and "Traceback" not in err[0]
    return err[0]


floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pf=arrays(
        np.float32, st.tuples(st.integers(0, 6), st.integers(1, 5), st.integers(2, 5)), elements=floats
    ),
    jf=arrays(np.float32, st.tuples(st.integers(0, 6), st.integers(3, 6)), elements=floats),
)
def test_reader_accepts_valid_or_raises_input_error(tmp_path_factory, pf, jf):
    path = tmp_path_factory.mktemp("h") / "x.h5"
    with h5py.File(path, "w") as f:
        f["particle_features"] = pf
        f["jet_features"] = jf
    try:
        out_pf, out_jf, _ = read_jetnet(path)
    except SparsegenInputError as exc:
        assert str(path) in str(exc)
        return
    validate_arrays(out_pf, out_jf)  # whatever is accepted really is valid
    assert np.isfinite(out_pf).all() and np.isfinite(out_jf).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.05, 0.95), flip=st.integers(0, 2**31))
def test_truncated_or_corrupted_files_give_one_line(tmp_path_factory, capsys, cut, flip):
    tmp = tmp_path_factory.mktemp("c")
    rng = np.random.default_rng(flip)
    mask = np.arange(8)[None] < rng.integers(1, 9, 20)[:, None]
    parts = np.where(mask[..., None], rng.random((20, 8, 3)), 0.0)
    parts[..., 2] = -np.sort(-parts[..., 2], axis=1)
    Jets.from_particles(parts, mask, pt=1000.0).save(tmp / "good.h5")
    data = bytearray((tmp / "good.h5").read_bytes())
    (tmp / "truncated.h5").write_bytes(bytes(data[: int(len(data) * cut)]))
    pos = int(len(data) * cut)
    data[pos:pos + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()[: len(data[pos:pos + 64])]
    (tmp / "corrupted.h5").write_bytes(bytes(data))
    status = main(["data", "info", str(tmp / "truncated.h5")])
    assert status == 2
    assert "truncated.h5" in one_error_line(capsys)
    status = main(["data", "info", str(tmp / "corrupted.h5")])
    out = capsys.readouterr()
    assert status in (0, 2)  # a flipped byte in unused space can leave the file readable and valid
    if status == 2:
        assert len(out.err.strip().splitlines()) == 1 and "corrupted.h5" in out.err


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_gen=st.integers(0, 120), p=st.integers(1, 12), nan=st.booleans())
def test_evaluator_rejects_malformed_generated_files(tmp_path_factory, capsys, pythia_file, n_gen, p, nan):
    tmp = tmp_path_factory.mktemp("e")
    rng = np.random.default_rng(n_gen)
    pf = np.zeros((n_gen, p, 4), np.float32)
    pf[:, 0] = [0.0, 0.0, 1.0, 1.0]
    if nan and n_gen:
        pf[0, 0, 0] = np.nan
    jf = np.zeros((n_gen, 5), np.float32)
    jf[:, 4] = 1
    with h5py.File(tmp / "gen.h5", "w") as f:
        f["particle_features"] = pf
        f["jet_features"] = jf
    status = main(["evaluate", "--real", str(pythia_file("g", 300)), "--gen", str(tmp / "gen.h5"), "--quick",
                   "--no-classifier", "--out", str(tmp / "m.json")])
    if nan or n_gen < 50:
        assert status == 2
        assert "gen.h5" in one_error_line(capsys)
        assert not (tmp / "m.json").exists()
    else:
        assert status == 0 and (tmp / "m.json").exists()
        warning = capsys.readouterr().err.strip().splitlines()  # small samples: one warning line, no error
        assert len(warning) == 1 and "need ~20000" in warning[0] and "error" not in warning[0]
    del rng


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["fit", "--config", "/no/such/config.yaml"], "config file not found"),
        (
            [
                "fit",
                "--config",
                str(ROOT / "configs/images/vae_dense.yaml"),
                "--model.init_args.recon",
                "bogus",
            ],
            "recon",
        ),
        (
            [
                "fit",
                "--config",
                str(ROOT / "configs/images/vae_dense.yaml"),
                "--data.init_args.jet_types",
                "x",
            ],
            "unknown jet type",
        ),
        (
            ["fit", "--config", str(ROOT / "configs/images/vae_dense.yaml"), "--trainer.max_epochs", "many"],
            "max_epochs",
        ),
        (
            [
                "fit",
                "--config",
                str(ROOT / "configs/images/vae_dense.yaml"),
                "--model.class_path",
                "os.System",
            ],
            "model",
        ),
        # image settings (issue 15): unknown transform, floor <= 0, energy conservation with a ReLU head
        (["fit", "--config", str(ROOT / "configs/images/vae_hurdle.yaml"),
          "--data.init_args.transform", "sqrt"],
         "unknown intensity transform"),
        (["fit", "--config", str(ROOT / "configs/images/vae_hurdle.yaml"), "--data.init_args.floor", "0"],
         "floor"),
        (["fit", "--config", str(ROOT / "configs/images/wgan_gp_dense.yaml"),
          "--model.init_args.generator.init_args.output.init_args.floor.init_args.mode", "lift"],
         "floor mode 'lift' needs an occupancy mask"),
        (["data", "generate", "--jet-type", "g", "--num-jets", "-3", "--out", "x.h5"], "num-jets"),
        (
            [
                "data",
                "generate",
                "--jet-type",
                "g",
                "--num-jets",
                "5",
                "--num-particles",
                "0",
                "--out",
                "x.h5",
            ],
            "num-particles",
        ),
        (["sample", "--ckpt", "missing.ckpt", "--num-jets", "5", "--out", "x.h5"], "does not exist"),
        (["evaluate", "--real", "nope.h5", "--gen", "nope2.h5"], "does not exist"),
    ],
)
def test_bad_configs_and_arguments(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARSEGEN_DATA", str(tmp_path / "data"))
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert needle in line, line
    assert not os.path.exists(tmp_path / "x.h5")
