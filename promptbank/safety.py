"""Banks are untrusted input: every name, path and number of a manifest is checked here, once,
before any file it names is opened.

A bank folder may come from another machine or another person. `check_manifest` (called by
`format.read_manifest`, so by the reader, `dpseg bank verify`, `info`, `show`, `encode`, a resumed
build and `--store`) refuses, in one line naming the field and the fix:
- shard files named other than `features/NAME.h5` and `images/NAME.tar` (so no `..`, absolute
  paths, NUL or nested folders), or that are symlinks (a link could leave the bank);
- datasets of unknown names or dtypes, shapes whose bytes exceed their file, offsets past the end;
- classes pointing at shards or rows that do not exist;
- a bank id that is not the hash of the recipe (an edited encoder or template list), and a
  manifest whose own checksum (`manifest_sha256`) does not match (a flipped byte anywhere).
`check_member` does the same for the member names of an image tar. Numpy only.
"""

from __future__ import annotations

import hashlib
import math
import re
import stat
from pathlib import Path

from promptbank.errors import BankError

CHECKSUM_KEY = "manifest_sha256"  # sha256 of the manifest's canonical JSON without this key
TOP_KEYS = {
    "format",
    "format_version",
    "tool",
    "bank_id",
    "recipe",
    "dims",
    "num_images",
    "classes",
    "shards",
    CHECKSUM_KEY,
}
DATASET_NAMES = {"text", "visual", "visual_s4", "visual_s8", "visual_s16"}
DATASET_NAMES |= {"maps_s4", "maps_s8", "maps_s16"}
DTYPES = {"<f2": 2, "<f4": 4}  # on-disk dtypes a reader maps (the builder writes <f2)
FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")  # one plain path component
SHA256 = re.compile(r"[0-9a-f]{64}")
FIX = "the bank is damaged or unsafe: run `dpseg bank verify`, then rebuild it or fetch it again"


def manifest_checksum(manifest: dict) -> str:
    """The checksum the builder stores under `manifest_sha256` (sorted-key compact JSON)."""
    from promptbank.format import canonical_json

    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def check_manifest(root: Path, manifest: dict, where: Path) -> None:
    """BankError naming the first unsafe or inconsistent field of `manifest` (read from `where`)."""
    from promptbank.format import bank_id

    def fail(field: str, problem: str) -> None:
        raise BankError(f"{where}: {field} {problem}; {FIX}")

    unknown = sorted(set(manifest) - TOP_KEYS)
    if unknown:
        fail(repr(unknown[0]), "is not a manifest field")
    if CHECKSUM_KEY in manifest and manifest[CHECKSUM_KEY] != manifest_checksum(manifest):
        fail(CHECKSUM_KEY, "does not match the manifest's content (it was edited or damaged)")
    recipe = manifest["recipe"]
    if not isinstance(recipe, dict) or bank_id(recipe) != manifest["bank_id"]:
        fail("bank_id", "is not the hash of the recipe (encoder, templates or settings edited)")
    _check_recipe(recipe, fail)
    dims = manifest["dims"]
    if not isinstance(dims, dict) or not all(_is_int(d, 1, 1 << 16) for d in dims.values()):
        fail("dims", f"is {dims!r}, expected channel counts between 1 and 65536")
    rows = _check_shards(root, manifest["shards"], len(recipe["templates"]), fail)
    _check_classes(manifest["classes"], rows, fail)


def _check_recipe(recipe: dict, fail) -> None:
    templates = recipe.get("templates")
    if not isinstance(templates, list) or not templates:
        fail("recipe.templates", "is not a non-empty list")
    if not all(isinstance(t, str) for t in templates):
        fail("recipe.templates", "holds a non-string")
    if not _is_int(recipe.get("images_per_template"), 1, 1 << 20):
        fail("recipe.images_per_template", "is not a positive integer")
    encoder = recipe.get("encoder")
    if not isinstance(encoder, dict) or not isinstance(encoder.get("name"), str):
        fail("recipe.encoder", "has no name")


def _check_shards(root: Path, shards, templates: int, fail) -> dict[str, int]:
    """Checks every shard entry; returns {shard id: number of classes}."""
    if not isinstance(shards, list):
        fail("shards", "is not a list")
    rows: dict[str, int] = {}
    for i, shard in enumerate(shards):
        at = f"shards[{i}]"
        if not isinstance(shard, dict):
            fail(at, "is not an object")
        sid = shard.get("id")
        if not isinstance(sid, str) or not FILE_NAME.fullmatch(sid) or sid in rows:
            fail(f"{at}.id", f"is {sid!r}, expected a unique shard name such as '00000'")
        for kind, folder, suffix in (("features", "features", ".h5"), ("images", "images", ".tar")):
            _check_path(root, shard.get(kind), folder, suffix, f"{at}.{kind}", fail)
            if not _is_int(shard.get(f"{kind}_bytes"), 0, 1 << 50):
                fail(f"{at}.{kind}_bytes", "is not a byte count")
            if not isinstance(shard.get(f"{kind}_sha256"), str):
                fail(f"{at}.{kind}_sha256", "is not a sha256 hex digest")
            if not SHA256.fullmatch(shard[f"{kind}_sha256"]):
                fail(f"{at}.{kind}_sha256", "is not a sha256 hex digest")
        count = shard.get("num_classes")
        if not _is_int(count, 0, 1 << 24) or not _is_int(shard.get("num_images"), 0, 1 << 40):
            fail(f"{at}.num_classes", "or num_images is not a count")
        _check_datasets(shard, at, count, templates, fail)
        rows[sid] = count
    return rows


def _check_path(root: Path, rel, folder: str, suffix: str, field: str, fail) -> None:
    """`rel` must be FOLDER/NAME.SUFFIX, and neither the folder nor the file a symlink."""
    parts = rel.split("/") if isinstance(rel, str) else []
    if (
        len(parts) != 2
        or parts[0] != folder
        or not FILE_NAME.fullmatch(parts[1])
        or not parts[1].endswith(suffix)
    ):
        fail(field, f"is {rel!r}, expected a file name inside the bank: {folder}/NAME{suffix}")
    for path in (root / folder, root / rel):
        try:
            mode = path.lstat().st_mode
        except OSError:
            return  # missing: `dpseg bank verify` and the reader report it by name
        if stat.S_ISLNK(mode):
            fail(field, f"({path}) is a symbolic link, which could point outside the bank")
        if path.name == parts[1] and not stat.S_ISREG(mode):
            fail(field, f"({path}) is not a regular file")


def _check_datasets(shard: dict, at: str, count: int, templates: int, fail) -> None:
    datasets = shard.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        fail(f"{at}.datasets", "is not a non-empty object")
    size = shard["features_bytes"]
    for name, layout in datasets.items():
        field = f"{at}.datasets.{name}"
        if name not in DATASET_NAMES:
            fail(field, f"is not a dataset of the format ({', '.join(sorted(DATASET_NAMES))})")
        if not isinstance(layout, dict):
            fail(field, "is not an object")
        dtype, shape, offset = layout.get("dtype"), layout.get("shape"), layout.get("offset")
        if dtype not in DTYPES:
            fail(f"{field}.dtype", f"is {dtype!r}, expected one of {', '.join(DTYPES)}")
        if not isinstance(shape, list) or not all(_is_int(n, 0, 1 << 40) for n in shape):
            fail(f"{field}.shape", f"is {shape!r}, expected a list of sizes")
        if len(shape) < 3 or shape[0] != count or shape[1] != templates:
            fail(f"{field}.shape", f"is {shape}, expected ({count} classes, {templates}, ...)")
        nbytes = math.prod(shape) * DTYPES[dtype]
        if offset is not None and not _is_int(offset, 0, 1 << 50):
            fail(f"{field}.offset", f"is {offset!r}, expected a byte offset or null")
        if (offset or 0) + nbytes > size:
            fail(f"{field}.shape", f"{shape} needs {nbytes} bytes, more than its {size}-byte file")


def _check_classes(classes, rows: dict[str, int], fail) -> None:
    if not isinstance(classes, list):
        fail("classes", "is not a list")
    taken = set()
    for i, entry in enumerate(classes):
        at = f"classes[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            fail(f"{at}.name", "is not a string")
        aliases = entry.get("aliases")
        if (
            not isinstance(aliases, list)
            or not aliases
            or not all(isinstance(a, str) for a in aliases)
        ):
            fail(f"{at}.aliases", "is not a non-empty list of strings")
        shard, row = entry.get("shard"), entry.get("row")
        if shard not in rows:
            fail(f"{at}.shard", f"is {shard!r}, not a shard of this bank")
        if not _is_int(row, 0, rows[shard] - 1) or (shard, row) in taken:
            fail(f"{at}.row", f"is {row!r}, expected a free row below {rows[shard]}")
        taken.add((shard, row))


def check_member(name: str, regular: bool, shard: Path) -> None:
    """An image-tar member must be a regular file with a plain name (no folders, `..`, links)."""
    if not regular or not FILE_NAME.fullmatch(name):
        raise BankError(
            f"image shard {shard}: member {name[:80]!r} is not a plain file name "
            f"(folders, '..', absolute paths and links are refused); {FIX}"
        )


def check_marker(info: dict, name: str) -> bool:
    """A build's done marker names its own shard's files and nothing else."""
    return info.get("features") == f"features/{name}.h5" and info.get("images") == (
        f"images/{name}.tar"
    )


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
