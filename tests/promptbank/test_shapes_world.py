"""The shapes world: catalogue, textures, shapes and scenes."""

import colorsys

import numpy as np
import pytest
from PIL import Image

from promptbank.world.shapes import (
    ALL_CLASSES,
    CATALOGUE,
    SEEN_CLASSES,
    SHAPES,
    TEXTURES,
    UNSEEN_CLASSES,
    contact_sheet,
    render_scene,
    render_texture,
    shape_mask,
)


def test_catalogue_splits_cover_every_class_once():
    assert len(ALL_CLASSES) == 13
    assert set(SEEN_CLASSES) | set(UNSEEN_CLASSES) == set(ALL_CLASSES)
    assert not set(SEEN_CLASSES) & set(UNSEEN_CLASSES)
    kinds = {CATALOGUE[c].kind for c in UNSEEN_CLASSES}
    assert kinds == {"thing", "stuff"}  # unseen classes mix shapes and textures
    for spec in CATALOGUE.values():
        assert spec.form in (SHAPES if spec.kind == "thing" else TEXTURES)


def test_vocab_file_lists_all_classes_in_label_order():
    from importlib.resources import files

    text = files("promptbank").joinpath("data/vocab/shapes.txt").read_text()
    assert tuple(text.splitlines()) == ALL_CLASSES


def test_scene_is_deterministic_and_seed_dependent():
    a_img, a_lab = render_scene(7, 64)
    b_img, b_lab = render_scene(7, 64)
    c_img, _ = render_scene(8, 64)
    assert a_img.shape == (64, 64, 3) and a_img.dtype == np.uint8
    assert a_lab.shape == (64, 64) and a_lab.max() < len(ALL_CLASSES)
    assert a_img.tobytes() == b_img.tobytes() and a_lab.tobytes() == b_lab.tobytes()
    assert a_img.tobytes() != c_img.tobytes()


def _hue_distance(rgb: np.ndarray, target: tuple[int, int, int]) -> np.ndarray:
    """Circular hue distance (0..0.5) of each pixel (N, 3) to the target colour's hue."""
    target_h = colorsys.rgb_to_hsv(*(c / 255 for c in target))[0]
    hsv = np.asarray(Image.fromarray(rgb[None].astype(np.uint8)).convert("HSV"))[0]
    d = np.abs(hsv[:, 0] / 255.0 - target_h)
    return np.minimum(d, 1 - d)


def test_thing_pixels_have_their_class_colour():
    checked = set()
    for seed in range(40):
        image, label = render_scene(seed, 96)
        for index in np.unique(label):
            spec = CATALOGUE[ALL_CLASSES[index]]
            if spec.kind != "thing":
                continue
            pixels = image[label == index].astype(np.float32)  # (N, 3)
            mean = pixels.mean(0)
            # the hue of the mean colour is nearest to this thing's base hue among all things
            things = [s for s in CATALOGUE.values() if s.kind == "thing"]
            dists = [_hue_distance(mean[None], s.rgb)[0] for s in things]
            assert things[int(np.argmin(dists))] == spec, (seed, spec.name, mean)
            assert np.median(_hue_distance(pixels, spec.rgb)) < 0.06, (seed, spec.name)
            checked.add(spec.name)
    assert len(checked) == 8


def test_required_classes_appear_and_allowed_classes_limit_the_scene():
    for seed in range(20):
        for required in UNSEEN_CLASSES:
            _, label = render_scene(seed, 64, ALL_CLASSES, (required,))
            assert (label == ALL_CLASSES.index(required)).sum() > 0
        _, label = render_scene(seed, 64, SEEN_CLASSES)
        assert set(np.unique(label).tolist()) <= {ALL_CLASSES.index(c) for c in SEEN_CLASSES}


def test_scene_needs_a_stuff_class():
    with pytest.raises(ValueError, match="no stuff class"):
        render_scene(0, 64, ["red circle"])
    with pytest.raises(ValueError, match="unknown shapes-world classes"):
        render_scene(0, 64, ["grass", "unicorn"])


def test_textures_are_distinct_on_average():
    means = {}
    for form in TEXTURES:
        rng = np.random.default_rng(0)
        tex = render_texture(form, rng, 64, 64, 64)
        assert tex.shape == (64, 64, 3) and np.isfinite(tex).all()
        means[form] = tex.reshape(-1, 3).mean(0)
    forms = list(means)
    for i, a in enumerate(forms):
        for b in forms[i + 1 :]:
            assert np.linalg.norm(means[a] - means[b]) > 20, (a, b)


def test_shape_masks_differ_and_scale_with_radius():
    small = shape_mask("star", 64, 64, 32, 32, 8, 0.3).sum()
    large = shape_mask("star", 64, 64, 32, 32, 20, 0.3).sum()
    assert 0 < small < large
    areas = {form: shape_mask(form, 64, 64, 32, 32, 20, 0.0).sum() for form in SHAPES}
    assert areas["ring"] < areas["circle"] and areas["star"] < areas["square"]


def test_contact_sheet_tiles_images():
    images = [np.full((8, 8, 3), i * 40, np.uint8) for i in range(5)]
    sheet = contact_sheet(images, cols=3, pad=1)
    assert sheet.size == (3 * 9 + 1, 2 * 9 + 1)
