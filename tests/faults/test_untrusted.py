"""Untrusted banks: hostile manifests and tars are refused before any outside file is opened."""

from __future__ import annotations

import pytest

from tests.faults.cases import fresh_copy, hostile_banks, untrusted_cases
from tests.faults.harness import Watch, dpseg


@pytest.mark.parametrize("name", list(hostile_banks()))
def test_hostile_bank_is_refused_without_reading_outside(shapes_bank, tmp_path, name):
    (case,) = [c for c in untrusted_cases(shapes_bank, tmp_path) if c.name.endswith("/" + name)]
    assert case.run() == ""


def test_refusal_names_the_field_and_the_fix(shapes_bank, tmp_path):
    bank = fresh_copy(shapes_bank, tmp_path / "b")
    hostile_banks()["dtype unknown"](bank, tmp_path)
    out = dpseg("bank", "verify", bank)
    assert out.refused(1, "shards[0].datasets.visual.dtype", "'<x9'", "rebuild") == ""
    bank = fresh_copy(shapes_bank, tmp_path / "b")
    hostile_banks()["features ../"](bank, tmp_path)
    out = dpseg("bank", "info", bank)
    assert out.refused(1, "shards[0].features", "../outside", "features/NAME.h5") == ""


def test_store_skips_a_hostile_bank_without_reading_outside(shapes_bank, tmp_path):
    from promptbank.reader import open_bank
    from promptbank.store import StoreIndex

    store = tmp_path / "store"
    outside = tmp_path / "outside"
    fresh_copy(shapes_bank, outside)
    bank = fresh_copy(shapes_bank, store / "hostile")
    hostile_banks()["features symlink"](bank, outside)
    good = fresh_copy(shapes_bank, store / "good")
    with Watch([outside, outside / "features", outside / "images"]) as watch:
        index = StoreIndex(store, open_bank(good).bank_id)
    assert index.banks == [good] and watch.events == []
