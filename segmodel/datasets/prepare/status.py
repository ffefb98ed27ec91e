"""What `dpseg data list` shows: for each of the eight layouts, what is there and is it ready."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from segmodel.datasets.base import IMAGE_EXTS
from segmodel.datasets.benchmarks import LAYOUTS
from segmodel.datasets.prepare.catalog import OFFICIAL_PAIRS


@dataclass(frozen=True)
class LayoutStatus:
    name: str  # benchmark name of `open_dataset` ("coco-stuff171", ...)
    split: str  # "train" or "val"
    title: str  # human name
    images: int  # image files found in the layout's image folder
    labels: int  # label files found in its label folder
    pairs: int  # images with a label of the same stem
    official: int  # pairs in the full official set

    @property
    def ready(self) -> bool:
        return self.pairs > 0


def layout_status(root: Path) -> list[LayoutStatus]:
    """The eight layouts under `root`, in `LAYOUTS` order."""
    rows = []
    for (name, split), layout in LAYOUTS.items():
        images = _stems(root / layout.image_dir, IMAGE_EXTS)
        labels = _stems(root / layout.label_dir, (layout.label_ext,))
        pairs = len(images & labels)
        official = OFFICIAL_PAIRS[(name, split)]
        rows.append(
            LayoutStatus(name, split, layout.title, len(images), len(labels), pairs, official)
        )
    return rows


def _stems(folder: Path, exts: tuple[str, ...]) -> set[str]:
    if not folder.is_dir():
        return set()
    with os.scandir(folder) as entries:
        return {
            os.path.splitext(e.name)[0]
            for e in entries
            if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in exts
        }
