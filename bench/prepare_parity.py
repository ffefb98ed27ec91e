"""`dpseg data prepare` against the peers' own scripts, on the same miniature downloads.

Writes one miniature official download per benchmark (tests/datasets_prepare/miniature.py, larger
images than the tests use), copies it to two roots, runs SED's `datasets/prepare_*.py` on one
(DETECTRON2_DATASETS) and `dpseg data prepare all` on the other, and compares every file the peers
wrote: same paths, same PIL mode, same values. Prints one line per benchmark and exits 1 on any
difference. Needs a SED (or CAT-Seg) checkout and a Python with what its scripts import (numpy<2
or not: `np.str` is patched for prepare_voc.py; opencv-python-headless, scipy, pycocotools, tqdm):

    python bench/prepare_parity.py --peer ~/src/SED --peer-python ~/venvs/sed/bin/python
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.datasets_prepare import miniature  # noqa: E402

# peer script -> the output folders (below the root) to compare
SCRIPTS = {
    "prepare_coco_stuff.py": ["coco-stuff/annotations_detectron2"],
    "prepare_ade20k_150.py": ["ADEChallengeData2016/annotations_detectron2"],
    "prepare_ade20k_full.py": [
        "ADE20K_2021_17_01/annotations_detectron2",
        "ADE20K_2021_17_01/images_detectron2",
    ],
    "prepare_pascal_context_59.py": ["VOCdevkit/VOC2010/annotations_detectron2/pc59_val"],
    "prepare_pascal_context_459.py": ["VOCdevkit/VOC2010/annotations_detectron2/pc459_val"],
    "prepare_voc.py": [
        "VOCdevkit/VOC2012/annotations_detectron2",
        "VOCdevkit/VOC2012/annotations_detectron2_bg",
    ],
}
# runs a peer script as __main__ after giving numpy back `np.str` (removed in numpy 1.24)
RUNNER = (
    "import runpy, sys, numpy; numpy.str = str; runpy.run_path(sys.argv[1], run_name='__main__')"
)


def build(root: Path) -> None:
    miniature.coco_stuff(root, per_split=4, size=(427, 640))
    miniature.ade150(root, count=4, size=(512, 683))
    sizes = ((1024, 1536), (683, 1024), (513, 700), (300, 400), (2000, 1500), (640, 641))
    miniature.ade_full(root, sizes=sizes)
    miniature.pascal_context(root, size=(375, 500))
    labels = "\n".join(f"{i}: class{i}" for i in range(1, 460))
    (root / "VOCdevkit/VOC2010/labels.txt").write_text(labels + "\n")  # prepare_*_459 opens it
    miniature.voc(root, size=(375, 500))


def compare(peer: Path, ours: Path, folder: str) -> tuple[int, list[str], int]:
    """(files compared, differences, largest JPEG grey-level difference)."""
    compared, diffs, jpeg_max = 0, [], 0
    for path in sorted((peer / folder).rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(peer)
        mine = ours / rel
        if not mine.is_file():
            diffs.append(f"{rel}: dpseg did not write it")
            continue
        with Image.open(path) as a, Image.open(mine) as b:
            x, y = np.asarray(a), np.asarray(b)
            if a.mode != b.mode or x.dtype != y.dtype or x.shape != y.shape:
                diffs.append(f"{rel}: {a.mode} {x.dtype} {x.shape} vs {b.mode} {y.dtype} {y.shape}")
            elif path.suffix == ".jpg":
                jpeg_max = max(jpeg_max, int(np.abs(x.astype(int) - y.astype(int)).max()))
            elif not np.array_equal(x, y):
                diffs.append(f"{rel}: {int((x != y).sum())} pixels differ")
        compared += 1
    for path in sorted((ours / folder).rglob("*")):
        if path.is_file() and not (peer / path.relative_to(ours)).exists():
            diffs.append(f"{path.relative_to(ours)}: only dpseg wrote it")
    return compared, diffs, jpeg_max


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", type=Path, required=True, help="SED or CAT-Seg checkout")
    parser.add_argument("--peer-python", default=sys.executable, help="Python for its scripts")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dpseg-parity-"))
    try:
        build(work / "source")
        shutil.copytree(work / "source", work / "peer")
        shutil.copytree(work / "source", work / "dpseg")
        env = {**os.environ, "DETECTRON2_DATASETS": str(work / "peer")}
        for script in SCRIPTS:
            path = args.peer / "datasets" / script
            run = subprocess.run(
                [args.peer_python, "-c", RUNNER, str(path)],
                env=env, cwd=work, capture_output=True, text=True,
            )  # fmt: skip
            if run.returncode != 0:
                print(f"{script} failed:\n{run.stderr[-2000:]}")
                return 1
        dpseg = [sys.executable, "-m", "cli", "data", "prepare", "all", "-q"]
        subprocess.run([*dpseg, "--root", str(work / "dpseg")], check=True)
        failed = False
        for script, folders in SCRIPTS.items():
            for folder in folders:
                count, diffs, jpeg_max = compare(work / "peer", work / "dpseg", folder)
                if diffs or not count or jpeg_max > 2:  # the issue allows JPEGs a grey level or two
                    verdict, failed = "DIFFERENT", True
                else:
                    verdict = f"within {jpeg_max} grey levels" if jpeg_max else "identical"
                extra = (
                    f" (JPEG: largest grey-level difference {jpeg_max})"
                    if "images" in folder
                    else ""
                )
                print(f"{script} -> {folder}: {count} files, {verdict}{extra}")
                for line in diffs[:5]:
                    print(f"  {line}")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
