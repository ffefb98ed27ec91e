"""The id tables shipped in `segmodel/data/benchmarks/` (provenance in its README.md), as lookups.

Each lookup is a numpy array indexed by the raw id, holding the train id or the benchmark's ignore
value for ids the table does not list.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

import numpy as np


def read_table(filename: str) -> dict[int, int]:
    """raw id -> train id from one of the shipped TSV tables (first two columns)."""
    text = resources.files("segmodel").joinpath("data", "benchmarks", filename).read_text("utf-8")
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))[1:]
    return {int(row[0]): int(row[1]) for row in rows if row}


def lookup(filename: str, size: int, ignore: int, dtype: type) -> np.ndarray:
    """(size,) array: lookup[raw id] = train id; ids the table does not list -> `ignore`."""
    table = np.full(size, ignore, dtype=dtype)
    for raw, train in read_table(filename).items():
        table[raw] = train
    return table


@cache
def coco_stuff() -> np.ndarray:
    """(256,) uint8: COCO-Stuff raw id (stuffthingmaps PNG value) -> 171-class train id or 255."""
    return lookup("coco_stuff_ids.tsv", 256, 255, np.uint8)


@cache
def ade847() -> np.ndarray:
    """(65536,) uint16: ADE20K full-dataset object id -> 847-class train id or 65535."""
    return lookup("ade847_ids.tsv", 65536, 65535, np.uint16)


@cache
def pc59() -> dict[int, int]:
    """PASCAL Context id -> 59-class train id (0, the background, -> 255; unlisted -> 255)."""
    return read_table("pc59_ids.tsv")
