"""A bank store: a directory of banks whose classes can be shared between builds.

`dpseg bank build VOCAB --out store/new --store store` reuses every class already built, in any
bank of the store, with the same recipe id (same generator, encoder, templates, K, seed, sizes):
its images and visual features are copied instead of being generated again. A class is the same
if its name and its generation name (first alias) are the same; text embeddings are always
recomputed from the new vocabulary's aliases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptbank.errors import BankError
from promptbank.format import MANIFEST, open_h5, read_manifest

MAX_DEPTH = 3  # how deep below the store root banks are searched for


@dataclass(frozen=True)
class StoredClass:
    """Where a reusable class lives."""

    bank: Path  # bank directory
    shard: dict  # the manifest's shard entry
    row: int  # row of the class in that shard


def find_banks(store: str | Path) -> Iterator[Path]:
    """Directories below `store` (itself included) that hold a manifest.json, sorted."""
    root = Path(store)
    if not root.is_dir():
        raise BankError(f"--store {store} is not a directory; create it or give an existing one")
    found = []
    base_depth = len(root.resolve().parts)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).resolve().parts) - base_depth
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if MANIFEST in filenames:
            found.append(Path(dirpath))
            dirnames[:] = []
        elif depth >= MAX_DEPTH:
            dirnames[:] = []
    return iter(sorted(found))


class StoreIndex:
    """Classes available for reuse from the store's banks with a given bank id."""

    def __init__(self, store: str | Path | None, bank_id: str, exclude: str | Path | None = None):
        self.entries: dict[tuple[str, str], StoredClass] = {}
        self.banks: list[Path] = []
        if store is None:
            return
        skip = Path(exclude).resolve() if exclude is not None else None
        for bank in find_banks(store):
            if skip is not None and bank.resolve() == skip:
                continue
            try:
                manifest = read_manifest(bank)
            except BankError:
                continue  # unfinished or foreign banks are simply not reusable
            if manifest["bank_id"] != bank_id:
                continue
            self.banks.append(bank)
            shards = {s["id"]: s for s in manifest["shards"]}
            for c in manifest["classes"]:
                key = (c["name"], c["aliases"][0])
                self.entries.setdefault(key, StoredClass(bank, shards[c["shard"]], c["row"]))

    def find(self, name: str, generation_name: str) -> StoredClass | None:
        return self.entries.get((name, generation_name))

    def __len__(self) -> int:
        return len(self.entries)


def stored_rows(entry: StoredClass, datasets: list[str]) -> dict[str, np.ndarray]:
    """The stored feature rows (float16, as on disk) of one class."""

    path = entry.bank / entry.shard["features"]
    out = {}
    with open_h5(path) as f:
        for name in datasets:
            if name not in f:
                raise BankError(f"store bank {entry.bank} lacks dataset {name}; rebuild it")
            out[name] = f[name][entry.row]
    return out


def stored_samples(entry: StoredClass, class_name: str) -> list:
    """The ImageSamples of one class from its bank's image shard, in stored order."""
    from promptbank.shards import read_samples

    path = entry.bank / entry.shard["images"]
    return [s for s in read_samples(path) if s.meta.get("class") == class_name]
