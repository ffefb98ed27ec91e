"""Each benchmark prepared from a miniature official download: values, dtypes and paths by the rules
of docs/datasets.md, and `open_dataset` reads the result."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from segmodel.datasets import open_dataset
from segmodel.datasets.prepare import prepare
from segmodel.datasets.prepare.tables import read_table
from tests.datasets_prepare import miniature


def _read(path):
    with Image.open(path) as im:
        return im.mode, np.asarray(im)


@pytest.mark.parametrize("from_zip", [False, True])
def test_coco_stuff_maps_raw_ids_to_171_train_ids(tmp_path, from_zip):
    raw = miniature.coco_stuff(tmp_path)
    if from_zip:  # stuffthingmaps_trainval2017.zip as downloaded: train2017/, val2017/ at the top
        labels = tmp_path / "coco-stuff/annotations"
        for split in ("train2017", "val2017"):
            miniature.zip_folder(labels / split, tmp_path / f"{split}.zip", split)
        shutil.rmtree(labels)
        with zipfile.ZipFile(tmp_path / "coco-stuff/stuffthingmaps_trainval2017.zip", "w") as z:
            for split in ("train2017", "val2017"):
                with zipfile.ZipFile(tmp_path / f"{split}.zip") as part:
                    for name in part.namelist():
                        z.writestr(name, part.read(name))
    reports = prepare("coco-stuff171", tmp_path, workers=1, progress=False)
    assert [r.written for r in reports] == [2, 2]
    table = read_table("coco_stuff_ids.tsv")
    assert len(table) == 171 and table[0] == 0 and table[12] == 11 and table[181] == 170
    assert 11 not in table and 25 not in table  # unused thing ids
    for split, labels in raw.items():
        for stem, label in labels.items():
            mode, out = _read(
                tmp_path / "coco-stuff/annotations_detectron2" / split / f"{stem}.png"
            )
            assert mode == "L" and out.dtype == np.uint8
            expected = np.vectorize(lambda v: table.get(int(v), 255))(label)
            np.testing.assert_array_equal(out, expected)
            assert {255, 0, 11, 170} <= set(np.unique(out).tolist())
    for split in ("train", "val"):
        ds = open_dataset("coco-stuff171", tmp_path, split=split)
        assert len(ds) == 2 and ds[0]["label"].max() <= 255


@pytest.mark.parametrize("from_zip", [False, True])
def test_ade150_subtracts_one_with_uint8_wrap(tmp_path, from_zip):
    raw = miniature.ade150(tmp_path)
    if from_zip:  # the archive as downloaded, nothing extracted
        top = tmp_path / "ADEChallengeData2016"
        miniature.zip_folder(top, tmp_path / "ADEChallengeData2016.zip", "ADEChallengeData2016")
        shutil.rmtree(top)
    prepare("ade150", tmp_path, workers=1, progress=False)
    out_dir = tmp_path / "ADEChallengeData2016/annotations_detectron2/validation"
    for stem, label in raw.items():
        mode, out = _read(out_dir / f"{stem}.png")
        assert mode == "L"
        np.testing.assert_array_equal(out, np.where(label == 0, 255, label.astype(int) - 1))
    ds = open_dataset("ade150", tmp_path)
    assert len(ds) == 3 and set(np.unique(ds[0]["label"])) <= {255, 0, 1, 74, 149}


def test_ade847_decodes_colours_maps_ids_and_shrinks_to_512(tmp_path):
    full = miniature.ade_full(tmp_path)
    prepare("ade847", tmp_path, workers=1, progress=False)
    table = read_table("ade847_ids.tsv")
    assert len(table) == 847 and table[2978] == 0 and table[3144] == 99
    top = tmp_path / "ADE20K_2021_17_01"
    expected_sizes = {  # (h, w): short side > 512 -> 512, long side rounded
        "ADE_val_00000001": (512, 591),
        "ADE_val_00000002": (30, 40),
        "ADE_val_00000003": (689, 512),
    }
    for stem, ids in full.items():
        mode, out = _read(top / "annotations_detectron2/validation" / f"{stem}.tif")
        assert mode == "I;16" and out.dtype == np.uint16
        assert out.shape == expected_sizes[stem]
        mapped = np.vectorize(lambda v: table.get(int(v), 65535))(ids)
        h, w = out.shape
        # nearest: output pixel (y, x) takes source pixel (floor(y * H / h), floor(x * W / w))
        rows = np.floor(np.arange(h) * (ids.shape[0] / h)).astype(int)
        cols = np.floor(np.arange(w) * (ids.shape[1] / w)).astype(int)
        np.testing.assert_array_equal(out, mapped[rows][:, cols])
        with Image.open(top / "images_detectron2/validation" / f"{stem}.jpg") as im:
            assert im.size == (w, h) and im.format == "JPEG"
    assert not (top / "images_detectron2/validation/ADE_train_00000001.jpg").exists()
    ds = open_dataset("ade847", tmp_path)
    assert len(ds) == 3 and ds[0]["image"].shape == (512, 591, 3)
    assert ds[1]["image"].shape == (30, 40, 3)  # the grey JPEG stays grey, read as RGB


def test_ade847_resized_image_is_a_bilinear_shrink(tmp_path):
    """A smooth ramp shrunk bilinearly stays a ramp: within a grey level or two after JPEG."""
    miniature.ade_full(tmp_path, sizes=((520, 600),))
    top = tmp_path / "ADE20K_2021_17_01"
    ramp = np.tile(np.linspace(0, 255, 600), (520, 1)).round().astype(np.uint8)
    src = top / "images/ADE/validation/urban/street/ADE_val_00000001.jpg"
    Image.fromarray(np.stack([ramp] * 3, -1)).save(src, quality=100)
    prepare("ade847", tmp_path, workers=1, progress=False)
    _, out = _read(top / "images_detectron2/validation/ADE_val_00000001.jpg")
    x = (np.arange(591) + 0.5) * 600 / 591 - 0.5  # sample positions of the half-pixel rule
    expected = np.interp(x, np.arange(600), np.linspace(0, 255, 600))
    assert np.abs(out[256, 5:-5, 0].astype(float) - expected[5:-5]).max() <= 3


def test_pascal_context_59_paints_in_file_order_and_maps_60_ids(tmp_path):
    raw = miniature.pascal_context(tmp_path)
    prepare("pc59", tmp_path, workers=1, progress=False)
    table = read_table("pc59_ids.tsv")
    assert len(table) == 60 and table[0] == 255 and table[2] == 0 and table[458] == 58
    out_dir = tmp_path / "VOCdevkit/VOC2010/annotations_detectron2/pc59_val"
    assert sorted(p.name for p in out_dir.iterdir()) == ["2008_000002.png", "2008_000003.png"]
    for stem in ("2008_000002", "2008_000003"):
        mode, out = _read(out_dir / f"{stem}.png")
        assert mode == "L"
        expected = np.vectorize(lambda v: table.get(int(v), 255))(raw["painted"][stem])
        np.testing.assert_array_equal(out, expected)
        assert {255, 0, 1, 23, 58} <= set(np.unique(out).tolist())
    assert len(open_dataset("pc59", tmp_path)) == 2


def test_pascal_context_459_is_labelmap_minus_one_as_uint16_tiff(tmp_path):
    raw = miniature.pascal_context(tmp_path)
    prepare("pc459", tmp_path, workers=1, progress=False)
    out_dir = tmp_path / "VOCdevkit/VOC2010/annotations_detectron2/pc459_val"
    assert sorted(p.name for p in out_dir.iterdir()) == ["2008_000002.tif", "2008_000003.tif"]
    for stem in ("2008_000002", "2008_000003"):
        mode, out = _read(out_dir / f"{stem}.tif")
        assert mode == "I;16" and out.dtype == np.uint16
        np.testing.assert_array_equal(out, raw["label_maps"][stem] - np.uint16(1))
        assert 65535 in out and 458 in out  # LabelMap 0 wraps, as the peers' script
    assert len(open_dataset("pc459", tmp_path)) == 2


@pytest.mark.parametrize("from_zip", [False, True])
def test_voc_writes_both_variants_and_drops_all_ignore_labels(tmp_path, from_zip):
    raw = miniature.voc(tmp_path)
    if from_zip:  # SegmentationClassAug.zip left in the root, not extracted
        labels = tmp_path / "VOCdevkit/VOC2012/SegmentationClassAug"
        miniature.zip_folder(labels, tmp_path / "SegmentationClassAug.zip", "SegmentationClassAug")
        shutil.rmtree(labels)
    prepare("voc20", tmp_path, workers=1, progress=False)
    top = tmp_path / "VOCdevkit/VOC2012"
    written = {
        v: sorted(p.stem for p in (top / v / "val").iterdir())
        for v in ("annotations_detectron2", "annotations_detectron2_bg")
    }
    assert written == {
        "annotations_detectron2": ["2007_000033", "2007_000123"],
        "annotations_detectron2_bg": ["2007_000033", "2007_000042", "2007_000123"],
    }
    for folder, background in (("annotations_detectron2", 255), ("annotations_detectron2_bg", 20)):
        for stem in written[folder]:
            mode, out = _read(top / folder / "val" / f"{stem}.png")
            label = raw[stem].astype(int)
            expected = np.where(label == 0, background, np.where(label <= 20, label - 1, 255))
            assert mode == "L"
            np.testing.assert_array_equal(out, expected)
    assert len(open_dataset("voc20", tmp_path)) == 2
    assert len(open_dataset("voc20b", tmp_path)) == 3
