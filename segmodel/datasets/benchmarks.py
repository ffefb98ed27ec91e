"""The standard benchmarks in the on-disk layouts SED and CAT-Seg prepare, plus a generic folder.

Paths are relative to one datasets root (SED's `$DETECTRON2_DATASETS`). The label encodings are
those written by `dpseg data prepare` (the same files as SED/CAT-Seg's `datasets/prepare_*.py`);
see docs/datasets.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from segmodel.datasets.base import LABEL_EXTS, DatasetError, LabelledFolder
from segmodel.metrics import background_remap


@dataclass(frozen=True)
class BenchmarkLayout:
    title: str  # human name used in messages
    image_dir: str  # image folder relative to the datasets root
    label_dir: str  # label folder relative to the datasets root
    label_ext: str  # extension of the label files (".png" or ".tif")
    ignore_index: int  # label value that is not evaluated
    vocab: str  # class-name file in promptbank/data/vocab/sed/
    prepare: str  # the `dpseg data prepare` name that writes the folders


LAYOUTS: dict[tuple[str, str], BenchmarkLayout] = {
    ("coco-stuff171", "train"): BenchmarkLayout(
        "COCO-Stuff-171 train",
        "coco-stuff/images/train2017",
        "coco-stuff/annotations_detectron2/train2017",
        ".png",
        255,
        "coco.json",
        "coco-stuff171",
    ),
    ("coco-stuff171", "val"): BenchmarkLayout(
        "COCO-Stuff-171 val",
        "coco-stuff/images/val2017",
        "coco-stuff/annotations_detectron2/val2017",
        ".png",
        255,
        "coco.json",
        "coco-stuff171",
    ),
    ("ade150", "val"): BenchmarkLayout(
        "ADE-150",
        "ADEChallengeData2016/images/validation",
        "ADEChallengeData2016/annotations_detectron2/validation",
        ".png",
        255,
        "ade150.json",
        "ade150",
    ),
    ("ade847", "val"): BenchmarkLayout(
        "ADE-847",
        "ADE20K_2021_17_01/images_detectron2/validation",
        "ADE20K_2021_17_01/annotations_detectron2/validation",
        ".tif",
        65535,
        "ade847.json",
        "ade847",
    ),
    ("pc59", "val"): BenchmarkLayout(
        "PC-59",
        "VOCdevkit/VOC2010/JPEGImages",
        "VOCdevkit/VOC2010/annotations_detectron2/pc59_val",
        ".png",
        255,
        "pc59.json",
        "pc59",
    ),
    ("pc459", "val"): BenchmarkLayout(
        "PC-459",
        "VOCdevkit/VOC2010/JPEGImages",
        "VOCdevkit/VOC2010/annotations_detectron2/pc459_val",
        ".tif",
        459,
        "pc459.json",
        "pc459",
    ),
    ("voc20", "val"): BenchmarkLayout(
        "VOC-20",
        "VOCdevkit/VOC2012/JPEGImages",
        "VOCdevkit/VOC2012/annotations_detectron2/val",
        ".png",
        255,
        "voc20.json",
        "voc20",
    ),
    ("voc20b", "val"): BenchmarkLayout(
        "VOC-20b",
        "VOCdevkit/VOC2012/JPEGImages",
        "VOCdevkit/VOC2012/annotations_detectron2_bg/val",
        ".png",
        255,
        "voc20b.json",
        "voc20",
    ),
}

BENCHMARKS = tuple(sorted({name for name, _ in LAYOUTS}))
VOC20B_BACKGROUND = 20  # GT label of "background" in VOC-20b; predictions >= 20 map to it


def read_vocab(filename: str) -> list[str]:
    """Class names shipped in promptbank/data/vocab/sed/<filename> (a JSON list, label order)."""
    folder = resources.files("promptbank").joinpath("data", "vocab", "sed")
    try:
        names = json.loads(folder.joinpath(filename).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        shipped = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))
        raise DatasetError(
            f"no class-name file or shipped vocabulary {filename.removesuffix('.json')!r}; "
            f"shipped: {', '.join(shipped)}"
        ) from err
    return [str(n) for n in names]


def open_benchmark(name: str, root: Path, split: str = "val") -> LabelledFolder:
    """One of `BENCHMARKS` under the datasets `root`, in SED/CAT-Seg's prepared layout."""
    layout = LAYOUTS.get((name, split))
    if layout is None:
        splits = sorted(s for n, s in LAYOUTS if n == name)
        raise DatasetError(f"dataset {name!r} has no split {split!r}; available: {splits}")
    root = Path(root)
    classes = read_vocab(layout.vocab)
    hint = (
        f"Prepare it: dpseg data prepare {layout.prepare} --root {root} "
        f"(`dpseg data list --root {root}` says what to download and where to extract it)."
    )
    extra = {}
    if name == "voc20b":
        # 59 query names, 21 evaluated classes: the 20 VOC classes and background
        extra = dict(
            num_eval_classes=VOC20B_BACKGROUND + 1,
            pred_remap=background_remap(len(classes), VOC20B_BACKGROUND),
            eval_class_names=classes[:VOC20B_BACKGROUND] + ["background"],
        )
    return LabelledFolder(
        root / layout.image_dir,
        root / layout.label_dir,
        classes,
        ignore_index=layout.ignore_index,
        name=name,
        label_exts=(layout.label_ext,),
        hint=hint,
        **extra,
    )


def read_classes_file(path: Path) -> list[str]:
    """Class names from a text file (one per line, label order) or a JSON list."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"class-name file not found: expected {path} (one name per line)")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            names = json.loads(text)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path} is not valid JSON: {err.msg} at line {err.lineno}") from err
        if not isinstance(names, list):
            raise DatasetError(f"{path} must hold a JSON list of class names")
        names = [str(n) for n in names]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise DatasetError(f"{path} lists no class names; write one name per line")
    return names


def open_folder(root: Path, ignore_index: int = 255) -> LabelledFolder:
    """Generic layout: `root/images/`, `root/labels/` (PNG/TIFF) and `root/classes.txt`."""
    root = Path(root)
    hint = f"A folder dataset needs {root}/images, {root}/labels and {root}/classes.txt."
    if not root.is_dir():
        raise DatasetError(f"folder dataset not found: expected the directory {root}. {hint}")
    classes_file = root / "classes.txt"
    if not classes_file.is_file():
        raise DatasetError(f"folder dataset: class list not found, expected {classes_file}. {hint}")
    return LabelledFolder(
        root / "images",
        root / "labels",
        read_classes_file(classes_file),
        ignore_index=ignore_index,
        name="folder",
        label_exts=LABEL_EXTS,
        hint=hint,
    )
