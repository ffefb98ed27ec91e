"""A labelled-image folder pair: images and label maps matched by file stem.

Every benchmark layout (`benchmarks.py`) and the generic folder dataset are instances of
`LabelledFolder`. Items are plain dicts of numpy arrays so any framework can consume them:
``{"image": uint8 (H, W, 3), "label": int64 (H, W), "name": str}``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from promptbank.errors import DpsegError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LABEL_EXTS = (".png", ".tif", ".tiff")


class DatasetError(DpsegError):
    """A dataset folder, file or name that cannot be used."""


class PrepareError(DatasetError):
    """A benchmark download that `dpseg data prepare` cannot convert (missing, damaged, foreign).

    The CLI exits 2 on it (bad input), as the issue that added `dpseg data` asks."""

    exit_code = 2


def list_by_stem(folder: Path, exts: Sequence[str]) -> dict[str, Path]:
    """Maps file stem -> path for the files in `folder` (not recursive) with one of `exts`."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in exts:
            if path.stem in found:
                raise DatasetError(
                    f"two files share the stem {path.stem!r} in {folder} "
                    f"({found[path.stem].name}, {path.name}); keep one per stem"
                )
            found[path.stem] = path
    return found


def load_image(path: Path) -> np.ndarray:
    """Reads an image file as uint8 RGB, (H, W, 3)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load_label(path: Path) -> np.ndarray:
    """Reads a single-channel label map (PNG uint8/uint16/palette, TIFF any int) as int64 (H, W)."""
    with Image.open(path) as im:
        if im.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr"):
            raise DatasetError(
                f"label {path} is a {im.mode} colour image; expected a single-channel map of "
                "class indices (mode L, P, I;16 or I)"
            )
        arr = np.asarray(im)
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.rint(arr)
    return arr.astype(np.int64)


class LabelledFolder:
    """Images in one folder, label maps in another, paired by stem (the intersection).

    Args:
        image_dir: folder of images (jpg/png/...).
        label_dir: folder of label maps; files with extension in `label_exts`.
        classes: class names used for prompting, in label order (index = label value).
        ignore_index: label value excluded from training targets and evaluation.
        name: short dataset name for logs and results.
        label_exts: extensions accepted for label files.
        num_eval_classes: number of evaluated classes when it differs from len(classes).
        pred_remap: lookup table (len(classes),) mapping a prompted class to an evaluated one.
        eval_class_names: names of the evaluated classes when they differ from `classes`.
        hint: one sentence telling the user how to prepare the folders (used in errors).
    """

    def __init__(
        self,
        image_dir: Path,
        label_dir: Path,
        classes: Sequence[str],
        *,
        ignore_index: int = 255,
        name: str = "folder",
        label_exts: Sequence[str] = LABEL_EXTS,
        num_eval_classes: int | None = None,
        pred_remap: np.ndarray | None = None,
        eval_class_names: Sequence[str] | None = None,
        hint: str = "",
    ) -> None:
        self.image_dir = Path(image_dir)
        self.label_dir = Path(label_dir)
        self.classes = list(classes)
        self.ignore_index = int(ignore_index)
        self.name = name
        self.num_eval_classes = num_eval_classes if num_eval_classes else len(self.classes)
        self.pred_remap = pred_remap
        self.eval_class_names = (
            list(eval_class_names) if eval_class_names is not None else self.classes
        )
        for what, folder in (("image", self.image_dir), ("label", self.label_dir)):
            if not folder.is_dir():
                raise DatasetError(f"{name}: {what} folder not found, expected {folder}. {hint}")
        images = list_by_stem(self.image_dir, IMAGE_EXTS)
        labels = list_by_stem(self.label_dir, tuple(label_exts))
        stems = sorted(images.keys() & labels.keys())
        self.unpaired_images = len(images) - len(stems)  # images without a label (skipped)
        self.unpaired_labels = len(labels) - len(stems)  # labels without an image (skipped)
        if not stems:
            raise DatasetError(
                f"{name}: no image in {self.image_dir} has a label with the same stem in "
                f"{self.label_dir} ({len(images)} images, {len(labels)} labels). {hint}"
            )
        if self.unpaired_images or self.unpaired_labels:
            warnings.warn(
                f"{name}: {len(images)} images and {len(labels)} labels; using the {len(stems)} "
                f"pairs with the same stem",
                stacklevel=2,
            )
        self.items = [(stem, images[stem], labels[stem]) for stem in stems]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        stem, image_path, label_path = self.items[index]
        image = load_image(image_path)  # (H, W, 3) uint8
        label = load_label(label_path)  # (H, W) int64
        if image.shape[:2] != label.shape:
            raise DatasetError(
                f"{self.name}: image {image_path.name} is {image.shape[1]}x{image.shape[0]} but "
                f"its label is {label.shape[1]}x{label.shape[0]}; labels must match their image"
            )
        return {"image": image, "label": label, "name": stem}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, images={len(self)}, "
            f"classes={len(self.classes)}, ignore_index={self.ignore_index})"
        )
