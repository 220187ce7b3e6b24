"""Image intensity transforms: exact round trip, exact zeros, the threshold, bad settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.normalization import IMAGE_THRESHOLD, TRANSFORMS, Normalizer


def jet_images(make_jets, n: int = 200) -> torch.Tensor:
    """Pixelized JetNet-like jets (ptrel intensities spanning several decades) plus a few very soft pixels."""
    images = make_jets(n, seed=4).to_images(32, 0.8)
    images[:, 0, :5] = np.array([1e-7, 3e-6, 9e-6, 1.1e-5, 2e-5], np.float32)  # around the threshold
    return torch.as_tensor(images)[:, None]


def fitted(images: torch.Tensor, transform: str, threshold: float = IMAGE_THRESHOLD) -> Normalizer:
    from sparsegen.core.jets import Jets

    empty = Jets.from_particles(np.zeros((1, 1, 3), np.float32), np.ones((1, 1), bool), pt=1000.0)
    return Normalizer.fit(empty, images=images[:, 0].numpy(), transform=transform, threshold=threshold)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_round_trip_is_exact_and_zeros_stay_zero(make_jets, transform):
    images = jet_images(make_jets)
    norm = fitted(images, transform)
    v = norm.images(images)
    kept = torch.where(images >= IMAGE_THRESHOLD, images, torch.zeros(()))
    assert torch.equal(v == 0, kept == 0), (
        "empty pixels (and sub-threshold ones) are exactly 0, active ones not"
    )
    assert (v >= 0).all() and 0.5 < float(v.max()) <= 1.5, "active values are O(1) (99.9th percentile = 1)"
    back = norm.images_inverse(v)
    assert torch.equal(back == 0, kept == 0)
    torch.testing.assert_close(back, kept, rtol=1e-5, atol=0.0)
    # and through the state dict stored in checkpoints
    again = Normalizer.from_state_dict(norm.state_dict())
    assert torch.equal(again.images_inverse(v), back)


@pytest.mark.parametrize("transform", ["log", "logit"])
def test_generated_values_below_the_threshold_become_exact_zeros(transform):
    norm = Normalizer(np.zeros(3), np.ones(3), 2.0, transform, 1e-6, 1e-5)
    v_thr = norm.value_of(1e-5)
    generated = torch.tensor([-3.0, -1e-3, 0.0, 0.5 * v_thr, 0.999 * v_thr, 1.01 * v_thr,
                              norm.value_of(1e-3), 50.0])
    x = norm.images_inverse(generated)
    assert torch.all(x[:5] == 0) and torch.all(x[5:] >= 1e-5)
    assert float(x[-1]) <= 1.0 + 1e-6, "a pixel never holds more than the jet"
    assert torch.all(norm.intensities(generated[:2]) < 0), "below the zero point: negative, hence empty"


def test_log_transform_spreads_the_decades_evenly():
    norm = Normalizer(np.zeros(3), np.ones(3), 1.0, "log", 1e-6, 1e-5)
    v = norm.transform_images(torch.tensor([1e-4, 1e-3, 1e-2], dtype=torch.float64))
    assert torch.allclose(v[2] - v[1], v[1] - v[0], rtol=0.02), "one decade = one step of ~log 10"


def test_transform_is_differentiable_for_generators():
    norm = Normalizer(np.zeros(3), np.ones(3), 10.0, "logit", 1e-6, 1e-5)
    x = torch.tensor([0.0, 1e-4, 0.3], requires_grad=True)
    norm.transform_images(x).sum().backward()
    assert torch.all(torch.isfinite(x.grad)) and torch.all(x.grad > 0)


@pytest.mark.parametrize("kwargs, needle", [
    ({"transform": "sqrt"}, "unknown intensity transform"),
    ({"transform": "log", "floor": 0.0}, "floor"),
    ({"transform": "log", "floor": -1e-6}, "floor"),
    ({"transform": "logit", "floor": 0.7}, "floor"),
    ({"threshold": -1.0}, "threshold"),
])
def test_bad_settings_are_one_input_error(kwargs, needle):
    from sparsegen.data.datamodule import JetDataModule

    with pytest.raises(SparsegenInputError, match=needle):
        JetDataModule(representation="images", **kwargs)
    with pytest.raises(SparsegenInputError, match=needle):
        Normalizer(np.zeros(3), np.ones(3), 1.0, **kwargs)


def test_a_whole_data_set_is_transformed_in_slices_with_the_same_values():
    """More images than one slice (`CHUNK`): the same values as image by image, in both directions."""
    from sparsegen.data import normalization as N

    rng = np.random.default_rng(0)
    shape = (N.CHUNK + 7, 8, 8)
    x = torch.as_tensor(rng.random(shape, dtype=np.float32) * (rng.random(shape) < 0.05))
    norm = Normalizer(np.zeros(3, np.float32), np.ones(3, np.float32), 2.0, "log", 1e-4, 1e-5)
    whole = norm.images(x)
    one_by_one = torch.cat([norm.images(x[i:i + 1]) for i in range(len(x))])
    assert whole.shape == x.shape and torch.equal(whole, one_by_one)
    assert torch.equal(norm.images_inverse(whole), torch.cat([norm.images_inverse(v[None]) for v in whole]))
