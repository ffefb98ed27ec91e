"""The bank format: names, the manifest schema, the bank id, and feature-shard writing.

A bank is a directory:
    manifest.json            the recipe, the bank id, the classes and every shard with its sha256
    images/NNNNN.tar         webdataset shards: one PNG + JSON (class, template, prompt, seed) per image
    features/NNNNN.h5        HDF5, one row per class: contiguous, uncompressed float16 datasets

`docs/bank-format.md` describes the format for tools that do not use dpseg. This module imports
numpy and h5py only (the reader and segmodel depend on it).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from promptbank.errors import BankError
from promptbank.safety import FIX, check_manifest

FORMAT_NAME = "dpseg-bank"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IMAGES_DIR = "images"
FEATURES_DIR = "features"
STRIDES = (4, 8, 16)  # trunk strides stored as pooled features
POOLED_DATASETS = ("text", "visual", "visual_s4", "visual_s8", "visual_s16")  # (C, T, D*)
MAP_DATASETS = ("maps_s4", "maps_s8", "maps_s16")  # optional (C, T, K, D_l, h, w) full maps
CLASSES_DATASET = "classes"  # (C,) UTF-8 names
DATASETS = (*POOLED_DATASETS, CLASSES_DATASET)
DTYPE = np.dtype("<f2")  # float16, little-endian, on disk
SHARD_DIGITS = 5  # shard ids are zero-padded: 00000, 00001, ...
SEED_POLICY = "first 4 bytes of sha256(f'{seed}|{class}|{template}|{k}') as a big-endian uint32"


def shard_name(index: int) -> str:
    return f"{index:0{SHARD_DIGITS}d}"


def canonical_json(obj) -> bytes:
    """Sorted-key, compact JSON: the bytes hashed for the bank id."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def bank_id(recipe: dict) -> str:
    """The recipe's hash (the recipe never holds classes): same id = classes are interchangeable."""
    return hashlib.sha256(canonical_json(recipe)).hexdigest()[:16]


def item_seed(seed: int, class_name: str, template: str, k: int) -> int:
    """The seed of one generated image, a pure function of (recipe seed, class, template, k)."""
    digest = hashlib.sha256(f"{seed}|{class_name}|{template}|{k}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fsync_dir(path: str | Path) -> None:
    """fsync a directory so a rename inside it survives a power loss (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish(tmp: Path, final: Path) -> None:
    """fsync `tmp`, rename it to `final`, fsync the directory: the file appears complete or not."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_json_atomic(path: str | Path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise


def write_feature_shard(
    path: str | Path, classes: list[str], arrays: dict[str, np.ndarray]
) -> dict:
    """Write one feature shard atomically and describe it.

    `arrays` maps dataset names (POOLED_DATASETS, optionally MAP_DATASETS) to arrays whose first
    axis is the class. Datasets are created contiguous, uncompressed, float16 and allocated early,
    written through `<path>.tmp`, fsynced and renamed. Returns {"sha256", "bytes", "datasets":
    {name: {"shape", "dtype", "offset"}}} for the manifest.
    """

    path = Path(path)
    missing = [n for n in POOLED_DATASETS if n not in arrays]
    if missing:
        raise BankError(f"feature shard {path.name}: missing datasets {missing}")
    for name, arr in arrays.items():
        if arr.shape[0] != len(classes):
            raise BankError(
                f"feature shard {path.name}: dataset {name} has {arr.shape[0]} rows "
                f"for {len(classes)} classes"
            )
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        _write_h5(tmp, classes, arrays)
        datasets = dataset_layout(tmp)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size, "datasets": datasets}


def _write_h5(tmp: Path, classes: list[str], arrays: dict[str, np.ndarray]) -> None:
    import h5py

    with h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        for name in sorted(arrays):
            data = np.ascontiguousarray(arrays[name], dtype=DTYPE)
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_layout(h5py.h5d.CONTIGUOUS)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            ds = f.create_dataset(name, shape=data.shape, dtype=DTYPE, dcpl=dcpl)
            ds[...] = data
        f.create_dataset(CLASSES_DATASET, data=list(classes), dtype=h5py.string_dtype("utf-8"))


def open_h5(path: str | Path):
    """Open an HDF5 file read-only without taking HDF5's file lock (reopens with the default
    flags if this process already holds the file open with them: HDF5 refuses mixed flags)."""
    import h5py

    try:
        return h5py.File(path, "r", locking=False)
    except OSError as e:
        if "locking flag" not in str(e):
            raise
        return h5py.File(path, "r")


def dataset_layout(path: str | Path) -> dict:
    """{name: {"shape", "dtype", "offset"}} of a feature file's numeric datasets (offset may be None)."""

    out = {}
    with open_h5(path) as f:
        for name, ds in f.items():
            if name == CLASSES_DATASET:
                continue
            off = ds.id.get_offset()
            out[name] = {
                "shape": list(ds.shape),
                "dtype": ds.dtype.str,
                "offset": None if off is None else int(off),
            }
    return out


def read_manifest(root: str | Path) -> dict:
    """Load and check a bank's manifest.json (BankError naming the problem otherwise)."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise BankError(f"bank {str(root)!r} does not exist; build one with `dpseg bank build`")
    if path.is_symlink():
        raise BankError(f"{path} is a symbolic link (it could point outside the bank); {FIX}")
    if not path.is_file():
        raise BankError(
            f"{root} has no {MANIFEST}: not a finished bank (rerun `dpseg bank build` to finish it)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise BankError(f"{path} is not valid JSON ({e}); rebuild the bank") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise BankError(f"{path} is not a dpseg bank manifest (no format {FORMAT_NAME!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BankError(
            f"{path}: bank format version {version}, this dpseg reads version {FORMAT_VERSION}; "
            "rebuild the bank or upgrade dpseg"
        )
    for key in ("bank_id", "recipe", "classes", "shards", "dims"):
        if key not in manifest:
            raise BankError(f"{path}: manifest has no {key!r} field; rebuild the bank")
    check_manifest(root, manifest, path)  # before any file the manifest names is opened
    return manifest
