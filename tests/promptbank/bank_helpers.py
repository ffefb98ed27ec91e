"""Helpers shared by the bank tests (the fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

# One torch thread per test process: on a shared, loaded machine two OpenMP threads per process
# made the tiny encoder 30x slower (spin-waiting); subprocesses get OMP_NUM_THREADS=1 likewise.
SUBPROCESS_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# `dpseg bank build` flags of a small build without weights (the default recipe needs SD 1.5)
TINY_BUILD = ["--generator", "procedural", "--encoder", "tiny", "--resolution", "64",
              "--steps", "2"]  # fmt: skip


def one_thread() -> None:
    import torch

    torch.set_num_threads(1)


# A small, fast recipe: shapes world, 2 templates, 2 images each, 64 px, tiny encoder, CPU
# (the library's defaults are the paper's recipe, which needs real weights).
BANK_RECIPE = dict(
    generator="procedural",
    encoder="tiny",
    templates=2,
    images_per_template=2,
    resolution=64,
    steps=2,
    device="cpu",
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
