"""Where a benchmark's input files are: an extracted folder, or the zip archive as downloaded."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from segmodel.datasets.base import PrepareError


@dataclass(frozen=True)
class InputFile:
    source: str  # a file's path, or the zip archive's path when `member` is set
    member: str | None = None  # the file inside the archive

    @property
    def where(self) -> str:
        return f"{self.member} in {self.source}" if self.member else self.source

    @property
    def name(self) -> str:
        return PurePosixPath(self.member).name if self.member else Path(self.source).name


@dataclass(frozen=True)
class Archive:
    path: str  # the zip archive relative to the datasets root
    prefix: str  # the folder inside it that holds the files, ending with "/"


def find_inputs(root: Path, folder: str, archives: tuple[Archive, ...], ext: str, hint: str):
    """Files ending with `ext` in `root/folder` (preferred) or inside the first archive found.

    Returns (stem -> InputFile, a description of where they came from). Raises a
    `PrepareError` ending with `hint` (what to download) when neither exists or both are empty.
    """
    extracted = root / folder
    if extracted.is_dir():
        files = {p.stem: InputFile(str(p)) for p in sorted(extracted.iterdir()) if p.suffix == ext}
        if not files:
            raise PrepareError(f"{extracted} holds no {ext} file; {hint}")
        return files, str(extracted)
    for archive in archives:
        path = root / archive.path
        if path.is_file():
            return _members(path, archive.prefix, ext, hint), str(path)
    tried = ", ".join([str(extracted)] + [str(root / a.path) for a in archives])
    raise PrepareError(f"not found: {tried}; {hint}")


def _members(path: Path, prefix: str, ext: str, hint: str) -> dict[str, InputFile]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as err:
        raise PrepareError(
            f"{path} is not a readable zip archive ({err}); download it again"
        ) from err
    files = {}
    for name in sorted(names):
        inner = name[len(prefix) :] if name.startswith(prefix) else ""
        if inner.endswith(ext) and "/" not in inner:
            files[PurePosixPath(inner).stem] = InputFile(str(path), name)
    if not files:
        raise PrepareError(f"{path} holds no {prefix}*{ext}; {hint}")
    return files
