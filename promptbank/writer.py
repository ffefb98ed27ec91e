"""The writing stage: image and feature shards, done markers, and the final manifest.

`ShardWriter` runs in a background thread (PNG encoding, tar writing, HDF5 writing, fsync), so
the generator and encoder keep computing while the previous shard is written. `BuildDir` is the
bank directory under construction: its plan, its markers and its finalisation.

Layout of a bank being built (a `.build/` directory beside the published files):
    .build/plan.json         the plan every process and every resumed run must agree with
    .build/locks             byte-range locks, one byte per shard (see promptbank.lock)
    .build/done/NNNNN.json   written last for a shard: its files' sha256, sizes, dataset layout
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from promptbank import __version__
from promptbank.errors import BankError
from promptbank.format import (
    FEATURES_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    IMAGES_DIR,
    MANIFEST,
    POOLED_DATASETS,
    publish,
    read_manifest,
    sha256_file,
    shard_name,
    write_feature_shard,
    write_json_atomic,
)
from promptbank.safety import CHECKSUM_KEY, check_marker, manifest_checksum
from promptbank.shards import ImageSample, ImageShardWriter, encode_png, read_samples

OURS = {".build", IMAGES_DIR, FEATURES_DIR, MANIFEST}  # what a bank directory may hold
MAX_PENDING = 8  # queued writer tasks (about a class of images each) before the producer waits


class BuildDir:
    """A bank directory being built for one plan."""

    def __init__(self, root: str | Path, state: dict):
        self.root = Path(root)
        self.state = state  # plan.state(): bank_id, classes, shards
        self.build = self.root / ".build"
        self.done_dir = self.build / "done"
        self.lock_path = self.build / "locks"

    def prepare(self) -> None:
        """Create the layout, or check that the directory holds this very plan."""
        self.prepare_check()
        for sub in (self.root / IMAGES_DIR, self.root / FEATURES_DIR, self.done_dir):
            sub.mkdir(parents=True, exist_ok=True)
        plan_file = self.build / "plan.json"
        for stale in self.build.glob(".plan.json.*.tmp"):  # a build killed while writing it
            if not _alive(stale.name.split(".")[-2]):
                stale.unlink(missing_ok=True)
        if not plan_file.is_file():
            write_json_atomic(plan_file, self.state)

    def prepare_check(self) -> None:
        """BankError if the directory holds another bank, another plan, or foreign files."""
        if self.root.exists() and not self.root.is_dir():
            raise BankError(f"--out {self.root} is a file; give a directory")
        manifest = self.root / MANIFEST
        if manifest.is_file():
            existing = read_manifest(self.root)
            self._check_same(existing["bank_id"], [c["name"] for c in existing["classes"]])
        plan_file = self.build / "plan.json"
        if plan_file.is_file():
            existing = json.loads(plan_file.read_text(encoding="utf-8"))
            self._check_same(existing["bank_id"], [c["name"] for c in existing["classes"]])
            if existing["shards"] != self.state["shards"]:
                raise BankError(
                    f"{self.root} is being built with other shard sizes; rerun with the same "
                    "--classes-per-shard, or use another --out"
                )
        elif self.root.is_dir() and any(p.name not in OURS for p in self.root.iterdir()):
            if not manifest.is_file():
                raise BankError(
                    f"--out {self.root} is not empty and holds no bank; give a new or empty directory"
                )

    def _check_same(self, other_id: str, other_classes: list[str]) -> None:
        if other_id != self.state["bank_id"]:
            raise BankError(
                f"--out {self.root} holds a bank with another recipe (id {other_id}, this build "
                f"is {self.state['bank_id']}); use another --out, or --store to share classes"
            )
        mine = [c["name"] for c in self.state["classes"]]
        if other_classes != mine:
            raise BankError(
                f"--out {self.root} holds a bank of other classes ({len(other_classes)} vs "
                f"{len(mine)}); use another --out, with --store {self.root.parent} to reuse them"
            )

    def complete(self) -> bool:
        if not (self.root / MANIFEST).is_file():
            return False
        return read_manifest(self.root)["bank_id"] == self.state["bank_id"]

    def marker(self, index: int) -> Path:
        return self.done_dir / f"{shard_name(index)}.json"

    def is_done(self, index: int) -> bool:
        path = self.marker(index)
        if not path.is_file():
            return False
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return False  # a damaged marker: the shard is rebuilt
        if not isinstance(info, dict) or not check_marker(info, shard_name(index)):
            return False
        want = [self.state["classes"][i]["name"] for i in self.state["shards"][index]]
        files_ok = all((self.root / info[k]).is_file() for k in ("features", "images"))
        return info.get("classes") == want and files_ok

    def clean(self, index: int) -> None:
        """Remove temporary files a killed run left for shard `index` (caller holds its lock)."""
        name = shard_name(index)
        for folder in (self.root / IMAGES_DIR, self.root / FEATURES_DIR, self.done_dir):
            for tmp in folder.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def all_done(self) -> bool:
        return all(self.is_done(i) for i in range(len(self.state["shards"])))

    def finalise(self, recipe: dict, dims: dict[str, int]) -> dict:
        """Write manifest.json from the markers (idempotent: same inputs, same bytes).
        The caller holds the finalise lock, so stale temporary manifests are its to remove."""
        shards, classes = [], []
        for i in range(len(self.state["shards"])):
            info = json.loads(self.marker(i).read_text(encoding="utf-8"))
            shards.append(
                {
                    k: info[k]
                    for k in (
                        "id",
                        "features",
                        "features_sha256",
                        "features_bytes",
                        "images",
                        "images_sha256",
                        "images_bytes",
                        "num_classes",
                        "num_images",
                        "datasets",
                    )
                }
            )
            for row, ci in enumerate(self.state["shards"][i]):
                entry = self.state["classes"][ci]
                classes.append(
                    {
                        "name": entry["name"],
                        "aliases": entry["aliases"],
                        "shard": info["id"],
                        "row": row,
                    }
                )
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "tool": f"dpseg {__version__}",
            "bank_id": self.state["bank_id"],
            "recipe": recipe,
            "dims": dims,
            "num_images": sum(s["num_images"] for s in shards),
            "classes": classes,
            "shards": shards,
        }
        manifest[CHECKSUM_KEY] = manifest_checksum(manifest)
        for stale in self.root.glob(f".{MANIFEST}.*.tmp"):  # left by a finaliser killed earlier
            stale.unlink(missing_ok=True)
        write_json_atomic(self.root / MANIFEST, manifest)
        return manifest


class ShardWriter:
    """Background writer: tasks run in submission order on one thread."""

    def __init__(self, build: BuildDir):
        self.build = build
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bank-writer")
        self._pending: list[Future] = []
        self._tar: ImageShardWriter | None = None
        self._failed = False  # after a failed task (a full disk) the queued ones are skipped

    def _submit(self, fn, *args) -> None:
        still = []
        for f in self._pending:
            if f.done():
                f.result()  # re-raise a failure as early as possible
            else:
                still.append(f)
        self._pending = still
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._run, fn, *args))

    def _run(self, fn, *args) -> None:
        if self._failed:
            return
        try:
            fn(*args)
        except BaseException:
            self._failed = True
            if self._tar is not None:  # the open tar's temporary file goes with the failure
                self._tar.abort()
                self._tar = None
            raise

    def begin(self, index: int) -> None:
        self._submit(self._begin, index)

    def images(self, samples: list[tuple[str, object, dict]]) -> None:
        """Queue (key, PIL image or PNG bytes, meta) samples for the open shard."""
        self._submit(self._images, samples)

    def finish(
        self,
        index: int,
        classes: list[str],
        rows: dict[str, list[np.ndarray]],
        reused: int,
        images_from: Path | None = None,
    ) -> None:
        """Publish shard `index`: its tar (or a link to `images_from`), features and marker."""
        self._submit(self._finish, index, classes, rows, reused, images_from)

    def wait(self) -> None:
        """Block until every queued task ran; re-raise the first failure."""
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            if self._tar is not None:
                self._tar.abort()
                self._tar = None

    # ---- run on the writer thread
    def _begin(self, index: int) -> None:
        name = shard_name(index)
        self._tar = ImageShardWriter(self.build.root / IMAGES_DIR / f"{name}.tar")

    def _images(self, samples) -> None:
        for key, image, meta in samples:
            png = image if isinstance(image, bytes) else encode_png(image)
            self._tar.write(ImageSample(key=key, png=png, meta=meta))

    def _finish(
        self, index: int, classes: list[str], rows: dict, reused: int, images_from: Path | None
    ) -> None:
        name = shard_name(index)
        if images_from is not None:
            tar_path = self.build.root / IMAGES_DIR / f"{name}.tar"
            copy_or_link(Path(images_from), tar_path)
            count = sum(1 for _ in read_samples(tar_path))
        else:
            count = self._tar.count
            tar_path = self._tar.close()
            self._tar = None
        arrays = {k: np.stack(v) for k, v in rows.items()}
        h5_rel = f"{FEATURES_DIR}/{name}.h5"
        info = write_feature_shard(self.build.root / h5_rel, classes, arrays)
        marker = {
            "id": name,
            "classes": classes,
            "features": h5_rel,
            "features_sha256": info["sha256"],
            "features_bytes": info["bytes"],
            "images": f"{IMAGES_DIR}/{name}.tar",
            "images_sha256": sha256_file(tar_path),
            "images_bytes": tar_path.stat().st_size,
            "num_classes": len(classes),
            "num_images": count,
            "datasets": info["datasets"],
            "reused": reused,
        }
        write_json_atomic(self.build.marker(index), marker)


def _alive(pid: str) -> bool:
    """Whether process `pid` (a decimal string) still runs; False for anything else."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def copy_or_link(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (same file system) or copy it through a temporary name."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        publish(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["BuildDir", "ShardWriter", "POOLED_DATASETS", "copy_or_link"]
