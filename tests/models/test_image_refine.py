"""Image networks whose cost follows the active pixels: the refining generator and decoder (`CellRefiner`),
the sparse critic's and encoder's fixed last grid and site-based global features, and the pooled data
statistics a coarse trunk starts from."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsegen.core.errors import SparsegenInputError
from sparsegen.core.jets import Jets
from sparsegen.data.datamodule import image_info, pooled_image_info
from sparsegen.data.info import DataInfo
from sparsegen.data.normalization import Normalizer
from sparsegen.models import VAE
from sparsegen.models.components import (
    DenseDecoder,
    EnergyConservingHead,
    PixelFloor,
    SparseAwareGenerator,
    SparseCritic,
    SparseEncoder,
)
from sparsegen.models.components.image_parts import GlobalFeatures, ImageSpace, SparseConvStack
from sparsegen.models.components.image_refine import CellRefiner
from sparsegen.nn import SparseImage


def fine_jets(n: int = 24, npix: int = 64, seed: int = 0) -> tuple[torch.Tensor, DataInfo]:
    """Collimated jet-like npix² images in network space (log transform, ~1 % occupancy) and their
    `DataInfo` with pooled statistics, as a data module would give them."""
    g = torch.Generator().manual_seed(seed)
    d2 = (torch.arange(npix) - (npix - 1) / 2) ** 2
    occupancy = 0.25 * torch.exp(-(d2.view(-1, 1) + d2) / (2 * (npix / 10) ** 2))
    active = torch.rand(n, 1, npix, npix, generator=g) < occupancy
    x = torch.where(active, 10 ** (-3.5 + 2.5 * torch.rand(n, 1, npix, npix, generator=g)), torch.zeros(()))
    x[:, :, npix // 2, npix // 2] = 0.3
    x = x / x.sum((1, 2, 3), keepdim=True)
    fit_jets = Jets.from_particles(np.zeros((1, 1, 3), np.float32), np.ones((1, 1), bool), pt=1000.0)
    norm = Normalizer.fit(fit_jets, images=x[:, 0].numpy(), transform="log", threshold=1e-5)
    v = norm.images(x)
    info = DataInfo(representation="images", npix=npix, normalizer=norm.state_dict(), **image_info(v, norm),
                    pooled=pooled_image_info(v, norm))
    return v, info


def test_pooled_statistics_are_those_of_the_sum_pooled_images():
    v, info = fine_jets()
    assert sorted(map(int, info.pooled)) == [8, 16, 32]
    norm = info.get_normalizer()
    x = norm.images_inverse(v[:, 0])
    coarse = norm.images(x.reshape(len(x), 16, 4, 16, 4).sum((2, 4)))[:, None]
    direct = image_info(coarse, norm)
    seen = info.at_npix(16)
    assert seen.npix == 16 and seen.pooled is None
    np.testing.assert_allclose(seen.occupancy_map, direct["occupancy_map"], atol=1e-6)
    np.testing.assert_allclose(seen.pixel_sum_quantiles, info.pixel_sum_quantiles, rtol=1e-5)  # same jets
    assert seen.occupancy > info.occupancy  # a coarse cell is lit when any of its pixels is
    assert info.at_npix(64) is info
    with pytest.raises(SparsegenInputError, match="no image statistics at npix 12"):
        info.at_npix(12)


def test_refiner_splits_each_active_cell_into_its_own_fine_pixels_and_keeps_its_intensity():
    torch.manual_seed(0)
    _, info = fine_jets()
    space = ImageSpace(info.at_npix(16))
    refiner = CellRefiner(4, features=8)
    coarse = torch.zeros(5, 1, 16, 16)
    coarse[:, 0, 8, 8], coarse[:, 0, 3, 12], coarse[1, 0, 0, 0] = 2.0, 1.0, 0.5
    fine = refiner(coarse, torch.randn(5, 8, 16, 16), space, torch.Generator().manual_seed(1))
    assert fine.shape == (5, 1, 64, 64) and torch.all(fine >= 0)
    lit_cells = (fine[:, 0].reshape(5, 16, 4, 16, 4) > 0).any(4).any(2)
    assert torch.equal(lit_cells, coarse[:, 0] > 0)  # every active cell lights, nothing else does
    x_fine = torch.where(fine > 0, space.to_ptrel(fine), torch.zeros(()))
    sums = x_fine[:, 0].reshape(5, 16, 4, 16, 4).sum((2, 4))
    x_coarse = torch.where(coarse > 0, space.to_ptrel(coarse), torch.zeros(()))[:, 0]
    # each cell's intensity is shared out, less only the split's pixels below the read-out threshold
    assert torch.all(sums <= x_coarse * (1 + 1e-5)) and torch.all(sums >= x_coarse - 16 * 1e-5)


def test_refiner_coarsen_is_the_sum_pooling_and_its_split_loss_learns_the_fine_pattern():
    torch.manual_seed(0)
    v, info = fine_jets(npix=64)
    space = ImageSpace(info.at_npix(16))
    refiner = CellRefiner(4, features=2, noise_dim=0)
    coarse, cells, fine = refiner.coarsen(v, space)
    norm = info.get_normalizer()
    pooled = norm.images(norm.images_inverse(v[:, 0]).reshape(len(v), 16, 4, 16, 4).sum((2, 4)))
    torch.testing.assert_close(coarse[:, 0], pooled, atol=1e-4, rtol=1e-4)
    assert torch.equal((coarse[:, 0] > 0).nonzero(), cells)
    features = torch.zeros(len(cells), 2)
    opt = torch.optim.Adam(refiner.parameters(), lr=3e-3)
    first = float(refiner.nll(features, cells, fine, (16, 16)))
    for _ in range(300):
        loss = refiner.nll(features, cells, fine, (16, 16))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.9 * first
    # the core pixel (32, 32) is fine pixel 0 of cell (8, 8) in every jet: the split learns to light it
    core = (cells[:, 1] == 8) & (cells[:, 2] == 8)
    occ_logits, shares = refiner.split(features[core], fine[core].sum(1), cells[core, 1:], (16, 16))
    assert torch.all(torch.sigmoid(occ_logits[:, 0]) > 0.6) and torch.all(shares.argmax(1) == 0)


def test_refining_generator_has_the_coarse_trunk_and_writes_exact_zeros_on_the_fine_grid():
    torch.manual_seed(0)
    v, info = fine_jets(npix=64)
    gen = SparseAwareGenerator(npix=64, trunk_pixels=16, channels=(32, 16, 8), pixel_noise=True,
                               output=EnergyConservingHead(floor=PixelFloor(0.05)))
    gen.init_from_data(info)
    assert gen.pixel_bias.bias.shape[-1] == 16 and gen.refiner.factor == 4
    np.testing.assert_allclose(torch.sigmoid(gen.pixel_bias.bias[0, 0]).detach().numpy(),
                               np.clip(info.at_npix(16).occupancy_map, 1e-4, 1 - 1e-4), rtol=1e-4, atol=1e-6)
    out = gen(gen.sample_noise(32), generator=torch.Generator().manual_seed(2))
    assert out.shape == (32, 1, 64, 64)
    occupancy = float((out > 0).float().mean())
    assert 0.2 * info.occupancy < occupancy < 5 * info.occupancy, (occupancy, info.occupancy)
    (-out.sum()).backward()
    assert gen.refiner.mlp[0].weight.grad.abs().sum() > 0 and gen.trunk.fc.weight.grad.abs().sum() > 0
    same = SparseAwareGenerator(npix=64, trunk_pixels=64, channels=(32, 16, 8))
    assert same.refiner is None and same.pixel_bias.bias.shape[-1] == 64


def test_refining_vae_decoder_trains_on_the_factorized_loss_and_samples_the_fine_grid():
    torch.manual_seed(0)
    v, info = fine_jets(n=32, npix=64)
    decoder = DenseDecoder(latent_dim=8, npix=64, trunk_pixels=16, channels=(32, 16, 8), output="hurdle",
                           energy_conserving=True)
    model = VAE(SparseEncoder(npix=64, channels=(8, 16, 16), out_dim=32), decoder, latent_dim=8,
                recon="hurdle", beta=1e-4, warmup_steps=1)
    model.data_info = info
    model.on_data_info()
    for module in model.modules():
        if module is not model and hasattr(module, "init_from_data"):
            module.init_from_data(info)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        mu, logvar = model.encode(v)
        loss = model.recon_loss(model._decode(mu), v)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    with torch.no_grad():
        images = model.generate(16, generator=torch.Generator().manual_seed(3))
    assert images.shape == (16, 1, 64, 64) and torch.all(images >= 0)
    assert 0 < float((images > 0).float().mean()) < 10 * info.occupancy


@pytest.mark.parametrize("npix", [32, 128])
def test_sparse_stack_and_global_features_read_the_active_sites_only(npix):
    torch.manual_seed(0)
    images = torch.zeros(6, 1, npix, npix)
    images[:, 0, npix // 2, npix // 2] = 1.5
    images[:, 0, 3, 5] = torch.linspace(0.2, 0.7, 6)
    stack = SparseConvStack(npix, (8, 8, 8), bias=False, grid=4)
    assert stack.out_dim == 8 * 16  # the head's width does not grow with npix
    sites = SparseImage.from_dense(images)
    torch.testing.assert_close(stack(images), stack(sites))
    space = ImageSpace()
    features = GlobalFeatures(top_pixels=5)
    torch.testing.assert_close(features(sites, space), features(images, space))
    if npix == 32:  # where the last level is already 4×4 the grid changes nothing
        plain = SparseConvStack(npix, (8, 8, 8), bias=False)
        plain.load_state_dict(stack.state_dict())
        torch.testing.assert_close(plain(images), stack(images))
    else:  # the fixed grid is the sum of the finer last level over its cells
        fine = SparseConvStack(npix, (8, 8, 8), bias=False)
        fine.load_state_dict(stack.state_dict())
        dense = fine(images).view(6, 8, npix // 8, npix // 8)
        pooled = dense.view(6, 8, 4, npix // 32, 4, npix // 32).sum((3, 5)).flatten(1)
        torch.testing.assert_close(stack(images), pooled)


def test_sparse_critic_and_encoder_heads_keep_their_width_at_every_npix():
    widths = {n: (SparseCritic(npix=n, channels=(8, 16, 16)).head.fc[0].in_features,
                  SparseEncoder(npix=n, channels=(8, 16, 16)).fc[0].in_features) for n in (32, 64, 128)}
    assert widths[32] == widths[64] == widths[128]
