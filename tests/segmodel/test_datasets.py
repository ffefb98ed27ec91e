"""Each benchmark layout loads a tiny fixture built in tmp_path; errors name the expected path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segmodel.datasets import DatasetError, LabelledFolder, open_dataset, read_vocab
from segmodel.datasets.benchmarks import LAYOUTS

EXPECTED_CLASSES = {
    "coco-stuff171": 171,
    "ade150": 150,
    "ade847": 847,
    "pc59": 59,
    "pc459": 459,
    "voc20": 20,
    "voc20b": 59,
}


def _write_pair(image_dir, label_dir, stem, label, ext, image_ext=".jpg"):
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    h, w = label.shape
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(image_dir / f"{stem}{image_ext}")
    Image.fromarray(label).save(label_dir / f"{stem}{ext}")


def _label_for(layout, num_classes):
    dtype = np.uint16 if layout.ignore_index > 255 or num_classes > 255 else np.uint8
    label = np.zeros((6, 5), dtype=dtype)
    label[0, :] = num_classes - 1
    label[1, :] = layout.ignore_index
    label[2, 1] = 3
    return label


@pytest.mark.parametrize(("name", "split"), sorted(LAYOUTS))
def test_each_layout_loads_its_fixture(tmp_path, name, split):
    layout = LAYOUTS[(name, split)]
    top = 21 if name == "voc20b" else EXPECTED_CLASSES[name]
    label = _label_for(layout, top)
    _write_pair(
        tmp_path / layout.image_dir, tmp_path / layout.label_dir, "img1", label, layout.label_ext
    )
    _write_pair(
        tmp_path / layout.image_dir, tmp_path / layout.label_dir, "img2", label, layout.label_ext
    )
    ds = open_dataset(name, tmp_path, split=split)
    assert len(ds) == 2
    assert len(ds.classes) == EXPECTED_CLASSES[name]
    assert ds.ignore_index == layout.ignore_index
    item = ds[1]
    assert item["name"] == "img2"
    assert item["image"].dtype == np.uint8 and item["image"].shape == (6, 5, 3)
    assert item["label"].dtype == np.int64 and item["label"].shape == (6, 5)
    np.testing.assert_array_equal(item["label"], label.astype(np.int64))


def test_ade847_uint16_tiff_keeps_65535_and_large_ids(tmp_path):
    layout = LAYOUTS[("ade847", "val")]
    label = np.array([[0, 846, 65535], [300, 65535, 12]], dtype=np.uint16)
    _write_pair(tmp_path / layout.image_dir, tmp_path / layout.label_dir, "a", label, ".tif")
    item = open_dataset("ade847", tmp_path)[0]
    np.testing.assert_array_equal(item["label"], [[0, 846, 65535], [300, 65535, 12]])


def test_voc20b_queries_59_names_and_evaluates_21_classes(tmp_path):
    layout = LAYOUTS[("voc20b", "val")]
    _write_pair(
        tmp_path / layout.image_dir,
        tmp_path / layout.label_dir,
        "x",
        np.full((3, 3), 20, np.uint8),
        ".png",
    )
    ds = open_dataset("voc20b", tmp_path)
    assert ds.classes == read_vocab("voc20b.json") and len(ds.classes) == 59
    assert ds.num_eval_classes == 21
    assert ds.eval_class_names[-1] == "background" and ds.eval_class_names[:20] == read_vocab(
        "voc20.json"
    )
    assert list(ds.pred_remap[:21]) == list(range(21)) and set(ds.pred_remap[20:]) == {20}


def test_pairs_by_stem_intersection_with_a_warning(tmp_path):
    label = np.zeros((4, 4), np.uint8)
    for stem in ("a", "b", "c"):
        _write_pair(tmp_path / "images", tmp_path / "labels", stem, label, ".png")
    (tmp_path / "labels" / "c.png").unlink()
    Image.fromarray(label).save(tmp_path / "labels" / "orphan.png")
    (tmp_path / "classes.txt").write_text("cat\ndog\n\n")
    with pytest.warns(UserWarning, match="3 images and 3 labels; using the 2 pairs"):
        ds = open_dataset("folder", tmp_path)
    assert [ds[i]["name"] for i in range(len(ds))] == ["a", "b"]
    assert ds.classes == ["cat", "dog"] and ds.unpaired_images == 1 and ds.unpaired_labels == 1


def test_folder_dataset_accepts_palette_png_and_tiff_labels(tmp_path):
    pal = Image.fromarray(np.array([[0, 1], [255, 1]], np.uint8)).convert("P")
    _write_pair(
        tmp_path / "images", tmp_path / "labels", "p", np.zeros((2, 2), np.uint8), ".png", ".png"
    )
    pal.save(tmp_path / "labels" / "p.png")
    _write_pair(
        tmp_path / "images", tmp_path / "labels", "t", np.array([[5, 7]], np.uint16), ".tif"
    )
    (tmp_path / "classes.txt").write_text("\n".join(f"c{i}" for i in range(8)))
    ds = open_dataset("folder", tmp_path, ignore_index=7)
    assert ds.ignore_index == 7
    np.testing.assert_array_equal(ds[0]["label"], [[0, 1], [255, 1]])
    np.testing.assert_array_equal(ds[1]["label"], [[5, 7]])


def test_missing_folder_names_the_expected_path(tmp_path):
    with pytest.raises(
        DatasetError,
        match=r"image folder not found, expected .*ADEChallengeData2016/images/validation.*"
        r"dpseg data prepare ade150 --root",
    ):
        open_dataset("ade150", tmp_path)
    (tmp_path / "coco-stuff/images/val2017").mkdir(parents=True)
    with pytest.raises(
        DatasetError, match="label folder not found, expected .*annotations_detectron2/val2017"
    ):
        open_dataset("coco-stuff171", tmp_path)


def test_bad_names_splits_and_folder_layouts(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'ade-150'"):
        open_dataset("ade-150", tmp_path)
    with pytest.raises(DatasetError, match="has no split 'train'.*'val'"):
        open_dataset("ade150", tmp_path, split="train")
    with pytest.raises(DatasetError, match="classes.txt"):
        open_dataset("folder", tmp_path)
    with pytest.raises(DatasetError, match="needs a data root"):
        open_dataset("pc59", None)


def test_unpaired_folders_and_bad_labels_raise(tmp_path):
    _write_pair(tmp_path / "images", tmp_path / "labels", "a", np.zeros((2, 2), np.uint8), ".png")
    (tmp_path / "labels" / "a.png").rename(tmp_path / "labels" / "b.png")
    with pytest.raises(DatasetError, match="no image .* has a label with the same stem"):
        LabelledFolder(tmp_path / "images", tmp_path / "labels", ["x"])
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "labels" / "a.png")
    with pytest.warns(UserWarning):
        ds = LabelledFolder(tmp_path / "images", tmp_path / "labels", ["x"])
    with pytest.raises(DatasetError, match="colour image"):
        ds[0]
    Image.fromarray(np.zeros((3, 2), np.uint8)).save(tmp_path / "labels" / "a.png")
    with pytest.raises(DatasetError, match="label is 2x3"):
        ds[0]


def test_open_dataset_dispatches_shapes_without_files():
    ds = open_dataset("shapes", None, split="val", length=2, size=32)
    item = ds[0]
    assert len(ds) == 2 and item["label"].shape == (32, 32) and ds.ignore_index == 255
