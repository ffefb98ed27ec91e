"""ADE-847: ADE20K_2021_17_01's validation images and `_seg.png` colour codes -> 847 train ids.

Per validation image (file names `ADE_val_*`): class = int(R / 10) * 256 + G of `NAME_seg.png`,
full id -> train id by the shipped table (else 65535), image and label shrunk to short side 512
when larger (bilinear / nearest, `resize.py`). Writes
`ADE20K_2021_17_01/images_detectron2/validation/NAME.jpg` (PIL's default JPEG settings, as the
peers) and `.../annotations_detectron2/validation/NAME.tif` (uint16).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segmodel.datasets.base import PrepareError
from segmodel.datasets.prepare import tables
from segmodel.datasets.prepare.ade_index import read_index
from segmodel.datasets.prepare.catalog import ADE_FULL, download_hint
from segmodel.datasets.prepare.files import label_array, open_image, save_atomic
from segmodel.datasets.prepare.resize import resize_bilinear, resize_nearest, shrunk_size
from segmodel.datasets.prepare.runner import Job, Task

TOP = "ADE20K_2021_17_01"


def jobs(root: Path) -> list[Job]:
    hint = download_hint("ade847", root)
    entries = read_index(root / TOP / "index_ade20k.pkl", hint)
    val = [(folder, name) for folder, name in entries if _is_val(name)]
    if not val:
        raise PrepareError(f"{root / TOP / 'index_ade20k.pkl'} lists no ADE_val_* image; {hint}")
    images = root / TOP / "images_detectron2" / "validation"
    labels = root / TOP / "annotations_detectron2" / "validation"
    tasks = []
    for folder, name in val:
        stem = Path(name).stem
        out_image, out_label = images / name, labels / f"{stem}.tif"
        tasks.append(Task((out_image, out_label), (root / folder / name, out_image, out_label)))
    return [Job("ADE-847 val", convert, tasks)]


def _is_val(name: str) -> bool:
    parts = name.split("_")
    return len(parts) > 1 and parts[1] == "val"


def convert(source: Path, out_image: Path, out_label: Path, *, force: bool = False) -> int:
    """One ADE20K image and its `_seg.png` -> the shrunk JPEG and the uint16 train-id TIFF."""
    image = np.asarray(open_image(source, ADE_FULL.file))  # (H, W[, C]) uint8
    seg_path = source.with_name(source.name.replace(".jpg", "_seg.png"))
    seg = open_image(seg_path, ADE_FULL.file)
    colours = label_array(seg, str(seg_path), ("RGB", "RGBA"), "ADE20K's colour-coded classes")
    if colours.shape[:2] != image.shape[:2]:
        raise PrepareError(
            f"{seg_path} is {seg.size[0]}x{seg.size[1]} but {source} is "
            f"{image.shape[1]}x{image.shape[0]}; extract {ADE_FULL.file} again"
        )
    full_ids = (colours[:, :, 0] // 10).astype(np.int32) * 256 + colours[:, :, 1]  # (H, W)
    size = shrunk_size(*image.shape[:2])
    if size is not None:
        image = resize_bilinear(image, size)
        full_ids = resize_nearest(full_ids, size)
    written = save_atomic(image, out_image, "JPEG", force=force)
    written += save_atomic(tables.ade847()[full_ids], out_label, "TIFF", force=force)
    return int(written)
