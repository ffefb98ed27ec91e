"""Check a bank against its manifest: every shard's size, sha256, datasets, classes and samples."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from promptbank.errors import BankError
from promptbank.format import (
    CLASSES_DATASET,
    dataset_layout,
    open_h5,
    read_manifest,
    sha256_file,
)


@dataclass
class VerifyReport:
    """The outcome of `verify_bank`."""

    path: Path  # the bank
    shards: int = 0  # shards checked
    bytes: int = 0  # bytes hashed
    problems: list[str] = field(default_factory=list)  # one line per problem, naming the file

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bank(path: str | Path) -> VerifyReport:
    """Recheck every checksum, size and shape listed in the manifest (reads the whole bank)."""
    root = Path(path)
    manifest = read_manifest(root)
    report = VerifyReport(root)
    templates = len(manifest["recipe"]["templates"])
    by_shard: dict[str, list[str]] = {}
    for c in manifest["classes"]:
        by_shard.setdefault(c["shard"], []).append(c["name"])
    names = [c["name"] for c in manifest["classes"]]
    if len(set(names)) != len(names):
        report.problems.append("manifest.json: a class is listed twice")
    for shard in manifest["shards"]:
        report.shards += 1
        classes = by_shard.get(shard["id"], [])
        ok = _check_file(root, shard, "features", report)
        if ok:
            _check_features(root, shard, classes, templates, manifest["dims"], report)
        if _check_file(root, shard, "images", report):
            per_class = templates * manifest["recipe"]["images_per_template"]
            _check_images(root, shard, classes, per_class, report)
    return report


def _check_file(root: Path, shard: dict, kind: str, report: VerifyReport) -> bool:
    rel = shard[kind]
    path = root / rel
    if not path.is_file():
        report.problems.append(f"{rel}: missing")
        return False
    size = path.stat().st_size
    if size != shard[f"{kind}_bytes"]:
        report.problems.append(
            f"{rel}: {size} bytes, manifest says {shard[f'{kind}_bytes']} (truncated or replaced)"
        )
        return False
    report.bytes += size
    if sha256_file(path) != shard[f"{kind}_sha256"]:
        report.problems.append(f"{rel}: sha256 differs from the manifest (damaged)")
        return False
    return True


def _check_features(root, shard, classes, templates, dims, report) -> None:

    rel = shard["features"]
    try:
        layout = dataset_layout(root / rel)
        with open_h5(root / rel) as f:
            stored = [c.decode() if isinstance(c, bytes) else c for c in f[CLASSES_DATASET][()]]
    except (OSError, KeyError) as e:
        report.problems.append(f"{rel}: unreadable HDF5 ({e})")
        return
    if layout != shard["datasets"]:
        report.problems.append(f"{rel}: dataset shapes or offsets differ from the manifest")
    if stored != classes:
        report.problems.append(f"{rel}: its classes differ from the manifest's")
    for name, d in dims.items():
        want = [len(classes), templates, d]
        if name in layout and layout[name]["shape"] != want:
            report.problems.append(f"{rel}: {name} has shape {layout[name]['shape']}, want {want}")
        if name not in layout:
            report.problems.append(f"{rel}: dataset {name} is missing")
    for name, d in layout.items():
        if d["offset"] is None:
            report.problems.append(f"{rel}: dataset {name} is not contiguous (cannot be mapped)")
        n = math.prod(d["shape"])
        if n and d["dtype"] != "<f2":
            report.problems.append(f"{rel}: dataset {name} is {d['dtype']}, expected <f2")


def _check_images(root, shard, classes, per_class: int, report) -> None:
    from promptbank.shards import read_samples

    rel = shard["images"]
    try:
        samples = list(read_samples(root / rel))
    except BankError as e:
        report.problems.append(f"{rel}: {e}")
        return
    if len(samples) != shard["num_images"]:
        report.problems.append(f"{rel}: {len(samples)} images, manifest says {shard['num_images']}")
    counts: dict[str, int] = {}
    for s in samples:
        counts[s.meta.get("class")] = counts.get(s.meta.get("class"), 0) + 1
    strays = set(counts) - set(classes)
    if strays:
        report.problems.append(f"{rel}: images of classes not in this shard: {sorted(strays)[:3]}")
    short = [c for c in classes if counts.get(c, 0) != per_class]
    if short:
        report.problems.append(
            f"{rel}: class {short[0]!r} has {counts.get(short[0], 0)} images, expected {per_class}"
        )
