"""VOC-20 and VOC-20b: `SegmentationClassAug` labels of the VOC2012 segmentation val ids.

For the ids of `VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt`: k -> k - 1 for 1-20; 0 -> 255
(VOC-20, `annotations_detectron2/val/`) or 20 (VOC-20b, `annotations_detectron2_bg/val/`); 255
and any other value -> 255; uint8 PNG. A label that is all 255 after mapping is not written (the
peers drop it, so evaluation does too). Labels come from `VOC2012/SegmentationClassAug/`, or from
`SegmentationClassAug.zip` in `VOC2012/` or the root.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segmodel.datasets.base import PrepareError
from segmodel.datasets.prepare.catalog import VOC2012, VOC_AUG, download_hint
from segmodel.datasets.prepare.files import check_size, label_array, read_input, save_atomic
from segmodel.datasets.prepare.runner import Job, Task
from segmodel.datasets.prepare.sources import Archive, InputFile, find_inputs

VOC = Path("VOCdevkit") / "VOC2012"
BACKGROUND = 20  # VOC-20b's train id of class 0
ARCHIVES = (
    Archive(f"{VOC}/SegmentationClassAug.zip", "SegmentationClassAug/"),
    Archive("SegmentationClassAug.zip", "SegmentationClassAug/"),
)


def lookups() -> tuple[np.ndarray, np.ndarray]:
    """(256,) uint8 tables for VOC-20 and VOC-20b."""
    voc20 = np.full(256, 255, dtype=np.uint8)
    voc20[1:21] = np.arange(20, dtype=np.uint8)
    voc20b = voc20.copy()
    voc20b[0] = BACKGROUND
    return voc20, voc20b


def jobs(root: Path) -> list[Job]:
    hint = download_hint("voc20", root)
    ids_file = root / VOC / "ImageSets" / "Segmentation" / "val.txt"
    if not ids_file.is_file():
        raise PrepareError(f"{ids_file} not found (it comes with {VOC2012.file}); {hint}")
    ids = [line.strip() for line in ids_file.read_text().splitlines() if line.strip()]
    files, where = find_inputs(root, f"{VOC}/SegmentationClassAug", ARCHIVES, ".png", hint)
    missing = [i for i in ids if i not in files]
    if missing:
        raise PrepareError(
            f"{where} lacks {len(missing)} of the {len(ids)} val labels (first: {missing[0]}.png); "
            f"the download looks half-extracted: extract {VOC_AUG.file} again"
        )
    outs = (
        root / VOC / "annotations_detectron2" / "val",
        root / VOC / "annotations_detectron2_bg" / "val",
    )
    tasks = [
        Task(
            tuple(out / f"{i}.png" for out in outs),
            (files[i], outs[0] / f"{i}.png", outs[1] / f"{i}.png", root / VOC / "JPEGImages"),
        )
        for i in ids
    ]
    return [Job("VOC-20 and VOC-20b val", convert, tasks)]


def convert(
    item: InputFile, out20: Path, out20b: Path, images: Path, *, force: bool = False
) -> int:
    """One SegmentationClassAug PNG -> its VOC-20 and VOC-20b labels (all-ignore ones skipped)."""
    label = read_input(item, VOC_AUG.file)
    raw = label_array(label, item.where, ("L", "P"), "8-bit VOC class ids")  # (H, W) uint8
    check_size(label.size, images / f"{out20.stem}.jpg", item.where)
    written = 0
    for table, out in zip(lookups(), (out20, out20b)):
        mapped = table[raw]
        if (mapped != 255).any():
            written += save_atomic(mapped, out, "PNG", force=force)
    return written
