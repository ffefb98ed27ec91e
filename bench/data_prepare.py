"""`dpseg data prepare coco-stuff171` throughput in images/s, measured side by side in one run.

Synthetic stuffthingmaps-sized labels (640x480 uint8 PNG, a dozen filled shapes of COCO-Stuff raw
ids each, so PNG decoding and encoding cost what they cost on the real set), converted:
1. by dpseg with all cores vs one worker;
2. with --peer (a SED or CAT-Seg checkout) and --peer-python: by the peer's
   `datasets/prepare_coco_stuff.py` (one process, as it runs) vs dpseg with all cores.

Usage: .venv/bin/python bench/data_prepare.py [--images 400] [--peer DIR --peer-python PY]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from segmodel.datasets.prepare import prepare
from segmodel.datasets.prepare.runner import default_workers


def write_labels(root: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    raw_ids = [*range(0, 182), 255]
    for split in ("train2017", "val2017"):
        folder = root / "coco-stuff/annotations" / split
        folder.mkdir(parents=True)
        for i in range(count if split == "val2017" else 1):
            label = Image.new("L", (640, 480), int(rng.choice(raw_ids)))
            draw = ImageDraw.Draw(label)
            for _ in range(12):
                x, y = rng.integers(0, 640), rng.integers(0, 480)
                w, h = rng.integers(20, 300, size=2)
                shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
                shape((x, y, x + w, y + h), fill=int(rng.choice(raw_ids)))
            label.save(folder / f"{i:012d}.png")


def time_dpseg(root: Path, workers: int) -> float:
    shutil.rmtree(root / "coco-stuff/annotations_detectron2", ignore_errors=True)
    start = time.perf_counter()
    prepare("coco-stuff171", root, workers=workers, progress=False)
    return time.perf_counter() - start


def time_peer(root: Path, peer: Path, python: str) -> float:
    shutil.rmtree(root / "coco-stuff/annotations_detectron2", ignore_errors=True)
    env = {**os.environ, "DETECTRON2_DATASETS": str(root)}
    start = time.perf_counter()
    subprocess.run(
        [python, str(peer / "datasets/prepare_coco_stuff.py")],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400, help="val2017 labels to convert")
    parser.add_argument("--peer", type=Path, help="SED or CAT-Seg checkout (optional)")
    parser.add_argument("--peer-python", default=sys.executable, help="Python for its script")
    args = parser.parse_args()
    cores = default_workers()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_labels(root, args.images)
        n = args.images + 1
        one = n / time_dpseg(root, 1)
        many = n / time_dpseg(root, cores)
        print(
            f"dpseg data prepare coco-stuff171, {cores} workers vs 1: {many / one:.2f}x "
            f"({many:.1f} vs {one:.1f} images/s, {n} 640x480 labels)"
        )
        if args.peer:
            peer = n / time_peer(root, args.peer, args.peer_python)
            print(
                f"dpseg ({cores} workers) vs {args.peer.name} prepare_coco_stuff.py: "
                f"{many / peer:.2f}x ({many:.1f} vs {peer:.1f} images/s, {n} 640x480 labels)"
            )


if __name__ == "__main__":
    main()
