"""Imputation of empty pixels: active pixels kept exactly, empty ones filled from their neighbours."""

from __future__ import annotations

import pytest
import torch

from sparsegen.nn.imputation import knn_impute, neighbourhood_impute


def image(*pixels: tuple[int, int, float], size: int = 6) -> torch.Tensor:
    x = torch.zeros(1, 1, size, size)
    for i, j, v in pixels:
        x[0, 0, i, j] = v
    return x


def test_neighbourhood_is_the_local_mean_of_active_pixels():
    x = image((2, 2, 1.0), (2, 3, 3.0), size=8)
    out = neighbourhood_impute(x, size=3, iterations=1)
    assert out[0, 0, 2, 2] == 1.0 and out[0, 0, 2, 3] == 3.0  # active pixels unchanged
    assert out[0, 0, 1, 2] == pytest.approx(2.0)  # sees both
    assert out[0, 0, 1, 1] == pytest.approx(1.0)  # sees only (2, 2)
    assert out[0, 0, 0, 0] == 0.0  # out of reach after one iteration
    grown = neighbourhood_impute(x, size=3, iterations=2)
    assert grown[0, 0, 0, 1] > 0 and grown[0, 0, 0, 7] == 0.0 and grown[0, 0, 0, 5] > 0


def test_knn_fills_every_pixel_from_the_nearest_active_ones():
    x = image((0, 0, 2.0), (5, 5, 4.0))
    out = knn_impute(x, k=1)
    assert out[0, 0, 0, 0] == 2.0 and out[0, 0, 5, 5] == 4.0
    assert out[0, 0, 1, 0] == 2.0 and out[0, 0, 4, 5] == 4.0
    assert (out > 0).all()
    both = knn_impute(x, k=5)  # only two active pixels: their mean
    assert both[0, 0, 2, 3] == pytest.approx(3.0)


def test_empty_images_stay_empty_and_shapes_are_checked():
    x = torch.zeros(2, 5, 5)
    assert knn_impute(x).shape == (2, 5, 5) and (knn_impute(x) == 0).all()
    assert (neighbourhood_impute(x) == 0).all()
    with pytest.raises(ValueError, match="shape"):
        knn_impute(torch.zeros(2, 3, 5, 5))
    with pytest.raises(ValueError, match="odd"):
        neighbourhood_impute(torch.zeros(1, 5, 5), size=2)
