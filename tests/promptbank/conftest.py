"""Shared bank fixtures: one small procedural bank built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.promptbank.bank_helpers import BANK_RECIPE, one_thread


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
