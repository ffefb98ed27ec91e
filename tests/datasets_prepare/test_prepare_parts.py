"""The small parts: COCO RLE decoding, ADE-847's size rule, the resizes, the shipped tables."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from segmodel.datasets.prepare import PLANNERS, TARGETS
from segmodel.datasets.prepare.ade_index import read_index
from segmodel.datasets.prepare.resize import resize_bilinear, resize_nearest, shrunk_size
from segmodel.datasets.prepare.rle import RleError, decode_rle, parse_counts
from tests.datasets_prepare.miniature import encode_rle


def test_rle_runs_are_column_major_starting_with_zeros():
    mask = decode_rle({"size": [2, 3], "counts": [1, 2, 3]})  # 0, then 1 1, then 0 0 0
    np.testing.assert_array_equal(mask, [[0, 1, 0], [1, 0, 0]])


def test_rle_compressed_string_round_trips():
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (7, 5), (40, 33)]:
        for p in (0.0, 0.1, 0.5, 1.0):
            mask = (rng.random(shape) < p).astype(np.uint8)
            np.testing.assert_array_equal(decode_rle(encode_rle(mask)), mask)


def test_rle_known_string():
    # pycocotools' encoding of runs [5, 31, 2, 1]: "5", "o0" (31 needs two 5-bit groups: its
    # bit 0x10 would read as a sign), "2", then from the fourth run on the difference to the run
    # two before: 1 - 31 = -30 -> "RO"
    assert parse_counts("5o02RO") == [5, 31, 2, 1]


def test_rle_that_does_not_cover_the_image_is_refused():
    with pytest.raises(RleError, match="add up to 5, not the 2x3 pixels"):
        decode_rle({"size": [2, 3], "counts": [2, 3]})
    with pytest.raises(RleError, match="'size' and 'counts'"):
        decode_rle([1, 2])


def test_short_side_rule():
    assert shrunk_size(512, 900) is None and shrunk_size(300, 200) is None
    assert shrunk_size(513, 700) == (512, 699)
    assert shrunk_size(1000, 600) == (853, 512)
    assert shrunk_size(600, 600) == (512, 512)


def test_nearest_takes_floor_of_scaled_index():
    label = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(resize_nearest(label, (2, 2)), [[0, 2], [4, 6]])


def test_bilinear_keeps_constants_and_averages_exact_halves():
    flat = np.full((9, 13, 3), 77, np.uint8)
    assert (resize_bilinear(flat, (5, 6)) == 77).all()
    image = np.array([[0, 2, 10, 10], [4, 6, 10, 11]], np.uint8)
    np.testing.assert_array_equal(resize_bilinear(image, (1, 2)), [[3, 10]])


def test_every_target_has_a_planner():
    assert tuple(PLANNERS) == TARGETS


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_ade_index_with_numpy_arrays_reads_under_every_pickle_protocol(tmp_path, protocol):
    index = {
        "folder": ["ADE20K_2021_17_01/images/ADE/validation/a"],
        "filename": ["ADE_val_00000001.jpg"],
        "objectPresence": np.arange(6, dtype=np.uint16).reshape(2, 3),
        "scene": np.array(["street"], dtype=object),
        "wordnet_level1": np.float32(1.5),
    }
    path = tmp_path / "index_ade20k.pkl"
    path.write_bytes(pickle.dumps(index, protocol=protocol))
    assert read_index(path, "fix") == [(index["folder"][0], index["filename"][0])]
