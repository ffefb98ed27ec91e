"""Gathering a vocabulary's prompts from a bank: memory map vs h5py fancy indexing vs in RAM.

A synthetic bank with real sizes (default: 847 classes x 80 templates, convnext_base_w dims:
D=640, stages 128/256/512, 3 classes per shard as the builder makes for 80 templates, about 295 MB
of float16) is written with the real writer. Then three ways fetch the same float32 arrays
(text, visual, visual_s4, visual_s8, visual_s16) for a class list:
  memmap  promptbank.reader: Bank.select (numpy.memmap at the dataset offsets)
  h5py    the same rows with h5py fancy indexing (files kept open, sorted rows per shard)
  ram     one float16 array per dataset already in RAM, fancy-indexed and cast to float32
Each is timed warm (the files were just written, so they are in the page cache), median of
--repeats. Figures: the whole vocabulary in label order, and random subsets of --subset classes
(what a training step asks for), and one class per call (a DataLoader item).

    .venv/bin/python bench/bank_read.py [--classes 847 --templates 80 --repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptbank.format import (  # noqa: E402
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    POOLED_DATASETS,
    shard_name,
    write_feature_shard,
)
from promptbank.reader import open_bank  # noqa: E402

DIMS = {"text": 640, "visual": 640, "visual_s4": 128, "visual_s8": 256, "visual_s16": 512}


def write_bank(root: Path, classes: int, templates: int, per_shard: int) -> dict[str, np.ndarray]:
    """A bank with random features; returns the full float16 arrays (the in-RAM reference)."""
    rng = np.random.default_rng(0)
    full = {
        n: rng.standard_normal((classes, templates, d)).astype(np.float16) for n, d in DIMS.items()
    }
    names = [f"class {i}" for i in range(classes)]
    (root / "features").mkdir(parents=True)
    shards, entries = [], []
    for s, start in enumerate(range(0, classes, per_shard)):
        rows = slice(start, min(start + per_shard, classes))
        rel = f"features/{shard_name(s)}.h5"
        info = write_feature_shard(root / rel, names[rows], {n: a[rows] for n, a in full.items()})
        shards.append(
            {
                "id": shard_name(s),
                "features": rel,
                "features_sha256": info["sha256"],
                "features_bytes": info["bytes"],
                "images": f"images/{shard_name(s)}.tar",
                "images_sha256": "",
                "images_bytes": 0,
                "num_classes": len(names[rows]),
                "num_images": 0,
                "datasets": info["datasets"],
            }
        )
        entries += [
            {"name": n, "aliases": [n], "shard": shard_name(s), "row": r}
            for r, n in enumerate(names[rows])
        ]
    recipe = {
        "generator": {"name": "synthetic"},
        "encoder": {"name": "synthetic"},
        "templates": [f"t{i} {{}}" for i in range(templates)],
        "images_per_template": 1,
        "seed": 0,
    }
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "bank_id": "synthetic",
        "recipe": recipe,
        "dims": DIMS,
        "num_images": 0,
        "classes": entries,
        "shards": shards,
    }
    (root / MANIFEST).write_text(json.dumps(manifest))
    return full


def gather_h5py(files, where: np.ndarray) -> dict[str, np.ndarray]:
    out = {n: np.empty((len(where), *f_shape), np.float32) for n, f_shape in _shapes(files)}
    for shard in np.unique(where[:, 0]):
        pos = np.nonzero(where[:, 0] == shard)[0]
        rows = where[pos, 1]
        order = np.argsort(rows)
        for n in POOLED_DATASETS:
            out[n][pos[order]] = files[shard][n][rows[order]]  # h5py needs increasing indices
    return out


def _shapes(files):
    return [(n, files[0][n].shape[1:]) for n in POOLED_DATASETS]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--classes", type=int, default=847)
    p.add_argument("--templates", type=int, default=80)
    p.add_argument("--per-shard", type=int, default=3)
    p.add_argument("--subset", type=int, default=171)
    p.add_argument("--one-at-a-time", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    import h5py

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bank"
        t = time.perf_counter()
        full = write_bank(root, args.classes, args.templates, args.per_shard)
        size = sum(f.stat().st_size for f in root.rglob("*.h5"))
        print(
            f"# wrote {args.classes} classes x {args.templates} templates, "
            f"{size / 2**20:.0f} MB in {len(list(root.rglob('*.h5')))} shards "
            f"({time.perf_counter() - t:.1f} s)"
        )
        bank = open_bank(root)
        files = [
            h5py.File(root / s["features"], "r", locking=False) for s in bank.manifest["shards"]
        ]
        loc = {c["name"]: (int(c["shard"]), c["row"]) for c in bank.manifest["classes"]}
        rng = np.random.default_rng(1)
        cases = {
            "whole vocabulary": bank.classes,
            f"random {args.subset} classes": list(
                rng.choice(bank.classes, min(args.subset, len(bank.classes)), replace=False)
            ),
        }
        for label, names in cases.items():
            where = np.array([loc[n] for n in names])
            index = np.array([bank.classes.index(n) for n in names])
            ref = {n: full[n][index].astype(np.float32) for n in POOLED_DATASETS}
            sel = bank.select(names)
            got = gather_h5py(files, where)
            for n in POOLED_DATASETS:  # all three give the same arrays
                np.testing.assert_array_equal(getattr(sel, n), ref[n])
                np.testing.assert_array_equal(got[n], ref[n])
            t_mm = median_time(lambda names=names: bank.select(names), args.repeats)
            t_h5 = median_time(lambda where=where: gather_h5py(files, where), args.repeats)
            t_ram = median_time(
                lambda index=index: {n: full[n][index].astype(np.float32) for n in POOLED_DATASETS},
                args.repeats,
            )
            mb = sum(r.nbytes for r in ref.values()) / 2**20
            print(
                f"bank read, {label} ({len(names)} x {args.templates}, {mb:.0f} MB float32): "
                f"memmap/ram = {t_mm / t_ram:.2f} (memmap {t_mm * 1e3:.1f} ms, ram "
                f"{t_ram * 1e3:.1f} ms)"
            )
            print(
                f"bank read, {label}: h5py/memmap = {t_h5 / t_mm:.1f} (h5py {t_h5 * 1e3:.1f} ms, "
                f"memmap {t_mm * 1e3:.1f} ms)"
            )
        one = list(
            rng.choice(bank.classes, min(args.one_at_a_time, len(bank.classes)), replace=False)
        )
        t_mm = median_time(lambda: [bank.select([n]) for n in one], args.repeats)
        t_h5 = median_time(
            lambda: [gather_h5py(files, np.array([loc[n]])) for n in one], args.repeats
        )
        t_ram = median_time(
            lambda: [
                {d: full[d][[bank.classes.index(n)]].astype(np.float32) for d in POOLED_DATASETS}
                for n in one
            ],
            args.repeats,
        )
        label = f"one class at a time ({len(one)} calls of 1 x {args.templates})"
        print(
            f"bank read, {label}: memmap/ram = {t_mm / t_ram:.2f} (memmap {t_mm * 1e3:.1f} ms, "
            f"ram {t_ram * 1e3:.1f} ms)"
        )
        print(
            f"bank read, {label}: h5py/memmap = {t_h5 / t_mm:.1f} (h5py {t_h5 * 1e3:.1f} ms, "
            f"memmap {t_mm * 1e3:.1f} ms)"
        )
        # The access path alone: a float16 copy of the stored rows of one class, no float32 cast.
        shards = bank._shards  # the reader's per-shard datasets (private; a benchmark may look)
        t_mm = median_time(
            lambda: [
                [
                    np.array(shards[loc[n][0]][d].rows(np.array([loc[n][1]])))
                    for d in POOLED_DATASETS
                ]
                for n in one
            ],
            args.repeats,
        )
        t_h5 = median_time(
            lambda: [
                [files[loc[n][0]][d][loc[n][1] : loc[n][1] + 1] for d in POOLED_DATASETS]
                for n in one
            ],
            args.repeats,
        )
        print(
            f"bank read, stored float16 rows only ({len(one)} classes, one call each): "
            f"h5py/memmap = {t_h5 / t_mm:.1f} (h5py {t_h5 * 1e3:.1f} ms, "
            f"memmap {t_mm * 1e3:.1f} ms)"
        )
        for f in files:
            f.close()


if __name__ == "__main__":
    main()
