"""segmodel.overlay: colours per class, pixel shares, overlays with a legend, side-by-side rows."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from promptbank.world.shapes import CATALOGUE
from segmodel.overlay import (
    IGNORE_RGB,
    blend,
    class_colors,
    colorize,
    overlay,
    pixel_shares,
    side_by_side,
    vstack,
)


def _scene(h: int = 40, w: int = 60):
    image = np.full((h, w, 3), 200, np.uint8)
    labels = np.zeros((h, w), np.int64)
    labels[:, w // 2 :] = 2
    labels[:5, :5] = 255  # an ignored corner
    return image, labels


def test_colors_are_fixed_per_name():
    colors = class_colors(["sky", "my own class", "red circle"])
    assert tuple(colors[0]) == CATALOGUE["sky"].rgb
    assert tuple(colors[2]) == CATALOGUE["red circle"].rgb
    again = class_colors(["another", "my own class"])
    assert (again[1] == colors[1]).all()  # the same name gets the same colour in any vocabulary
    assert colors.dtype == np.uint8 and colors.shape == (3, 3)


def test_colorize_paints_unknown_labels_grey():
    colors = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)
    out = colorize(np.array([[0, 1], [7, 255]]), colors)
    assert out[0, 0].tolist() == [255, 0, 0] and out[0, 1].tolist() == [0, 255, 0]
    assert out[1, 0].tolist() == list(IGNORE_RGB) and out[1, 1].tolist() == list(IGNORE_RGB)


def test_pixel_shares_count_every_pixel():
    _, labels = _scene()
    shares = pixel_shares(labels, 3)
    assert shares[1] == 0
    assert shares[0] + shares[2] == pytest.approx(1 - 25 / labels.size)  # ignored pixels excluded


def test_overlay_adds_a_legend_beside_the_image():
    image, labels = _scene(64, 64)
    picture = overlay(image, labels, ["sky", "grass", "sand"])
    assert picture.mode == "RGB" and picture.height == 64 and picture.width > 64 + 30
    left = np.asarray(picture)[:, :64]
    assert not (left == image).all()  # colours were laid over the image
    legend_part = np.asarray(picture)[:, 64:]
    assert (legend_part == 255).mean() > 0.5  # a white panel with swatches and names


def test_legend_lists_only_present_classes():
    image, labels = _scene(16, 16)  # smaller than the legend: its height shows the row count
    names = ["sky", "grass", "sand"]
    two = overlay(image, labels, names)
    every = overlay(image, labels, names, only_present=False)
    labels[labels == 2] = 0
    one = overlay(image, labels, names)
    assert one.height < two.height < every.height


def test_blend_refuses_mismatched_sizes():
    image, labels = _scene()
    with pytest.raises(ValueError, match="same H, W"):
        blend(image, labels[:10], class_colors(["a", "b", "c"]))


def test_side_by_side_has_one_panel_per_map():
    image, labels = _scene(32, 32)
    names = ["sky", "grass", "sand"]
    one = side_by_side(image, labels, labels, names)
    three = side_by_side(image, [labels, labels, labels], labels, names, scale=2)
    assert three.width > one.width and three.height > one.height
    with pytest.raises(ValueError, match="titles"):
        side_by_side(image, labels, labels, names, titles=["only one"])
    sheet = vstack([one, three])
    assert isinstance(sheet, Image.Image) and sheet.height == one.height + three.height
