"""Reading the downloads and writing the prepared files, the same way for every benchmark.

Every output is written to a hidden temporary name in its folder (`.NAME.PID.tmp`) and renamed
into place, so a killed run leaves complete files or none; the next run removes the leftovers.
Inputs are read fully (PIL decodes lazily), so a truncated file from a half-extracted archive is a
`PrepareError` naming it, not a traceback.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from segmodel.datasets.base import PrepareError
from segmodel.datasets.prepare.sources import InputFile

TMP_SUFFIX = ".tmp"
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, zipfile.BadZipFile)


def save_atomic(array: np.ndarray, path: Path, format: str, *, force: bool = False) -> bool:
    """Writes `array` as an image file at `path` (via a temporary name); False when it existed.

    Args:
        array: (H, W) label map or (H, W[, C]) uint8 image; `Image.fromarray` picks the mode
            (uint8 -> L/RGB, uint16 -> I;16), as the peers' scripts do.
        path: final file name.
        format: PIL format name ("PNG", "TIFF", "JPEG"), written with PIL's default settings.
        force: rewrite a file that already exists.
    """
    if path.exists() and not force:
        return False
    _replace(path, lambda tmp: Image.fromarray(array).save(tmp, format=format))
    return True


def write_bytes_atomic(item: InputFile, path: Path, archive: str, *, force: bool = False) -> bool:
    """Copies an input file (checked to decode) to `path`; False when it existed."""
    if path.exists() and not force:
        return False
    data = _read(item, archive)
    decode(data, item.where, archive)
    _replace(path, lambda tmp: tmp.write_bytes(data))
    return True


def _replace(path: Path, write: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_partials(folders: Iterable[Path]) -> int:
    """Deletes the temporary files a killed run left in `folders`; returns how many."""
    removed = 0
    for folder in folders:
        if folder.is_dir():
            for leftover in folder.glob(f".*{TMP_SUFFIX}"):
                leftover.unlink(missing_ok=True)
                removed += 1
    return removed


# Per process (a forked worker must not share its parent's file offset): read each index once.
_OPEN_ARCHIVES: dict[tuple[int, str], zipfile.ZipFile] = {}


def read_input(item: InputFile, archive: str) -> Image.Image:
    """An input image (a file, or a member of a zip archive) read and decoded fully."""
    return decode(_read(item, archive), item.where, archive)


def _read(item: InputFile, archive: str) -> bytes:
    try:
        if item.member is None:
            return Path(item.source).read_bytes()
        key = (os.getpid(), item.source)
        if key not in _OPEN_ARCHIVES:
            _OPEN_ARCHIVES[key] = zipfile.ZipFile(item.source)
        return _OPEN_ARCHIVES[key].read(item.member)
    except (KeyError, *_UNREADABLE) as err:
        raise PrepareError(
            f"cannot read {item.where} ({err}); download and extract {archive} again"
        ) from err


def decode(data: bytes, where: str, archive: str) -> Image.Image:
    """Decodes image bytes fully; a damaged file names itself and the archive to re-extract."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except _UNREADABLE as err:
        raise PrepareError(
            f"{where} is damaged ({err}); the download looks half-extracted: extract {archive} "
            "again"
        ) from err
    return image


def open_image(path: Path, archive: str) -> Image.Image:
    """An image file read and decoded fully (see `decode`); a missing one names `archive`."""
    if not path.is_file():
        raise PrepareError(
            f"{path} is missing; the download looks half-extracted: extract {archive} again"
        )
    return decode(path.read_bytes(), str(path), archive)


def label_array(image: Image.Image, where: str, modes: tuple[str, ...], what: str) -> np.ndarray:
    """The pixels of a label image whose PIL mode is one of `modes`, else a `PrepareError`."""
    if image.mode not in modes:
        raise PrepareError(
            f"{where} has mode {image.mode}, expected {' or '.join(modes)} ({what}); use the "
            "official download unchanged"
        )
    return np.asarray(image)


def check_size(label_size: tuple[int, int], image_path: Path, where: str) -> None:
    """A label must have its image's size (W, H); skipped when the image is not there yet."""
    if not image_path.is_file():
        return
    try:
        with Image.open(image_path) as im:
            size = im.size
    except _UNREADABLE:
        return  # the image's own problems surface when it is read for training or evaluation
    if size != label_size:
        raise PrepareError(
            f"{where} is {label_size[0]}x{label_size[1]} but its image {image_path} is "
            f"{size[0]}x{size[1]}; the label belongs to another image: use the official download"
        )
