"""ADE20K's full-dataset index, `index_ade20k.pkl`: a pickle, so it is read with care.

Only the file below the datasets root the user names is read, by an unpickler that builds plain
Python values and numpy arrays and refuses every other global (a pickle that would import
anything else is rejected before it runs). The index must hold the lists `folder` and `filename`.
"""

from __future__ import annotations

import pickle
from pathlib import Path, PurePosixPath
from typing import Any

from segmodel.datasets.base import PrepareError

# What numpy's pickles of arrays, dtypes and scalars need (numpy 1.x and 2.x module names;
# `_frombuffer` is how pickle protocol 5 stores an array, `_codecs.encode` how protocol 2 stores
# bytes).
_ALLOWED = {
    (f"numpy{core}.{module}", name)
    for core in (".core", "._core")
    for module, name in (
        ("multiarray", "_reconstruct"),
        ("multiarray", "scalar"),
        ("numeric", "_frombuffer"),
    )
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _IndexUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which an index never needs")


def read_index(path: Path, fix: str) -> list[tuple[str, str]]:
    """(folder, filename) of every image in the index at `path`; `fix` ends every error."""
    try:
        with path.open("rb") as f:
            index = _IndexUnpickler(f).load()
    except FileNotFoundError as err:
        raise PrepareError(f"{path} not found; {fix}") from err
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise PrepareError(f"{path} is not ADE20K's index ({err}); {fix}") from err
    folders = index.get("folder") if isinstance(index, dict) else None
    files = index.get("filename") if isinstance(index, dict) else None
    if not (_strings(folders) and _strings(files) and len(folders) == len(files)):
        raise PrepareError(
            f"{path} is not ADE20K's index: expected a dict with equally long lists of strings "
            f"'folder' and 'filename'; {fix}"
        )
    for folder, name in zip(folders, files):
        parts = PurePosixPath(folder).parts
        if (
            PurePosixPath(folder).is_absolute()
            or ".." in parts
            or "/" in name
            or name in ("", "..")
        ):
            raise PrepareError(f"{path} lists {folder}/{name}, outside the datasets root; {fix}")
    return list(zip(folders, files))


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
