"""The procedural generator: prompt parsing, determinism and what template words do."""

import numpy as np
import pytest
from PIL import Image

from promptbank.errors import VocabularyError
from promptbank.world.procedural import ProceduralGenerator, parse_style, preview_sheet
from promptbank.world.shapes import ALL_CLASSES, CATALOGUE, WORLD_VERSION, ClassSpec, label_palette


@pytest.fixture(scope="module")
def gen():
    return ProceduralGenerator()


def _arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def _colour_pixels(image: Image.Image, rgb, tol: float = 60.0) -> int:
    """Pixels within `tol` (RGB distance) of colour rgb."""
    return int((np.linalg.norm(_arr(image) - np.array(rgb), axis=-1) < tol).sum())


def test_identity_names_world_version(gen):
    assert gen.name == "procedural"
    assert gen.identity() == {"name": "procedural", "world": WORLD_VERSION}


def test_parse_finds_longest_class_name(gen):
    assert gen.parse("a bad photo of the red circle.")[0].name == "red circle"
    assert gen.parse("a photo of many Brick Walls.")[0].name == "brick wall"
    assert gen.parse("the origami pink heart.")[0].name == "pink heart"
    custom = ProceduralGenerator(
        [*CATALOGUE.values(), ClassSpec("big red circle", "thing", "circle", (250, 0, 0))]
    )
    assert custom.parse("a photo of the big red circle.")[0].name == "big red circle"


def test_unknown_class_error_lists_known_classes(gen):
    with pytest.raises(
        VocabularyError,
        match=r"no procedural class named in prompt 'a photo of a cat\.'.*red circle.*brick wall",
    ) as err:
        gen.generate(["a photo of a cat."], [0], resolution=32)
    assert "\n" not in str(err.value)


def test_bad_custom_class_is_refused():
    with pytest.raises(VocabularyError, match="form='hexagon'"):
        ProceduralGenerator([ClassSpec("grey hexagon", "thing", "hexagon")])


def test_generate_is_deterministic_per_prompt_and_seed(gen):
    prompts = ["a photo of a red circle.", "a photo of the sky."] * 2
    a = gen.generate(prompts, [1, 2, 3, 4], resolution=48, steps=10, guidance=7.5)
    b = gen.generate(prompts[:1] + prompts[1:2], [1, 2], resolution=48)
    assert all(im.size == (48, 48) and im.mode == "RGB" for im in a)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert a[0].tobytes() != a[2].tobytes()  # another seed, another image


def test_every_class_renders_with_its_look(gen):
    images = gen.generate(
        [f"a photo of a {c}." for c in ALL_CLASSES], [5] * len(ALL_CLASSES), resolution=64
    )
    for name, image in zip(ALL_CLASSES, images):
        spec = CATALOGUE[name]
        if spec.kind == "thing":
            assert _colour_pixels(image, spec.rgb) > 0.05 * 64 * 64, name
    means = {n: _arr(im).reshape(-1, 3).mean(0) for n, im in zip(ALL_CLASSES, images)}
    assert means["grass"][1] > means["grass"][0] and means["grass"][1] > means["grass"][2]
    assert means["sky"][2] > means["sky"][0] and means["water"][2] > means["water"][0]
    assert means["brick wall"][0] > means["brick wall"][2] and means["sand"][0] > means["sand"][2]


def test_dark_is_darker_than_bright(gen):
    for name in ("red circle", "water"):
        dark, bright = gen.generate(
            [f"a dark photo of the {name}.", f"a bright photo of the {name}."],
            [3, 3],
            resolution=64,
        )
        assert _arr(dark).mean() < 0.6 * _arr(bright).mean()


def test_small_covers_fewer_pixels_than_large(gen):
    for seed in range(4):
        small, large, many = gen.generate(
            [
                "a photo of the small blue square.",
                "a photo of the large blue square.",
                "a photo of many blue square.",
            ],
            [seed] * 3,
            resolution=64,
        )
        rgb = CATALOGUE["blue square"].rgb
        assert _colour_pixels(small, rgb) < 0.5 * _colour_pixels(large, rgb)
    assert parse_style("a photo of many").count[0] >= 4


def test_blur_pixelate_and_grayscale_change_the_image(gen):
    plain, blurry, pix, gray = gen.generate(
        [
            "a photo of the green triangle.",
            "a blurry photo of the green triangle.",
            "a pixelated photo of the green triangle.",
            "a black and white photo of the green triangle.",
        ],
        [2] * 4,
        resolution=64,
    )

    def roughness(im):
        return np.abs(np.diff(_arr(im), axis=1)).mean()

    assert roughness(blurry) < 0.5 * roughness(plain)
    pixel = _arr(pix)
    assert (pixel[:, 0::4] == pixel[:, 1::4]).all()  # 16 blocks across 64 pixels
    g = _arr(gray)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])


def test_other_words_parse_to_styles():
    assert parse_style("a close-up photo of the").scale > parse_style("a photo of the").scale
    assert parse_style("a cropped photo of a").cropped
    assert parse_style("a sketch of a").outline
    assert parse_style("a low resolution photo of a").downsample > 1
    assert parse_style("a jpeg corrupted photo of a").jpeg_quality > 0
    assert parse_style("a photo of a brightly").brightness == 1.0  # whole words only


def test_prompt_and_seed_counts_must_match(gen):
    with pytest.raises(ValueError, match="2 prompts but 1 seeds"):
        gen.generate(["a red circle", "a sky"], [0], resolution=32)


def test_preview_sheet_has_a_row_per_class_and_two_scene_rows():
    sheet = preview_sheet(scenes=2, samples=2, size=24)
    rows = 2 + len(ALL_CLASSES)
    assert sheet.height == rows * 26 + 2 and sheet.width == 120 + 2 * 26 + 2
    assert label_palette().shape == (len(ALL_CLASSES), 3)
