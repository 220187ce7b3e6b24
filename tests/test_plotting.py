"""Figures of fine grids stay readable: a lone active pixel of a 128×128 jet image is drawn."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np

from sparsegen import plotting


def test_a_lone_pixel_of_a_128_grid_is_drawn_in_the_image_grid(tmp_path):
    images = np.zeros((12, 128, 128), np.float32)
    for i in range(12):  # one active pixel per jet, away from the centre, at different intensities
        images[i, 20 + 7 * i, 100 - 5 * i] = 10.0 ** (-3 + i / 4)
    path = tmp_path / "grid.png"
    plotting.image_grid(images, path=path)
    rgb = mpimg.imread(path)[..., :3]
    coloured = (np.abs(rgb - 1.0).sum(-1) > 0.3) & (np.ptp(rgb, axis=-1) > 0.15)  # viridis, not grey/black
    # each panel's pixel covers about 3×3 screen pixels (left of the colour bar); drawn at the default
    # resolution and interpolation, a fine grid's lone pixels shrink or vanish
    panels = coloured[:, : int(0.9 * rgb.shape[1])].sum()
    assert panels >= 12 * 6, panels
    assert plotting.pixel_dpi(128, 2.1) >= 3 * 128 / 2.1 and plotting.pixel_dpi(32, 2.1) == 110
