"""The shapes-world dataset: splits, determinism, labels."""

import numpy as np
import pytest

from promptbank.world.shapes import ALL_CLASSES, SEEN_CLASSES, UNSEEN_CLASSES
from segmodel.datasets.base import DatasetError
from segmodel.datasets.shapes import ShapesDataset


def test_items_have_the_dataset_layout():
    ds = ShapesDataset("train", size=64, length=5)
    item = ds[0]
    assert len(ds) == 5 and ds.classes == list(ALL_CLASSES) and ds.ignore_index == 255
    assert ds.seen_classes == list(SEEN_CLASSES) and ds.unseen_classes == list(UNSEEN_CLASSES)
    assert item["image"].shape == (64, 64, 3) and item["image"].dtype == np.uint8
    assert item["label"].shape == (64, 64) and item["label"].dtype == np.int64
    assert item["name"] == "shapes-train-0-000000"
    assert ds[-1]["name"] == ds[4]["name"]
    with pytest.raises(IndexError):
        ds[5]
    assert len(list(ds)) == 5  # iteration stops at the end


def test_items_are_deterministic_and_differ_between_indices_and_seeds():
    a, b = ShapesDataset("val", size=48, length=3), ShapesDataset("val", size=48, length=3)
    assert a[1]["image"].tobytes() == b[1]["image"].tobytes()
    assert a[1]["label"].tobytes() == b[1]["label"].tobytes()
    assert a[1]["image"].tobytes() != a[2]["image"].tobytes()
    other = ShapesDataset("val", size=48, length=3, seed=1)
    assert a[1]["image"].tobytes() != other[1]["image"].tobytes()


def test_train_and_val_never_share_a_scene():
    train = ShapesDataset("train", length=1000)
    train_seeds = {train.scene_seed(i) for i in range(1000)}
    for seed in range(3):
        val = ShapesDataset("val", length=1000, seed=seed)
        assert not train_seeds & {val.scene_seed(i) for i in range(1000)}


def test_train_split_has_only_seen_classes():
    ds = ShapesDataset("train", size=64, length=60)
    unseen = [ALL_CLASSES.index(c) for c in UNSEEN_CLASSES]
    present = set()
    for item in ds:
        present |= set(np.unique(item["label"]).tolist())
    assert not present & set(unseen)
    assert present == {ALL_CLASSES.index(c) for c in SEEN_CLASSES}


def test_val_split_shows_every_unseen_class_often():
    ds = ShapesDataset("val", size=64, length=50)
    scenes_with = dict.fromkeys(UNSEEN_CLASSES, 0)
    present = set()
    for item in ds:
        labels = set(np.unique(item["label"]).tolist())
        present |= labels
        for name in UNSEEN_CLASSES:
            scenes_with[name] += ALL_CLASSES.index(name) in labels
    assert min(scenes_with.values()) >= 50 // len(UNSEEN_CLASSES)
    assert present == set(range(len(ALL_CLASSES)))


def test_bad_arguments_are_refused():
    with pytest.raises(DatasetError, match="split 'test' is unknown"):
        ShapesDataset("test")
    with pytest.raises(DatasetError, match="length"):
        ShapesDataset("train", length=0)


def test_remembered_scenes_are_copies_and_thing_scale_grows_things():
    ds = ShapesDataset("train", size=64, length=3)
    first = ds[1]
    first["image"][:] = 0  # a transform writing into the item must not change the next read
    again = ds[1]
    assert again["image"].any() and np.array_equal(again["label"], first["label"])
    big = ShapesDataset("train", size=64, length=40, thing_scale=1.5)
    small = ShapesDataset("train", size=64, length=40, thing_scale=0.5)
    things = [ALL_CLASSES.index(c) for c in SEEN_CLASSES[:5]]  # the five seen things

    def area(data):
        return sum(np.isin(data[i]["label"], things).sum() for i in range(len(data)))

    assert area(big) > 2 * area(small)
