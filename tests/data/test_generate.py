"""Physics and reproducibility of Pythia8 + FastJet jet generation."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.io import read_jetnet
from sparsegen.core.jets import Jets
from sparsegen.core.kinematics import relative_kinematics
from sparsegen.data.files import merge_files
from sparsegen.data.generate import GenerationConfig, _chunk_job, chunk_plan, generate


def mass_peak(mass: np.ndarray, lo: float = 0.0, hi: float = 300.0, width: float = 10.0) -> float:
    """Center of the most populated mass bin."""
    hist, edges = np.histogram(mass, bins=np.arange(lo, hi + width, width))
    return float(edges[hist.argmax()] + width / 2)


def test_w_mass_peaks_near_w_mass(pythia_file):
    jets = Jets.load(pythia_file("w", 300))
    assert 65.0 <= mass_peak(jets.mass) <= 95.0
    assert np.all(jets.labels == 3)


def test_top_mass_peaks_near_top_mass(pythia_file):
    jets = Jets.load(pythia_file("t", 300))
    assert 150.0 <= mass_peak(jets.mass) <= 195.0
    assert np.median(jets.mass) > 140.0


def test_gluon_jets_have_more_constituents_than_w(pythia_file):
    g = Jets.load(pythia_file("g", 300, num_particles=150))
    w = Jets.load(pythia_file("w", 300, num_particles=150))
    assert g.num_particles.mean() > w.num_particles.mean() + 10
    # quark jets sit in between: fewer constituents than gluon jets (Casimir scaling)
    q = Jets.load(pythia_file("q", 300, num_particles=150))
    assert q.num_particles.mean() < g.num_particles.mean()


@pytest.mark.parametrize("jet_type", ["g", "w"])
def test_kinematic_cuts_and_layout(pythia_file, jet_type):
    pf, jf, attrs = read_jetnet(pythia_file(jet_type, 300))
    assert pf.dtype == np.float32 and pf.shape == (300, 30, 4) and jf.shape == (300, 5)
    assert np.all((jf[:, 1] >= 800.0) & (jf[:, 1] <= 1600.0))
    assert np.all(np.abs(jf[:, 2]) < 2.5)
    mask = pf[..., 3] > 0
    assert np.array_equal(jf[:, 4], mask.sum(1))
    ptrel = pf[..., 2]
    assert np.all(np.diff(ptrel, axis=1) <= 0), "particles sorted by ptrel, descending"
    assert np.all(pf[~mask] == 0)
    # anti-kT clusters in rapidity: a few very soft massive hadrons sit beyond dR(eta, phi) = R,
    # but essentially all of the momentum is inside
    dr = np.hypot(pf[..., 0], pf[..., 1])[mask]
    assert (dr < 0.8).mean() > 0.97
    assert (ptrel[mask] * (dr < 0.8)).sum() / ptrel[mask].sum() > 0.999
    for key in ("generator", "process_card", "seed", "jet_algorithm", "jet_radius", "pt_window_gev",
                "sparsegen_version"):
        assert key in attrs
    assert attrs["jet_algorithm"] == "anti-kt" and attrs["jet_radius"] == 0.8
    assert "Beams:eCM = 13000." in attrs["process_card"]


def test_fully_kept_jets_sum_of_ptrel_is_one_and_mass_matches(pythia_file):
    jets = Jets.load(pythia_file("w", 300, num_particles=150))
    full = jets.num_particles < 150
    assert full.sum() > 200
    total = jets.particles[..., 2].sum(1)[full]
    assert np.all(total >= 0.999) and np.all(total < 1.1)
    assert abs(np.median(total) - 1.0) < 0.01
    # the 4-vector sum of all constituents reproduces the jet pT exactly, and the jet mass up to the
    # hadron masses that the massless (etarel, phirel, ptrel) representation drops
    _, pt_rel, _, m_rel = relative_kinematics(jets.particles[full], jets.mask[full])
    assert np.max(np.abs(pt_rel - 1.0)) < 1e-5
    m_massless = m_rel * jets.pt[full]
    assert np.median(np.abs(m_massless - jets.mass[full]) / jets.mass[full]) < 0.1
    assert np.corrcoef(m_massless, jets.mass[full])[0, 1] > 0.95


@pytest.mark.slow
def test_same_seed_same_jets_regardless_of_workers(tmp_path):
    cfg = GenerationConfig("z", seed=11, chunk_size=60)
    generate(cfg, 130, tmp_path / "a.h5", workers=1, progress=False)
    generate(cfg, 130, tmp_path / "b.h5", workers=2, progress=False)
    generate(GenerationConfig("z", seed=12, chunk_size=60), 130, tmp_path / "c.h5", workers=1, progress=False)
    a, b, c = (read_jetnet(tmp_path / f"{x}.h5")[0] for x in "abc")
    assert np.array_equal(a, b)
    assert a.shape == c.shape and not np.array_equal(a, c)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    assert not (tmp_path / "a.h5.parts").exists()


@pytest.mark.slow
def test_shards_merge_to_the_unsharded_file(tmp_path):
    cfg = GenerationConfig("q", seed=5, chunk_size=40)
    generate(cfg, 100, tmp_path / "full.h5", progress=False)
    for i in range(3):
        generate(cfg, 100, tmp_path / f"s{i}.h5", shard=(i, 3), progress=False)
    merge_files([str(tmp_path / f"s{i}.h5") for i in (2, 0, 1)], str(tmp_path / "merged.h5"))
    full, merged = read_jetnet(tmp_path / "full.h5"), read_jetnet(tmp_path / "merged.h5")
    assert np.array_equal(full[0], merged[0]) and np.array_equal(full[1], merged[1])
    with pytest.raises(SparsegenInputError, match="gap"):
        merge_files([str(tmp_path / "s0.h5"), str(tmp_path / "s2.h5")], str(tmp_path / "bad.h5"))
    with pytest.raises(SparsegenInputError, match="overlap"):
        merge_files([str(tmp_path / "s0.h5"), str(tmp_path / "full.h5")], str(tmp_path / "bad.h5"))
    assert not (tmp_path / "bad.h5").exists()


@pytest.mark.slow
def test_rerun_resumes_from_finished_chunks(tmp_path):
    cfg = GenerationConfig("w", seed=2, chunk_size=40)
    generate(cfg, 80, tmp_path / "ref.h5", progress=False)
    out = tmp_path / "out.h5"
    parts = tmp_path / "out.h5.parts"
    parts.mkdir()
    chunk0 = parts / "chunk_000000.npz"
    _chunk_job(cfg, 0, chunk_plan(80, 40)[0], str(chunk0))
    # mark the finished chunk so we can see it is reused rather than regenerated
    with np.load(chunk0) as z:
        saved = {k: z[k] for k in z.files}
    saved["jet_features"][0, 1] += 0.5
    np.savez(chunk0, **saved)
    (parts / "chunk_000001.npz").write_bytes(b"truncated garbage")  # a part killed mid-write is redone
    generate(cfg, 80, out, progress=False)
    got, ref = read_jetnet(out), read_jetnet(tmp_path / "ref.h5")
    assert np.array_equal(got[0], ref[0])
    assert got[1][0, 1] == pytest.approx(ref[1][0, 1] + 0.5)
    assert np.array_equal(got[1][1:], ref[1][1:])
    assert not parts.exists()


def test_bad_generation_settings_raise():
    with pytest.raises(SparsegenInputError, match="jet type"):
        GenerationConfig("x")
    with pytest.raises(SparsegenInputError, match="pt_min"):
        GenerationConfig("g", pt_min=2000.0, pt_max=1000.0)
    with pytest.raises(SparsegenInputError, match="Pythia rejected"):
        from sparsegen.data.generate import JetMaker

        JetMaker(GenerationConfig("g", extra_settings=("NoSuchSetting:foo = 3",)), 1)


@pytest.mark.slow
def test_chunk_files_are_written_with_normal_permissions(tmp_path):
    generate(GenerationConfig("g", chunk_size=20), 20, tmp_path / "g.h5", progress=False)
    with h5py.File(tmp_path / "g.h5") as f:
        assert f["particle_features"].shape == (20, 30, 4)
    assert (tmp_path / "g.h5").stat().st_mode & 0o044


@pytest.mark.slow
def test_cache_serves_fewer_particles_from_a_larger_file_exactly(tmp_path):
    """A P-particle request is cut from a cached P' > P file of the same generation, identical to generating
    it (hardest particles first; jet pT, η, mass are those of the full jet)."""
    from sparsegen.data.cache import cached_jets_path, ensure_generated

    big = GenerationConfig("w", num_particles=30, chunk_size=40)
    small = GenerationConfig("w", num_particles=8, chunk_size=40)
    ensure_generated(big, 40, tmp_path / "cache", progress=False)
    derived = ensure_generated(small, 40, tmp_path / "cache", progress=False)
    assert derived == cached_jets_path(small, 40, tmp_path / "cache")
    generate(small, 40, tmp_path / "direct.h5", progress=False)
    pf_a, jf_a, attrs = read_jetnet(derived)
    pf_b, jf_b, _ = read_jetnet(tmp_path / "direct.h5")
    np.testing.assert_array_equal(pf_a, pf_b)
    np.testing.assert_array_equal(jf_a, jf_b)
    assert attrs["config_key"] == small.key() and attrs["num_particles"] == 8
    assert attrs["derived_from"] == cached_jets_path(big, 40, tmp_path / "cache").name
