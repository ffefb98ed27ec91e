"""Shared bank fixtures: one small procedural bank built once per test session."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

# One torch thread per test process: on a shared, loaded machine two OpenMP threads per process
# made the tiny encoder 30x slower (spin-waiting); subprocesses get OMP_NUM_THREADS=1 likewise.
SUBPROCESS_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def one_thread() -> None:
    import torch

    torch.set_num_threads(1)


# A small, fast recipe: shapes world, 2 templates, 2 images each, 64 px, tiny encoder.
BANK_RECIPE = dict(
    generator="procedural",
    encoder="tiny",
    templates=2,
    images_per_template=2,
    resolution=64,
    classes_per_shard=3,
    progress=False,
)


def bank_digest(root: Path) -> dict[str, str]:
    """sha256 of every published file of a bank (not its .build state)."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not rel.parts[0].startswith("."):
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def shapes_bank(tmp_path_factory) -> Path:
    """A finished shapes bank (13 classes in 5 shards); tests must not modify it."""
    from promptbank.build import build_bank

    one_thread()
    out = tmp_path_factory.mktemp("banks") / "shapes"
    return build_bank("shapes", out, batch_size=5, **BANK_RECIPE)


@pytest.fixture()
def bank_copy(shapes_bank, tmp_path) -> Path:
    """A private copy of the session bank, free to damage."""
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(shapes_bank, dst)
    for f in dst.rglob("*"):
        if f.is_file():
            f.chmod(0o644)
    return dst
