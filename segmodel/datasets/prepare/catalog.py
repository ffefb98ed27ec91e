"""What each benchmark needs downloaded, where it goes under the datasets root, and its command.

Facts from the datasets' own pages and SED/CAT-Seg's `datasets/README.md`; sizes as the hosts state
them (approximate). `dpseg data list` and every "not prepared" error read this table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Download:
    file: str  # the file to fetch, as the host names it
    url: str  # where to fetch it (some hosts ask for a registration first)
    size: str  # approximate size as the host states it, "" when it states none
    extract_to: str  # folder below the datasets root to extract (or put) it into
    gives: str  # what appears there after extraction, relative to the datasets root


COCO_IMAGES = Download(
    "train2017.zip, val2017.zip",
    "http://images.cocodataset.org/zips/",
    "18 GB + 1 GB",
    "coco-stuff/images",
    "coco-stuff/images/{train2017,val2017}/*.jpg",
)
COCO_LABELS = Download(
    "stuffthingmaps_trainval2017.zip",
    "http://calvin.inf.ed.ac.uk/wp-content/uploads/data/cocostuffdataset/"
    "stuffthingmaps_trainval2017.zip",
    "659 MB",
    "coco-stuff/annotations",
    "coco-stuff/annotations/{train2017,val2017}/*.png (or keep the zip in coco-stuff/)",
)
ADE150 = Download(
    "ADEChallengeData2016.zip",
    "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",
    "923 MB",
    ".",
    "ADEChallengeData2016/{images,annotations}/validation (or keep the zip in the root)",
)
ADE_FULL = Download(
    "ADE20K_2021_17_01.zip",
    "https://groups.csail.mit.edu/vision/datasets/ADE20K/ (registration)",
    "",
    ".",
    "ADE20K_2021_17_01/index_ade20k.pkl and ADE20K_2021_17_01/images/ADE/validation/",
)
VOC2010 = Download(
    "VOCtrainval_03-May-2010.tar",
    "http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar",
    "1.3 GB",
    ".",
    "VOCdevkit/VOC2010/JPEGImages",
)
PC59_JSON = Download(
    "trainval_merged.json",
    "https://codalabuser.blob.core.windows.net/public/trainval_merged.json",
    "",
    "VOCdevkit/VOC2010",
    "VOCdevkit/VOC2010/trainval_merged.json (the Detail API's annotations)",
)
PC459_MAT = Download(
    "trainval.tar.gz",
    "https://www.cs.stanford.edu/~roozbeh/pascal-context/trainval.tar.gz",
    "",
    "VOCdevkit/VOC2010",
    "VOCdevkit/VOC2010/trainval/*.mat",
)
VOC2012 = Download(
    "VOCtrainval_11-May-2012.tar",
    "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    "1.9 GB",
    ".",
    "VOCdevkit/VOC2012/{JPEGImages,ImageSets}",
)
VOC_AUG = Download(
    "SegmentationClassAug.zip",
    "https://www.dropbox.com/s/oeu149j8qtbs1x0/SegmentationClassAug.zip (SBD-augmented, DeepLab)",
    "",
    "VOCdevkit/VOC2012",
    "VOCdevkit/VOC2012/SegmentationClassAug/*.png (or keep the zip there)",
)

# `dpseg data prepare NAME` -> the downloads it reads
DOWNLOADS: dict[str, tuple[Download, ...]] = {
    "coco-stuff171": (COCO_LABELS, COCO_IMAGES),
    "ade150": (ADE150,),
    "ade847": (ADE_FULL,),
    "pc59": (PC59_JSON, VOC2010),
    "pc459": (PC459_MAT, VOC2010),
    "voc20": (VOC_AUG, VOC2012),
}
TARGETS = tuple(DOWNLOADS)

# benchmark name of `open_dataset` -> the `dpseg data prepare` name that writes it
PREPARED_BY = {**{name: name for name in TARGETS}, "voc20b": "voc20"}

# image-label pairs in the official validation (and COCO-Stuff train) sets
OFFICIAL_PAIRS = {
    ("coco-stuff171", "train"): 118287,
    ("coco-stuff171", "val"): 5000,
    ("ade150", "val"): 2000,
    ("ade847", "val"): 2000,
    ("pc59", "val"): 5105,
    ("pc459", "val"): 5104,
    ("voc20", "val"): 1449,
    ("voc20b", "val"): 1449,
}


def default_root() -> Path:
    """The peers' convention: `$DETECTRON2_DATASETS`, else `./datasets`."""
    return Path(os.environ.get("DETECTRON2_DATASETS") or "datasets")


def download_hint(target: str, root: Path) -> str:
    """One sentence: what to download for `target`, where to extract it, the command to run."""
    parts = [
        f"{d.file} ({d.url}) into {root if d.extract_to == '.' else root / d.extract_to}"
        for d in DOWNLOADS[target]
    ]
    return f"download and extract {'; '.join(parts)}; then run: dpseg data prepare {target} " + (
        f"--root {root}"
    )
