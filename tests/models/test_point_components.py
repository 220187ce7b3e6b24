"""Point components: permutation symmetry, padded slots never read, multiplicity prior, ptrel floor, MP
math."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.info import DataInfo
from sparsegen.models.components import (
    EdgeConvSetEncoder,
    EPiCCritic,
    EPiCGenerator,
    EPiCVelocity,
    MPCritic,
    MPGenerator,
    PointNetCritic,
    PointNetSetEncoder,
    PointSetDecoder,
    TransformerVelocity,
)
from sparsegen.models.components.point_parts import DataPrior, EPiCLayer, MPLayer, ParticleAttention


def clouds(b: int = 5, p: int = 10, seed: int = 0, prefix: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Random jets with 2..p real particles (anywhere, or a prefix), padded slots zero."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(2, p + 1, (b,), generator=g)
    counts[0] = p
    mask = torch.arange(p)[None] < counts[:, None]
    if not prefix:
        mask = torch.stack([m[torch.randperm(p, generator=g)] for m in mask])
    x = torch.randn(b, p, 3, generator=g)
    return torch.where(mask[..., None], x, 0.0), mask


def permute(
    x: torch.Tensor, mask: torch.Tensor, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    perm = torch.stack([torch.randperm(x.shape[1], generator=g) for _ in range(x.shape[0])])
    return x.gather(1, perm[..., None].expand_as(x)), mask.gather(1, perm), perm


def garbage(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Padded slots filled with 1e4 and NaN."""
    junk = torch.full_like(x, 1e4)
    junk[..., 0] = float("nan")
    return torch.where(mask[..., None], x, junk)


SMALL_MP = {"hidden": 8, "fe": (8, 12), "fn": (16,)}
CRITICS = {
    "mp": lambda: MPCritic(**SMALL_MP),
    "mp_sum": lambda: MPCritic(**SMALL_MP, aggr="sum"),
    "pointnet": lambda: PointNetCritic(hidden=(16, 16), head=(16,)),
    "pointnet_max": lambda: PointNetCritic(hidden=(16, 16), head=(16,), pool="max"),
    "epic": lambda: EPiCCritic(hidden=16, global_dim=8, num_layers=2, head=(16,)),
}
ENCODERS = {
    "pointnet": lambda: PointNetSetEncoder(out_dim=8, hidden=(16,), head=(16,)),
    "edgeconv": lambda: EdgeConvSetEncoder(out_dim=8, hidden=(8, 8), k=3, head=(16,)),
}


@pytest.mark.parametrize("name", [*CRITICS, *(f"enc_{k}" for k in ENCODERS)])
def test_set_functions_are_invariant_and_padding_blind(name):
    torch.manual_seed(0)
    net = ENCODERS[name[4:]]() if name.startswith("enc_") else CRITICS[name]()
    x, mask = clouds()
    out = net((x, mask))
    xp, mp, _ = permute(x, mask)
    torch.testing.assert_close(net((xp, mp)), out, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(net((garbage(x, mask), mask)), out, rtol=0, atol=0)
    # the output does depend on the real particles and on the multiplicity
    assert not torch.allclose(net((x + 0.5 * mask[..., None], mask)), out)
    drop = mask.clone()
    drop[0, torch.nonzero(mask[0])[0]] = False
    assert not torch.allclose(net((x, drop))[0], out[0])


@pytest.mark.parametrize("cls", [EPiCVelocity, TransformerVelocity, partial(EPiCVelocity, neighbours=3),
                                 partial(EPiCVelocity, film=True),
                                 partial(EPiCVelocity, film=True, attention=2, heads=2)],
                         ids=["epic", "transformer", "epic_neighbours", "epic_film", "epic_attention"])
def test_velocity_is_equivariant_and_padding_blind(cls):
    torch.manual_seed(0)
    net = cls(hidden=16, num_layers=2)
    torch.nn.init.normal_(net.out.weight)  # the output layer starts at zero
    for block in getattr(net, "attention", []):
        torch.nn.init.normal_(block.out.weight, std=0.3)  # so does every attention block's
    x, mask = clouds()
    t = torch.rand(x.shape[0])
    v = net(x, mask, t)
    assert v.shape == x.shape and torch.all(v[~mask] == 0) and v[mask].abs().min() > 0
    xp, mp, perm = permute(x, mask)
    torch.testing.assert_close(
        net(xp, mp, t), v.gather(1, perm[..., None].expand_as(v)), rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(net(garbage(x, mask), mask, t), v, rtol=0, atol=1e-6)
    assert not torch.allclose(net(x, mask, 1 - t), v)  # time matters


def test_velocity_condition():
    net = EPiCVelocity(hidden=8, num_layers=1, cond_dim=5)
    torch.nn.init.normal_(net.out.weight)
    x, mask = clouds()
    t = torch.rand(len(x))
    with pytest.raises(ValueError, match="cond"):
        net(x, mask, t)
    a, b = torch.zeros(len(x), 5), torch.zeros(len(x), 5)
    a[:, 0], b[:, 3] = 1.0, 1.0
    assert not torch.allclose(net(x, mask, t, a), net(x, mask, t, b))
    # unconditional networks have no condition parameters at all (they compute what they did before)
    assert not [n for n, _ in EPiCVelocity(hidden=8, num_layers=1).named_parameters() if "cond" in n]


def test_film_layer_starts_additive_and_then_scales_particle_features():
    torch.manual_seed(0)
    film, plain = EPiCLayer(16, 8, cond_dim=3, film=True), EPiCLayer(16, 8, cond_dim=3)
    shift_only = {k: v[16:] if k.startswith("global_in") else v for k, v in film.state_dict().items()}
    plain.load_state_dict(shift_only)
    x, mask = clouds(p=10)
    h, g, c = torch.randn(5, 10, 16), torch.randn(5, 8), torch.randn(5, 3)
    for a, b in zip(film(h, g, mask, c), plain(h, g, mask, c)):  # γ = 0 at initialization
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        film.global_in.weight[:16].normal_()
    h2, _ = film(h, g, mask, c)
    c2 = c.clone()
    c2[0] += 1.0
    h3, _ = film(h, g, mask, c2)
    assert not torch.allclose(h2[0], h3[0]) and torch.allclose(h2[1:], h3[1:])  # per-jet modulation


def test_particle_attention_starts_as_identity_and_reads_the_other_real_particles():
    torch.manual_seed(0)
    att = ParticleAttention(8, heads=2)
    x, mask = clouds(p=10)
    h = torch.randn(len(x), 10, 8)
    torch.testing.assert_close(att(h, mask), h)  # W_o = 0 at initialization
    torch.nn.init.normal_(att.out.weight)
    out = att(h, mask)
    i, j = torch.nonzero(mask[0])[:2, 0].tolist()
    moved = h.clone()
    moved[0, j] = torch.randn(8)
    assert not torch.allclose(att(moved, mask)[0, i], out[0, i])  # i sees where j is
    pad = torch.nonzero(~mask[0])
    if len(pad):
        moved = h.clone()
        moved[0, pad[0, 0]] += 100.0
        torch.testing.assert_close(att(moved, mask)[0][mask[0]], out[0][mask[0]])  # padding is never read
    empty = torch.zeros_like(mask)
    assert torch.isfinite(att(h, empty)).all()  # a jet without particles stays finite
    with pytest.raises(ValueError, match="divide"):
        ParticleAttention(10, heads=4)
    with pytest.raises(ValueError, match="attention"):
        EPiCVelocity(hidden=8, num_layers=2, attention=3)


GENERATORS = {
    "mp": lambda: MPGenerator(num_particles=10, latent_dim=4, **SMALL_MP),
    "epic": lambda: EPiCGenerator(num_particles=10, latent_dim=4, global_noise_dim=4, hidden=16, global_dim=8,
                                  num_layers=2),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_are_equivariant_and_padding_blind(name):
    torch.manual_seed(0)
    gen = GENERATORS[name]()
    noise = gen.sample_noise(5, generator=torch.Generator().manual_seed(0))
    _, mask = clouds(5, 10)
    noise = (*noise[:-1], mask)  # any mask, not only a prefix
    x, m = gen(noise)
    assert x.shape == (5, 10, 3) and torch.equal(m, mask) and torch.all(x[~mask] == 0)
    zp, mp, perm = permute(noise[0], mask)
    xp, _ = gen((zp, *noise[1:-1], mp))
    torch.testing.assert_close(xp, x.gather(1, perm[..., None].expand_as(x)), rtol=1e-4, atol=1e-5)
    x_junk, _ = gen((garbage(noise[0], mask), *noise[1:]))
    torch.testing.assert_close(x_junk, x, rtol=0, atol=0)


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_follow_the_training_multiplicity_and_ptrel_floor(name):
    gen = GENERATORS[name]()
    hist = np.zeros(11)
    hist[[0, 3, 7, 10]] = [0.1, 0.2, 0.3, 0.4]  # n = 0 is dropped and the rest renormalized
    mean, std = [0.0, 0.0, 0.03], [0.13, 0.13, 0.036]
    gen.prior.set_data_info(DataInfo(num_particles=10, multiplicity=hist.tolist(),
                                     normalizer={"mean": mean, "std": std, "image_scale": 1.0}))
    x, mask = gen(gen.sample_noise(4000, generator=torch.Generator().manual_seed(1)))
    counts = np.bincount(mask.sum(1).numpy(), minlength=11) / 4000
    np.testing.assert_allclose(counts[[3, 7, 10]], np.array([0.2, 0.3, 0.4]) / 0.9, atol=0.03)
    assert counts[[0, 1, 2, 4, 5, 6, 8, 9]].sum() == 0
    assert torch.all(mask == (torch.arange(10)[None] < mask.sum(1, keepdim=True)))  # prefix masks
    assert torch.all(x[~mask] == 0)
    physical_ptrel = x[..., 2][mask] * std[2] + mean[2]
    assert physical_ptrel.min() > 0
    # seeded noise is reproducible
    a = gen.sample_noise(3, generator=torch.Generator().manual_seed(5))
    b = gen.sample_noise(3, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_data_prior_rejects_a_different_particle_count():
    with pytest.raises(SparsegenInputError, match="num_particles"):
        DataPrior(30).set_data_info(DataInfo(num_particles=150))


def test_mp_layer_matches_the_per_pair_formula():
    """h'_i = f_n(h_i ‖ mean_{j≠i, real} f_e(h_i ‖ h_j ‖ |h_i − h_j|)) with the published widths."""
    torch.manual_seed(0)
    layer = MPLayer(4, 5, fe=(96, 160, 192), fn=(256, 256), aggr="mean")
    assert [m.out_features for m in layer.edge_rest if isinstance(m, torch.nn.Linear)] == [160, 192]
    assert layer.edge_in.out_features == 96
    assert [m.out_features for m in layer.node if isinstance(m, torch.nn.Linear)] == [256, 256, 5]
    h = torch.randn(1, 6, 4)
    mask = torch.tensor([[True, True, False, True, True, False]])
    out = layer(h, mask)
    act = torch.nn.LeakyReLU(0.2)
    real = torch.nonzero(mask[0]).flatten().tolist()
    for i in real:
        msgs = []
        for j in real:
            if j == i:
                continue
            e_in = torch.cat([h[0, i], h[0, j], (h[0, i] - h[0, j]).norm().view(1)])
            msgs.append(layer.edge_rest(act(layer.edge_in(e_in))))
        expected = layer.node(torch.cat([h[0, i], torch.stack(msgs).mean(0)]))
        torch.testing.assert_close(out[0, i], expected, rtol=1e-4, atol=1e-5)
    assert torch.all(out[0, ~mask[0]] == 0)


def test_decoder_samples_prefix_masks_from_its_head_or_the_data():
    torch.manual_seed(0)
    dec = PointSetDecoder(latent_dim=4, num_particles=8, hidden=(16,))
    x, logits = dec(torch.randn(6, 4))
    assert x.shape == (6, 8, 3) and logits.shape == (6, 9)
    logits = torch.full((6, 9), -30.0)
    logits[:, 5] = 30.0
    xs, mask = dec.to_sample((x, logits), torch.Generator().manual_seed(0))
    assert torch.all(mask.sum(1) == 5) and torch.all(xs[~mask] == 0) and torch.equal(xs[mask], x[mask])
    logits[:, 0] = 100.0  # n = 0 is never drawn
    assert torch.all(dec.to_sample((x, logits))[1].sum(1) >= 1)
    dec_data = PointSetDecoder(latent_dim=4, num_particles=8, hidden=(16,), multiplicity="data")
    dec_data.prior.set_data_info(DataInfo(num_particles=8, multiplicity=[0, 0, 1.0] + [0] * 6))
    assert torch.all(dec_data.to_sample((x, logits))[1].sum(1) == 2)
