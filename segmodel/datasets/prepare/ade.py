"""ADE-150: `ADEChallengeData2016/annotations/validation/*.png` (0 other, 1-150) -> value - 1 in
uint8 (0 wraps to 255), PNG in `annotations_detectron2/validation/`.

Reads the extracted folder, or `ADEChallengeData2016.zip` in the root; from the zip, the
validation images are extracted too (the layout needs them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segmodel.datasets.prepare.catalog import ADE150, download_hint
from segmodel.datasets.prepare.files import (
    check_size,
    label_array,
    read_input,
    save_atomic,
    write_bytes_atomic,
)
from segmodel.datasets.prepare.runner import Job, Task
from segmodel.datasets.prepare.sources import Archive, InputFile, find_inputs

TOP = "ADEChallengeData2016"
ARCHIVE = Archive(f"{TOP}.zip", f"{TOP}/annotations/validation/")


def jobs(root: Path) -> list[Job]:
    hint = download_hint("ade150", root)
    files, _ = find_inputs(root, f"{TOP}/annotations/validation", (ARCHIVE,), ".png", hint)
    out = root / TOP / "annotations_detectron2" / "validation"
    images = root / TOP / "images" / "validation"
    tasks = []
    for stem, item in files.items():
        if item.member is None:  # extracted: the images are already in place
            tasks.append(Task((out / f"{stem}.png",), (item, out / f"{stem}.png", images, None)))
        else:  # from the zip: extract the image beside converting the label
            image = InputFile(item.source, f"{TOP}/images/validation/{stem}.jpg")
            outputs = (out / f"{stem}.png", images / f"{stem}.jpg")
            tasks.append(Task(outputs, (item, out / f"{stem}.png", images, image)))
    return [Job("ADE-150 val", convert, tasks)]


def convert(
    item: InputFile, out: Path, images: Path, image: InputFile | None, *, force: bool = False
) -> int:
    """One ADE-150 annotation -> value - 1 (uint8 wrap); `image`: a zip member to extract too."""
    written = 0
    if image is not None:
        written += write_bytes_atomic(image, images / Path(image.name), ADE150.file, force=force)
    label = read_input(item, ADE150.file)
    raw = label_array(label, item.where, ("L", "P"), "8-bit ADE-150 ids")  # (H, W) uint8
    check_size(label.size, images / f"{out.stem}.jpg", item.where)
    return written + int(save_atomic(raw - np.uint8(1), out, "PNG", force=force))
