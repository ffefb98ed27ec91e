"""Miniature official downloads, a few images per set, in the formats the datasets ship.

Each builder writes below a datasets root what extracting the official archive gives (PNG label
maps, `.mat` files with `LabelMap`, the Detail API's JSON with compressed COCO RLE, ADE20K's
`_seg.png` colour code and its pickled index) and returns the raw inputs so tests can apply the
conversion rules themselves.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

RNG_SEED = 17


def rng(offset: int = 0) -> np.random.Generator:
    return np.random.default_rng(RNG_SEED + offset)


def write_image(path: Path, height: int, width: int, seed: int = 0, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    pixels = rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def blocks(height: int, width: int, values: list[int], dtype, seed: int = 0) -> np.ndarray:
    """A label map of 4x4-pixel blocks drawn from `values` (every value appears)."""
    grid = rng(seed).choice(values, size=(-(-height // 4), -(-width // 4)))
    grid.flat[: len(values)] = values
    return np.kron(grid, np.ones((4, 4), dtype=np.int64))[:height, :width].astype(dtype)


def zip_folder(folder: Path, archive: Path, inside: str) -> None:
    """Zips `folder` so that its files sit under `inside/` in the archive."""
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, f"{inside}/{path.relative_to(folder).as_posix()}")


# --- COCO-Stuff: stuffthingmaps PNGs, raw ids 0-181 and 255 ---------------------------------
COCO_RAW = [0, 11, 12, 25, 90, 91, 181, 182, 200, 255]  # 11, 25 unused thing ids; 182+ unknown


def coco_stuff(root: Path, per_split: int = 2, size=(20, 24)) -> dict[str, dict[str, np.ndarray]]:
    raw: dict[str, dict[str, np.ndarray]] = {}
    for s, split in enumerate(("train2017", "val2017")):
        raw[split] = {}
        for i in range(per_split):
            stem = f"{s:06d}{i:06d}"
            label = blocks(*size, COCO_RAW, np.uint8, seed=10 * s + i)
            write_png(root / "coco-stuff/annotations" / split / f"{stem}.png", label)
            write_image(root / "coco-stuff/images" / split / f"{stem}.jpg", *size, seed=i)
            raw[split][stem] = label
    return raw


# --- ADE-150: ADEChallengeData2016, uint8 0 (other) .. 150 ----------------------------------
def ade150(root: Path, count: int = 3, size=(16, 20)) -> dict[str, np.ndarray]:
    raw = {}
    top = root / "ADEChallengeData2016"
    for i in range(count):
        stem = f"ADE_val_{i + 1:08d}"
        label = blocks(*size, [0, 1, 2, 75, 150], np.uint8, seed=i)
        write_png(top / "annotations/validation" / f"{stem}.png", label)
        write_image(top / "images/validation" / f"{stem}.jpg", *size, seed=i)
        raw[stem] = label
    return raw


# --- ADE-847: ADE20K_2021_17_01, _seg.png colour code, index_ade20k.pkl -------------------------
ADE_FULL_IDS = [
    2978,
    312,
    2420,
    3144,
    10,
    1,
    5000,
]  # wall, building, sky, carrier, ac; 1/5000 unmapped


def seg_colours(full_ids: np.ndarray, seed: int = 0) -> np.ndarray:
    """ADE20K's code: R / 10 = id // 256 (R's last digit is free), G = id % 256, B = instances."""
    noise = rng(seed).integers(0, 10, full_ids.shape)
    red = (full_ids // 256) * 10 + noise
    green = full_ids % 256
    blue = rng(seed + 1).integers(0, 256, full_ids.shape)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def ade_full(root: Path, sizes=((520, 600), (30, 40), (700, 520))) -> dict[str, np.ndarray]:
    """Validation images of the given sizes (short side > 512 gets shrunk) plus one training."""
    folder = "ADE20K_2021_17_01/images/ADE/validation/urban/street"
    train_folder = "ADE20K_2021_17_01/images/ADE/training/urban/street"
    names, folders, full = [], [], {}
    for i, (h, w) in enumerate(sizes):
        stem = f"ADE_val_{i + 1:08d}"
        ids = blocks(h, w, ADE_FULL_IDS, np.int64, seed=i)
        write_image(root / folder / f"{stem}.jpg", h, w, seed=i, mode="L" if i == 1 else "RGB")
        write_png(root / folder / f"{stem}_seg.png", seg_colours(ids, seed=i))
        names.append(f"{stem}.jpg")
        folders.append(folder)
        full[stem] = ids
    write_image(root / train_folder / "ADE_train_00000001.jpg", 8, 8)
    names.append("ADE_train_00000001.jpg")
    folders.append(train_folder)
    index = {
        "filename": names,
        "folder": folders,
        "objectnames": ["wall", "building, edifice"],
        "objectPresence": np.zeros((2, len(names)), dtype=np.uint8),  # as the real index: arrays
        "scene": np.array(["street"] * len(names), dtype=object),
    }
    (root / "ADE20K_2021_17_01/index_ade20k.pkl").write_bytes(pickle.dumps(index))
    return full


# --- PASCAL Context: VOC2010, Detail API JSON (COCO RLE), trainval/*.mat -------------------------
def encode_rle(mask: np.ndarray) -> dict:
    """COCO's compressed RLE of a 0/1 mask (column-major runs, 5-bit groups offset by 48)."""
    flat = mask.T.reshape(-1).astype(np.uint8)
    runs, current, length = [], 0, 0
    for value in flat:
        if value != current:
            runs.append(length)
            current, length = value, 0
        length += 1
    runs.append(length)
    chars = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": "".join(chars)}


PC_CONTEXT_IDS = [0, 2, 9, 1, 458, 115, 300]  # 0 background, 1/300 not among the 59


def pascal_context(root: Path, size=(18, 22)) -> dict[str, dict[str, np.ndarray]]:
    """Two val images and one train image in the Detail JSON; .mat files for the val ids."""
    voc = root / "VOCdevkit/VOC2010"
    images, annos, painted, label_maps = [], [], {}, {}
    stems = ["2008_000002", "2008_000003", "2008_000007"]
    for i, stem in enumerate(stems):
        h, w = size
        phase = "train" if i == 2 else "val"
        images.append(
            {
                "image_id": 100 + i,
                "file_name": f"{stem}.jpg",
                "height": h,
                "width": w,
                "phase": phase,
            }
        )
        write_image(voc / "JPEGImages" / f"{stem}.jpg", h, w, seed=i)
        target = np.zeros((h, w), dtype=np.int64)
        for k, category in enumerate(PC_CONTEXT_IDS[1:] + [2]):  # 2 again: later overwrites
            mask = rng(100 * i + k).random((h, w)) < 0.3
            annos.append(
                {"image_id": 100 + i, "category_id": category, "segmentation": encode_rle(mask)}
            )
            target[mask] = category
        painted[stem] = target
        label_map = blocks(h, w, [0, 1, 2, 59, 459], np.uint16, seed=i)  # 0 would wrap
        label_maps[stem] = label_map
    data = {"info": {}, "images": images, "annos_segmentation": annos, "categories": []}
    (voc / "trainval_merged.json").write_text(json.dumps(data))
    import scipy.io

    (voc / "trainval").mkdir(parents=True, exist_ok=True)
    for stem in stems[:2]:
        scipy.io.savemat(voc / "trainval" / f"{stem}.mat", {"LabelMap": label_maps[stem]})
    (voc / "pascalcontext_val.txt").write_text("\n".join(stems[:2] + ["2008_009999"]) + "\n")
    return {"painted": painted, "label_maps": label_maps}


# --- VOC 2012: SegmentationClassAug PNGs and the val list --------------------------------------
def voc(root: Path, size=(14, 18)) -> dict[str, np.ndarray]:
    """Four val labels: mixed, all background, all border (255), and values 0-20 + 255."""
    top = root / "VOCdevkit/VOC2012"
    labels = {
        "2007_000033": blocks(*size, [0, 1, 5, 20, 255], np.uint8, seed=1),
        "2007_000042": np.zeros(size, dtype=np.uint8),  # VOC-20 drops it, VOC-20b keeps it
        "2007_000061": np.full(size, 255, dtype=np.uint8),  # both drop it
        "2007_000123": blocks(*size, list(range(21)) + [255], np.uint8, seed=2),
    }
    for stem, label in labels.items():
        write_png(top / "SegmentationClassAug" / f"{stem}.png", label)
        write_image(top / "JPEGImages" / f"{stem}.jpg", *size, seed=3)
    write_png(top / "SegmentationClassAug" / "2007_999999.png", labels["2007_000033"])  # not val
    sets = top / "ImageSets/Segmentation"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("\n".join(labels) + "\n")
    return labels
