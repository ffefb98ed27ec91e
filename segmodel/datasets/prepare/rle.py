"""COCO run-length encoding (the masks of the Detail API's JSON), decoded in numpy.

A mask of size (h, w) is a list of run lengths over its pixels in column-major order, starting with
a run of zeros. The compressed form writes each run as 5-bit groups in characters offset by 48,
least significant group first; bit 0x20 says another group follows and bit 0x10 of the last group
is the sign; from the third run on, a run is stored as its difference to the run two before.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class RleError(ValueError):
    """An RLE object that is not COCO's format."""


def decode_rle(rle: Any) -> np.ndarray:
    """`{"size": [h, w], "counts": str | list[int]}` -> uint8 (h, w) mask of 0 and 1."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise RleError("expected a COCO RLE object with 'size' and 'counts'")
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        runs = parse_counts(counts.decode("ascii") if isinstance(counts, bytes) else counts)
    elif isinstance(counts, list):
        runs = [int(v) for v in counts]
    else:
        raise RleError(f"'counts' is a {type(counts).__name__}, expected a string or a list")
    if any(run < 0 for run in runs) or sum(runs) != height * width:
        raise RleError(f"run lengths add up to {sum(runs)}, not the {height}x{width} pixels")
    values = np.arange(len(runs), dtype=np.uint8) % 2  # 0, 1, 0, 1, ...
    flat = np.repeat(values, runs)  # (h * w,) column-major
    return flat.reshape((width, height)).T


def parse_counts(text: str) -> list[int]:
    """The run lengths of a compressed counts string."""
    runs: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(text):
                raise RleError("the counts string ends inside a number")
            group = ord(text[pos]) - 48
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            pos += 1
            shift += 5
            if not more and group & 0x10:
                value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs
