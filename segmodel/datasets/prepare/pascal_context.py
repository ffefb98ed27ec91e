"""PASCAL Context 59 and 459, validation labels below `VOCdevkit/VOC2010/`.

- PC-59: `trainval_merged.json` (the Detail API's): for each image of phase "val", a zero mask is
  painted with each annotation's `category_id` in file order (later ones overwrite), then mapped
  by the shipped 60-id table to 0-58 (0 and every unlisted id -> 255); uint8 PNG in
  `annotations_detectron2/pc59_val/NAME.png`.
- PC-459: `trainval/ID.mat` (`LabelMap`, 1-459) for the ids of `pascalcontext_val.txt` (the root's
  copy, else the shipped one): `LabelMap - 1` in its own dtype, TIFF in
  `annotations_detectron2/pc459_val/ID.tif`; ids without a .mat are skipped.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from segmodel.datasets.base import PrepareError
from segmodel.datasets.prepare import tables
from segmodel.datasets.prepare.catalog import PC459_MAT, download_hint
from segmodel.datasets.prepare.files import check_size, save_atomic
from segmodel.datasets.prepare.rle import RleError, decode_rle
from segmodel.datasets.prepare.runner import Job, Task

VOC2010 = Path("VOCdevkit") / "VOC2010"
_IMAGE_KEYS = ("image_id", "file_name", "height", "width", "phase")
_ANNO_KEYS = ("image_id", "category_id", "segmentation")


def pc59_jobs(root: Path) -> list[Job]:
    hint = download_hint("pc59", root)
    path = root / VOC2010 / "trainval_merged.json"
    data = _read_detail(path, hint)
    val = {d["image_id"]: d for d in data["images"] if d["phase"] == "val"}
    if not val:
        raise PrepareError(f"{path} has no image of phase 'val'; {hint}")
    annotations: dict[Any, list[tuple[int, Any]]] = {key: [] for key in val}
    for anno in data["annos_segmentation"]:
        if anno["image_id"] in annotations:
            annotations[anno["image_id"]].append((anno["category_id"], anno["segmentation"]))
    out = root / VOC2010 / "annotations_detectron2" / "pc59_val"
    tasks = []
    for key, image in val.items():
        stem = Path(str(image["file_name"])).stem
        meta = (str(path), stem, int(image["height"]), int(image["width"]))
        target = out / f"{stem}.png"
        tasks.append(Task((target,), (meta, annotations[key], target, root / VOC2010)))
    return [Job("PC-59 val", convert_pc59, tasks)]


def _read_detail(path: Path, hint: str) -> dict[str, Any]:
    """The Detail API's JSON, checked for the fields the conversion reads."""
    if not path.is_file():
        raise PrepareError(f"{path} not found; {hint}")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PrepareError(f"{path} is not valid JSON ({err}); download it again") from err
    fix = f"expected the Detail API's trainval_merged.json; {hint}"
    for field, keys in (("images", _IMAGE_KEYS), ("annos_segmentation", _ANNO_KEYS)):
        rows = data.get(field) if isinstance(data, dict) else None
        if not isinstance(rows, list) or not rows:
            raise PrepareError(f"{path} has no list {field!r}; {fix}")
        bad = next((r for r in rows if not isinstance(r, dict) or any(k not in r for k in keys)), 0)
        if bad != 0:
            raise PrepareError(f"{path}: an entry of {field!r} lacks one of {keys}; {fix}")
    return data


def convert_pc59(
    meta: tuple[str, str, int, int],
    annotations: list[tuple[int, Any]],
    out: Path,
    voc: Path,
    *,
    force: bool = False,
) -> int:
    """One val image's annotations -> its 59-class uint8 PNG."""
    json_path, stem, height, width = meta
    painted = np.zeros((height, width), dtype=np.int64)  # context ids; 0 = none
    for category, rle in annotations:
        try:
            mask = decode_rle(rle)  # (h, w) uint8
        except RleError as err:
            raise PrepareError(f"{json_path}: image {stem}: {err}; download it again") from err
        if mask.shape != (height, width):
            raise PrepareError(
                f"{json_path}: image {stem} is {width}x{height} but a mask is "
                f"{mask.shape[1]}x{mask.shape[0]}; download trainval_merged.json again"
            )
        painted[mask != 0] = int(category)
    check_size((width, height), voc / "JPEGImages" / f"{stem}.jpg", f"{json_path} ({stem})")
    label = np.full((height, width), 255, dtype=np.uint8)
    for context_id, train_id in tables.pc59().items():
        label[painted == context_id] = np.uint8(train_id)
    return int(save_atomic(label, out, "PNG", force=force))


def pc459_jobs(root: Path) -> list[Job]:
    hint = download_hint("pc459", root)
    folder = root / VOC2010 / "trainval"
    if not folder.is_dir():
        raise PrepareError(f"{folder} not found; {hint}")
    ids = _val_ids(root / VOC2010 / "pascalcontext_val.txt")
    present = [i for i in ids if (folder / f"{i}.mat").is_file()]
    if not present:
        raise PrepareError(f"{folder} holds none of the {len(ids)} validation .mat files; {hint}")
    out = root / VOC2010 / "annotations_detectron2" / "pc459_val"
    tasks = [
        Task((out / f"{i}.tif",), (folder / f"{i}.mat", out / f"{i}.tif", root / VOC2010))
        for i in present
    ]
    return [Job("PC-459 val", convert_pc459, tasks)]


def _val_ids(path: Path) -> list[str]:
    """The 5,104 validation ids: the root's `pascalcontext_val.txt`, else the shipped copy."""
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        shipped = resources.files("promptbank").joinpath("data", "vocab", "sed")
        text = shipped.joinpath("pascalcontext_val.txt").read_text(encoding="utf-8")
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if any("/" in i or i.startswith(".") for i in ids):
        raise PrepareError(f"{path} lists something that is not an image id; use the official list")
    return ids


def convert_pc459(mat: Path, out: Path, voc: Path, *, force: bool = False) -> int:
    """One `trainval/ID.mat` -> `LabelMap - 1` (own dtype, so 0 wraps) as TIFF."""
    import scipy.io

    try:
        label_map = scipy.io.loadmat(str(mat)).get("LabelMap")
    except (OSError, ValueError, TypeError, NotImplementedError) as err:
        raise PrepareError(
            f"{mat} cannot be read as a MATLAB file ({err}); extract {PC459_MAT.file} again"
        ) from err
    if label_map is None or label_map.ndim != 2 or label_map.dtype not in (np.uint8, np.uint16):
        raise PrepareError(
            f"{mat} has no 2-D uint16 'LabelMap'; expected the PASCAL Context {PC459_MAT.file}"
        )
    check_size(
        (label_map.shape[1], label_map.shape[0]), voc / "JPEGImages" / f"{mat.stem}.jpg", str(mat)
    )
    return int(save_atomic(label_map - label_map.dtype.type(1), out, "TIFF", force=force))
