"""FPND: our ParticleNet in JetNet's published layout, its statistics, bad inputs, and `evaluate --fpnd`.

JetNet's real resources are not available offline in CI, so these tests build a resource folder in the
published layout (``jetnet/30_particles/pnet_state_dict.pt`` + ``{g,q,t}_{mu,sigma}.txt``) from a
randomly initialized network; ``bench/fpnd_vs_jetnet.py`` checks the real weights against the JetNet
library itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sparsegen.cli import main
from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.metrics.evaluation import EvalSettings, evaluate
from sparsegen.metrics.fpnd import (
    ParticleNet,
    activation_statistics,
    fpnd,
    fpnd_activations,
    knn,
    load_particlenet,
    normalize,
)

TINY = EvalSettings(num_eval_samples=500, num_batches=2, fpd_min_samples=100, fpd_max_samples=150,
                    fpd_num_batches=2, fpd_num_points=2, kpd_num_batches=2, kpd_batch_size=100,
                    classifier_max_jets=200, classifier_epochs=1)


def _published_shapes() -> dict[str, tuple[int, ...]]:
    """JetNet 0.2.5's state-dict layout (keys and shapes of jetnet/evaluation/particlenet.py's network)."""
    shapes: dict[str, tuple[int, ...]] = {}
    width = 3
    for i, block in enumerate((64, 128, 256)):
        for prefix in (f"edge_nets.{i}.model", f"edge_convs.{i}.nn.model"):
            for layer, fan_in in zip((0, 3, 6), (2 * width, block, block)):
                shapes[f"{prefix}.{layer}.weight"] = (block, fan_in)
                shapes[f"{prefix}.{layer}.bias"] = (block,)
                bn = f"{prefix}.{layer + 1}"
                for name in ("weight", "bias", "running_mean", "running_var"):
                    shapes[f"{bn}.{name}"] = (block,)
                shapes[f"{bn}.num_batches_tracked"] = ()
        width += block
    shapes.update({"fc1.0.weight": (256, 451), "fc1.0.bias": (256,), "fc2.weight": (5, 256),
                   "fc2.bias": (5,)})
    return shapes


def _random_net(seed: int = 0) -> ParticleNet:
    """A ParticleNet with random weights and non-trivial BatchNorm running statistics."""
    torch.manual_seed(seed)
    net = ParticleNet()
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.fixture(scope="module")
def gluons(pythia_file) -> Jets:
    return Jets.load(pythia_file("g", 300))


@pytest.fixture(scope="module")
def resources(tmp_path_factory, gluons) -> Path:
    """A folder in JetNet's published layout: random weights, g statistics = those of ``gluons``."""
    root = tmp_path_factory.mktemp("fpnd_resources")
    folder = root / "jetnet" / "30_particles"
    folder.mkdir(parents=True)
    net = _random_net()
    torch.save(net.state_dict(), folder / "pnet_state_dict.pt")
    mu, sigma = activation_statistics(fpnd_activations(net, gluons))
    for jet_type in ("g", "q", "t"):
        np.savetxt(folder / f"{jet_type}_mu.txt", mu)
        np.savetxt(folder / f"{jet_type}_sigma.txt", sigma)
    return root


def test_state_dict_has_jetnets_published_layout():
    got = {k: tuple(v.shape) for k, v in ParticleNet().state_dict().items()}
    assert got == _published_shapes()


def test_loads_weights_only_and_shares_edge_nets(resources):
    net = load_particlenet(resources)
    assert not net.training
    assert net.edge_nets[2] is net.edge_convs[2].nn
    saved = torch.load(resources / "jetnet" / "30_particles" / "pnet_state_dict.pt", weights_only=True)
    assert torch.equal(net.fc1[0].weight, saved["fc1.0.weight"])
    # the subfolder itself is accepted as well
    assert torch.equal(load_particlenet(resources / "jetnet" / "30_particles").fc2.weight,
                       saved["fc2.weight"])


def test_knn_is_the_k_nearest_other_particles():
    pts = torch.randn(2, 30, 2, generator=torch.Generator().manual_seed(1))
    idx = knn(pts, 16)
    for b in range(2):
        d = torch.cdist(pts[b], pts[b])
        for i in range(30):
            order = [j for j in torch.argsort(d[i]).tolist() if j != i][:16]
            assert sorted(idx[b, i].tolist()) == sorted(order)


def test_activations_do_not_depend_on_particle_order(gluons):
    net = _random_net(3)
    jets = gluons[:40]
    perm = np.random.default_rng(0).permutation(30)
    shuffled = Jets(jets.particles[:, perm], jets.mask[:, perm], jets.jet_features)
    a, b = fpnd_activations(net, jets), fpnd_activations(net, shuffled)
    assert np.abs(a).max() > 0.1
    np.testing.assert_allclose(a, b, atol=2e-5)


def test_normalization_is_jetnets(gluons):
    x = normalize(gluons.particles, gluons.mask)
    assert np.all(x[~gluons.mask] == np.float32([0.0, 0.0, -0.5]))
    i = np.argwhere(gluons.mask)[0]
    expected = gluons.particles[i[0], i[1]] / np.float32([1.6211985349655151, 0.520724892616272,
                                                          0.8934717178344727])
    np.testing.assert_allclose(x[i[0], i[1]], expected + np.float32([0, 0, -0.5]), rtol=1e-6)


def test_fpnd_of_a_sample_against_its_own_statistics_is_zero(resources, gluons, pythia_file):
    same = abs(fpnd(gluons, resources))
    assert same < 1e-7
    tops = Jets.load(pythia_file("t", 300))
    assert fpnd(tops, resources, jet_type="g") > 1e3 * max(same, 1e-12)


def _one_line(err: SparsegenInputError) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_bad_inputs_one_line(tmp_path, resources, gluons, pythia_file):
    cases = {
        "not found": (gluons, tmp_path / "missing"),
        "not JetNet's FPND resources": (gluons, tmp_path),
        "g, q and t only": (Jets.load(pythia_file("w", 300)), resources),
        "30-particle": (Jets.load(pythia_file("g", 300, num_particles=150)), resources),
    }
    for problem, (jets, folder) in cases.items():
        with pytest.raises(SparsegenInputError) as err:
            fpnd(jets, folder)
        assert problem in _one_line(err.value)
    mixed = Jets.concat([gluons[:5], Jets.load(pythia_file("t", 300))[:5]])
    with pytest.raises(SparsegenInputError, match="several classes"):
        fpnd(mixed, resources)


def test_foreign_weights_are_refused(tmp_path, gluons):
    folder = tmp_path / "jetnet" / "30_particles"
    folder.mkdir(parents=True)
    torch.save({"conv.weight": torch.zeros(3)}, folder / "pnet_state_dict.pt")
    for name in ("g_mu.txt", "g_sigma.txt"):
        (folder / name).write_text("0\n")
    with pytest.raises(SparsegenInputError) as err:
        load_particlenet(tmp_path)
    assert "not JetNet's FPND ParticleNet" in _one_line(err.value)
    (folder / "pnet_state_dict.pt").write_bytes(b"not a torch file")
    with pytest.raises(SparsegenInputError) as err:
        load_particlenet(tmp_path)
    assert "not JetNet's ParticleNet weights" in _one_line(err.value)
    with pytest.raises(SparsegenInputError, match="not a JetNet statistics file"):
        fpnd(gluons, tmp_path)


def test_evaluate_reports_fpnd_with_truth_floor(resources, gluons):
    gen = Jets.from_particles(gluons.particles[:150] * np.float32([1.3, 1.3, 1.0]), gluons.mask[:150],
                              pt=gluons.pt[:150])
    metrics = evaluate(gluons, gen, num_jets=100, settings=TINY, classifier=False, fpnd_dir=resources)
    gen_value, floor_value = metrics["fpnd"]["value"], metrics["truth_floor"]["fpnd"]["value"]
    assert metrics["fpnd"]["error"] is None
    assert gen_value > floor_value > 0


def test_cli_fpnd(tmp_path, resources, pythia_file, capsys):
    real, out = pythia_file("g", 300), tmp_path / "m.json"
    base = ["evaluate", "--real", str(real), "--gen", str(real), "--quick", "--no-classifier",
            "--num-jets", "100"]
    assert main(base + ["--fpnd", str(tmp_path / "nope"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "FPND resource folder not found" in err[0]
    assert not out.exists()
    w_real = pythia_file("w", 300)
    assert main(["evaluate", "--real", str(w_real), "--gen", str(w_real), "--quick", "--no-classifier",
                 "--fpnd", str(resources), "--out", str(out)]) == 2
    assert "g, q and t only" in capsys.readouterr().err and not out.exists()
    assert main(base + ["--fpnd", str(resources), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["fpnd"]["value"] >= 0 and metrics["truth_floor"]["fpnd"]["value"] >= 0
    assert "fpnd" in capsys.readouterr().out
