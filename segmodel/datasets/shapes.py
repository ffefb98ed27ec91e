"""The shapes-world dataset: procedural scenes with pixel labels, deterministic from a seed.

The train split draws only seen classes; the val split draws all classes and every scene holds one
of the unseen classes in turn, so each unseen class is in at least a quarter of the val scenes.
Train scene seeds are even and val scene seeds odd, so the splits never share a scene.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from promptbank.world.shapes import ALL_CLASSES, SEEN_CLASSES, UNSEEN_CLASSES, render_scene
from segmodel.datasets.base import DatasetError

DEFAULT_LENGTH = {"train": 2000, "val": 200}  # scenes per split when `length` is not given
_SEEDS_PER_RUN = 10_000_000  # scene seeds reserved per dataset seed (and split parity)


CACHED_SIDE = 192  # scenes up to this side are remembered: 2048 of them take 300 MB at most


@lru_cache(maxsize=2048)  # a training run revisits its 2000 train scenes every epoch
def _cached_scene(seed: int, size: int, allowed: tuple, required: tuple, thing_scale: float):
    """render_scene, remembered per process (a scene is a pure function of its arguments)."""
    return render_scene(seed, size, allowed, required, thing_scale)


def _render(seed: int, size: int, allowed: tuple, required: tuple, thing_scale: float):
    draw = _cached_scene if size <= CACHED_SIDE else render_scene
    return draw(seed, size, allowed, required, thing_scale)


class ShapesDataset:
    """Map-style dataset of shapes-world scenes.

    Args:
        split: "train" (seen classes only) or "val" (all classes).
        size: side of the square scenes in pixels.
        length: number of scenes (default: 2000 for train, 200 for val).
        seed: picks the family of scenes; items are the same on every run and machine.
        root: ignored (the world needs no files); accepted so all datasets open alike.

    Item i is ``{"image": uint8 (H, W, 3), "label": int64 (H, W), "name": str}``; label values
    index `classes`, which is always the full class list so seen and unseen indices are stable.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 128,
        length: int | None = None,
        seed: int = 0,
        root: str | Path | None = None,
        thing_scale: float = 1.0,
    ) -> None:
        if split not in DEFAULT_LENGTH:
            raise DatasetError(f"shapes dataset split {split!r} is unknown; use 'train' or 'val'")
        length = DEFAULT_LENGTH[split] if length is None else int(length)
        if not 0 < length <= _SEEDS_PER_RUN:
            raise DatasetError(f"shapes dataset length must be 1..{_SEEDS_PER_RUN}, got {length}")
        if int(size) < 32:
            raise DatasetError(f"shapes dataset size must be at least 32 pixels, got {size}")
        if int(seed) < 0:
            raise DatasetError(f"shapes dataset seed must be a non-negative integer, got {seed}")
        self.split = split
        self.size = int(size)
        self.length = length
        self.seed = int(seed)
        self.thing_scale = float(thing_scale)
        self.name = "shapes"
        self.classes = list(ALL_CLASSES)  # label order; index = label value
        self.seen_classes = list(SEEN_CLASSES)
        self.unseen_classes = list(UNSEEN_CLASSES)
        self.seen_indices = [self.classes.index(c) for c in SEEN_CLASSES]
        self.unseen_indices = [self.classes.index(c) for c in UNSEEN_CLASSES]
        self.ignore_index = 255
        self.num_eval_classes = len(self.classes)
        self.pred_remap = None
        self.eval_class_names = self.classes

    def scene_seed(self, index: int) -> int:
        """The render_scene seed of item `index`: even for train, odd for val."""
        return 2 * (self.seed * _SEEDS_PER_RUN + index) + (self.split == "val")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"shapes {self.split} index {index} out of range 0..{self.length - 1}")
        if self.split == "train":
            allowed, required = SEEN_CLASSES, ()
        else:
            allowed, required = ALL_CLASSES, (UNSEEN_CLASSES[index % len(UNSEEN_CLASSES)],)
        image, label = _render(
            self.scene_seed(index), self.size, allowed, required, self.thing_scale
        )
        return {
            "image": image.copy(),  # (H, W, 3) uint8
            "label": label.astype(np.int64),  # (H, W) indices into self.classes
            "name": f"shapes-{self.split}-{self.seed}-{index:06d}",
        }

    def __repr__(self) -> str:
        return (
            f"ShapesDataset(split={self.split!r}, size={self.size}, length={self.length}, "
            f"seed={self.seed})"
        )
