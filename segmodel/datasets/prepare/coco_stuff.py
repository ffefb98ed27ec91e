"""COCO-Stuff-171: stuffthingmaps PNGs (raw ids 0-181, 255 unlabeled) -> 171 train ids, uint8 PNG.

Input: `coco-stuff/annotations/{train2017,val2017}/*.png`, or `stuffthingmaps_trainval2017.zip`
in `coco-stuff/` or the root. Output: `coco-stuff/annotations_detectron2/{split}/NAME.png`.
"""

from __future__ import annotations

from pathlib import Path

from segmodel.datasets.prepare import tables
from segmodel.datasets.prepare.catalog import COCO_LABELS, download_hint
from segmodel.datasets.prepare.files import check_size, label_array, read_input, save_atomic
from segmodel.datasets.prepare.runner import Job, Task
from segmodel.datasets.prepare.sources import Archive, InputFile, find_inputs

SPLITS = ("train2017", "val2017")
ARCHIVES = ("coco-stuff/stuffthingmaps_trainval2017.zip", "stuffthingmaps_trainval2017.zip")


def jobs(root: Path) -> list[Job]:
    """One job per split, both checked for their inputs before anything is written."""
    hint = download_hint("coco-stuff171", root)
    found = []
    for split in SPLITS:
        archives = tuple(Archive(path, f"{split}/") for path in ARCHIVES)
        files, _ = find_inputs(root, f"coco-stuff/annotations/{split}", archives, ".png", hint)
        found.append((split, files))
    return [_job(root, split, files) for split, files in found]


def _job(root: Path, split: str, files: dict[str, InputFile]) -> Job:
    out = root / "coco-stuff" / "annotations_detectron2" / split
    images = root / "coco-stuff" / "images" / split
    tasks = [
        Task((out / f"{stem}.png",), (item, out / f"{stem}.png", images / f"{stem}.jpg"))
        for stem, item in files.items()
    ]
    return Job(f"COCO-Stuff-171 {split.removesuffix('2017')}", convert, tasks)


def convert(item: InputFile, out: Path, image: Path, *, force: bool = False) -> int:
    """One stuffthingmaps PNG -> its train-id PNG (ids outside the table and 255 -> 255)."""
    label = read_input(item, COCO_LABELS.file)
    raw = label_array(label, item.where, ("L", "P"), "8-bit COCO-Stuff ids")  # (H, W) uint8
    check_size(label.size, image, item.where)
    return int(save_atomic(tables.coco_stuff()[raw], out, "PNG", force=force))
