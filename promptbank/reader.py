"""Read a bank: memory-mapped features selected by class name (numpy + h5py only).

    bank = open_bank("banks/ade150")
    sel = bank.select(["wall", "sky"])      # BankSelection
    sel.text.shape                          # (2, T, D) float32

Every dataset is mapped with `numpy.memmap` at the file offset recorded in the manifest (the
datasets are contiguous and uncompressed). A dataset that cannot be mapped (no offset, e.g. a bank
rewritten by another tool with chunking) is read through h5py instead, with a warning. Mappings
are created lazily in the process that uses them and dropped when the Bank is pickled, so a Bank
can be handed to DataLoader workers (fork, spawn or forkserver) without copying its data.
"""

from __future__ import annotations

import difflib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptbank.errors import BankError
from promptbank.format import (
    FEATURES_DIR,
    MAP_DATASETS,
    POOLED_DATASETS,
    open_h5,
    read_manifest,
    sha256_file,
)


class BankReadWarning(UserWarning):
    """A dataset is read through h5py because it cannot be memory-mapped."""


@dataclass(frozen=True)
class BankSelection:
    """Features of a chosen list of classes, in the order asked for (float32)."""

    classes: list[str]  # class names as stored in the bank, in request order (C)
    text: np.ndarray  # (C, T, D) text embeddings, aliases averaged per template, L2-normalised
    visual: np.ndarray  # (C, T, D) pooled projected image embedding, mean over K
    visual_s4: np.ndarray  # (C, T, D4) global-average-pooled trunk map at stride 4, mean over K
    visual_s8: np.ndarray  # (C, T, D8) same at stride 8
    visual_s16: np.ndarray  # (C, T, D16) same at stride 16


_VERIFIED: set[tuple] = set()  # (path, inode, size, mtime, sha256) hashed in this process


class _ShardFile:
    """A feature file and its manifest sha256: hashed once per process before its first read,
    so a damaged or replaced shard is refused instead of being read as garbage."""

    def __init__(self, path: Path, sha256: str, root: Path):
        self.path, self.sha256, self.root = path, sha256, root

    def check(self) -> None:
        st = self.path.stat()
        key = (str(self.path), st.st_ino, st.st_size, st.st_mtime_ns, self.sha256)
        if key in _VERIFIED:
            return
        if sha256_file(self.path) != self.sha256:
            raise BankError(
                f"bank {self.root}: feature shard {self.path.name} does not match its sha256 in "
                "the manifest (damaged or replaced); run `dpseg bank verify` and rebuild the bank"
            )
        _VERIFIED.add(key)


class _Dataset:
    """One dataset of one shard file, mapped on first use in the current process."""

    def __init__(self, file: _ShardFile, name: str, shape: tuple, dtype: str, offset: int | None):
        self.file, self.path, self.name, self.shape = file, file.path, name, tuple(shape)
        self.dtype, self.offset = np.dtype(dtype), offset
        self._array: np.ndarray | None = None
        self._pid = -1

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_array"], state["_pid"] = None, -1  # never pickle the mapped data
        return state

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Rows `index` (any order, repeats allowed) as stored (float16; a view when consecutive)."""
        if self._pid != os.getpid():  # first use in this process: check the file, then map it
            self.file.check()
            self._array, self._pid = None, os.getpid()
        if self.offset is None:
            return self._h5_rows(index)
        if self._array is None:
            mapped = np.memmap(
                self.path, mode="r", dtype=self.dtype, offset=self.offset, shape=self.shape
            )
            self._array = mapped.view(np.ndarray)  # plain ndarray: no memmap subclass overhead
        first = int(index[0])
        if len(index) == 1 or np.array_equal(index, np.arange(first, first + len(index))):
            return self._array[first : first + len(index)]  # a view: the caller's cast is the copy
        return self._array[index]

    def _h5_rows(self, index: np.ndarray) -> np.ndarray:
        unique, inverse = np.unique(index, return_inverse=True)
        with open_h5(self.path) as f:
            data = f[self.name][unique]
        return data[inverse]


class Bank:
    """A finished bank opened for reading. Use `open_bank(path)` to create one."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        recipe = self.manifest["recipe"]
        self.bank_id: str = self.manifest["bank_id"]
        self.templates: list[str] = list(recipe["templates"])
        self.encoder: dict = dict(recipe["encoder"])
        self.generator: dict = dict(recipe["generator"])
        self.images_per_template: int = int(recipe["images_per_template"])
        self.dims: dict[str, int] = dict(self.manifest["dims"])
        entries = self.manifest["classes"]
        self.classes: list[str] = [c["name"] for c in entries]
        self.aliases: list[list[str]] = [list(c["aliases"]) for c in entries]
        self._shards = [self._open_shard(s) for s in self.manifest["shards"]]
        shard_pos = {s["id"]: i for i, s in enumerate(self.manifest["shards"])}
        self._where = np.array([(shard_pos[c["shard"]], c["row"]) for c in entries], dtype=np.int64)
        self._index = {name: i for i, name in enumerate(self.classes)}
        self._lower = {name.lower(): i for i, name in enumerate(self.classes)}

    def _open_shard(self, shard: dict) -> dict[str, _Dataset]:
        path = self.root / shard["features"]
        if not path.is_file():
            raise BankError(
                f"bank {self.root}: feature shard {shard['features']} is missing; "
                "run `dpseg bank verify` and rebuild the bank"
            )
        size = path.stat().st_size
        file = _ShardFile(path, shard["features_sha256"], self.root)
        out = {}
        for name, layout in shard["datasets"].items():
            shape, dtype, offset = layout["shape"], layout["dtype"], layout.get("offset")
            nbytes = math.prod(shape) * np.dtype(dtype).itemsize
            if offset is not None and offset + nbytes > size:
                raise BankError(
                    f"bank {self.root}: feature shard {shard['features']} is "
                    "truncated; run `dpseg bank verify` and rebuild the bank"
                )
            if offset is None:
                warnings.warn(
                    f"{path.name}/{name} cannot be memory-mapped; reading via h5py",
                    BankReadWarning,
                    stacklevel=3,
                )
            out[name] = _Dataset(file, name, shape, dtype, offset)
        return out

    def __len__(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"Bank({str(self.root)!r}, id={self.bank_id}, classes={len(self.classes)}, "
            f"templates={len(self.templates)}, encoder={self.encoder.get('name')!r})"
        )

    def has(self, name: str) -> bool:
        return name in self._index or name.lower() in self._lower

    def index(self, name: str) -> int:
        """Position of a class (exact name, else case-insensitive); BankError with close matches."""
        if name in self._index:
            return self._index[name]
        if name.lower() in self._lower:
            return self._lower[name.lower()]
        close = difflib.get_close_matches(name, self.classes, n=5, cutoff=0.6)
        hint = f"close matches: {', '.join(map(repr, close))}" if close else "no close matches"
        raise BankError(
            f"class {name!r} is not in bank {self.root} ({hint}); "
            f"`dpseg bank info {self.root}` lists its {len(self.classes)} classes"
        )

    def _groups(self, classes: list[str]) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(shard, positions in the request, rows in the shard) for each shard involved."""
        idx = np.array([self.index(c) for c in classes], dtype=np.int64)
        where = self._where[idx]  # (C, 2) shard, row
        if len(idx) == 1:
            return [(int(where[0, 0]), np.zeros(1, np.int64), where[:, 1])]
        groups = []
        for shard in np.unique(where[:, 0]):
            pos = np.nonzero(where[:, 0] == shard)[0]
            groups.append((int(shard), pos, where[pos, 1]))
        return groups

    def rows(self, dataset: str, classes: list[str], groups=None) -> np.ndarray:
        """One dataset's rows for `classes`, as float32 (C, ...)."""
        if dataset not in self._shards[0]:
            available = sorted(self._shards[0])
            raise BankError(
                f"bank {self.root} has no dataset {dataset!r} (has {available}); "
                "full stage maps are stored only when built with --stage-maps"
            )
        groups = self._groups(classes) if groups is None else groups
        first = self._shards[0][dataset].shape[1:]
        out = np.empty((len(classes), *first), dtype=np.float32)
        for shard, pos, rows in groups:
            out[pos] = self._shards[shard][dataset].rows(rows)
        return out

    def select(self, classes: list[str]) -> BankSelection:
        """Features of `classes` (request order). Unknown names raise BankError with close matches."""
        if isinstance(classes, str):
            classes = [classes]
        names = [self.classes[self.index(c)] for c in classes]
        groups = self._groups(names)
        arrays = {name: self.rows(name, names, groups) for name in POOLED_DATASETS}
        return BankSelection(classes=names, **arrays)

    def maps(self, classes: list[str], stride: int) -> np.ndarray:
        """Full trunk maps (C, T, K, D_l, h, w) at `stride`, if the bank was built with them."""
        name = f"maps_s{stride}"
        if name not in MAP_DATASETS:
            raise BankError(f"stride {stride}: expected one of 4, 8, 16")
        return self.rows(name, classes)

    @property
    def feature_dir(self) -> Path:
        return self.root / FEATURES_DIR


def open_bank(path: str | Path) -> Bank:
    """Open a finished bank directory for reading (cheap: reads manifest.json, maps lazily)."""
    return Bank(path)
