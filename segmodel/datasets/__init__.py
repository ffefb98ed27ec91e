"""Segmentation datasets: the standard benchmarks, a generic folder, and the shapes world.

`open_dataset(name, root, split=...)` returns an object with `__len__`, `__getitem__(i) ->
{"image": uint8 (H, W, 3), "label": int64 (H, W), "name": str}` and the attributes `classes`,
`ignore_index`, `num_eval_classes` and `pred_remap` (None unless evaluation folds classes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segmodel.datasets.base import DatasetError, LabelledFolder, load_image, load_label
from segmodel.datasets.benchmarks import (
    BENCHMARKS,
    open_benchmark,
    open_folder,
    read_classes_file,
    read_vocab,
)

DATASETS = (*BENCHMARKS, "folder", "shapes")


def open_dataset(name: str, root: str | Path | None, split: str = "val", **kwargs: Any) -> Any:
    """Opens dataset `name` (one of `DATASETS`) stored under `root`.

    Benchmarks use SED/CAT-Seg's layout below the datasets root; "folder" reads
    `root/images`, `root/labels`, `root/classes.txt` (kwargs: ignore_index); "shapes" builds the
    procedural shapes world (kwargs go to `ShapesDataset`).
    """
    if name == "shapes":
        from segmodel.datasets.shapes import ShapesDataset

        return ShapesDataset(root=root, split=split, **kwargs)
    if root is None:
        raise DatasetError(f"dataset {name!r} needs a data root; pass --data-root DIR")
    if name == "folder":
        return open_folder(Path(root), **kwargs)
    if name in BENCHMARKS:
        return open_benchmark(name, Path(root), split=split)
    raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


__all__ = [
    "DATASETS",
    "DatasetError",
    "LabelledFolder",
    "load_image",
    "load_label",
    "open_dataset",
    "read_classes_file",
    "read_vocab",
]
