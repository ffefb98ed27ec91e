import pickle
import subprocess
import sys

import h5py
import numpy as np
import pytest

from promptbank.errors import BankError
from promptbank.format import POOLED_DATASETS, bank_id, dataset_layout, write_feature_shard
from promptbank.reader import BankReadWarning, open_bank


def _arrays(c=3, t=2, rng=np.random.default_rng(0)):
    dims = {"text": 8, "visual": 8, "visual_s4": 4, "visual_s8": 5, "visual_s16": 6}
    return {n: rng.standard_normal((c, t, d)).astype(np.float32) for n, d in dims.items()}


def test_feature_shard_round_trip_memmap_equals_h5py(tmp_path):
    arrays = _arrays()
    path = tmp_path / "00000.h5"
    info = write_feature_shard(path, ["a", "b/c", "café"], arrays)
    assert not list(tmp_path.glob(".*"))  # no temporary file left
    with h5py.File(path, "r") as f:
        assert [c.decode() for c in f["classes"][()]] == ["a", "b/c", "café"]
        for name in POOLED_DATASETS:
            ds = f[name]
            assert ds.chunks is None and ds.compression is None and ds.dtype == np.float16
            layout = info["datasets"][name]
            mm = np.memmap(
                path,
                mode="r",
                dtype=layout["dtype"],
                offset=layout["offset"],
                shape=tuple(layout["shape"]),
            )
            np.testing.assert_array_equal(mm, ds[()])
            np.testing.assert_array_equal(mm, arrays[name].astype(np.float16))
    assert dataset_layout(path) == info["datasets"]


def test_bank_id_ignores_key_order():
    assert bank_id({"a": 1, "b": [1, 2]}) == bank_id({"b": [1, 2], "a": 1})
    assert bank_id({"a": 1}) != bank_id({"a": 2})


def test_select_matches_h5py_and_keeps_request_order(shapes_bank):
    bank = open_bank(shapes_bank)
    assert len(bank) == 13 and bank.templates == ["a bad photo of a {}.", "a photo of many {}."]
    assert bank.encoder["name"] == "tiny"
    names = ["water", "red circle", "sky", "red circle"]  # spans shards, repeats allowed
    sel = bank.select(names)
    assert sel.classes == names
    assert sel.text.shape == (4, 2, 64) and sel.text.dtype == np.float32
    assert sel.visual_s4.shape == (4, 2, 32) and sel.visual_s16.shape == (4, 2, 128)
    np.testing.assert_allclose(np.linalg.norm(sel.text, axis=-1), 1.0, atol=2e-3)
    for i, name in enumerate(names):
        entry = next(c for c in bank.manifest["classes"] if c["name"] == name)
        with h5py.File(shapes_bank / f"features/{entry['shard']}.h5", "r") as f:
            for ds in POOLED_DATASETS:
                np.testing.assert_array_equal(getattr(sel, ds)[i], f[ds][entry["row"]])
    assert bank.has("Red Circle") and not bank.has("red square")
    assert bank.select(["RED CIRCLE"]).classes == ["red circle"]


def test_unknown_class_lists_close_matches(shapes_bank):
    bank = open_bank(shapes_bank)
    with pytest.raises(BankError, match=r"class 'red circel' is not in bank .*'red circle'"):
        bank.select(["sky", "red circel"])
    with pytest.raises(BankError, match="no close matches"):
        bank.select(["xylophone"])


def test_open_errors(tmp_path, bank_copy):
    with pytest.raises(BankError, match="does not exist"):
        open_bank(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BankError, match="no manifest.json"):
        open_bank(tmp_path / "empty")
    shard = bank_copy / "features/00001.h5"
    shard.write_bytes(shard.read_bytes()[:4000])
    with pytest.raises(BankError, match="00001.h5 is truncated"):
        open_bank(bank_copy)


def test_unmappable_dataset_falls_back_to_h5py(bank_copy):
    import json

    manifest = json.loads((bank_copy / "manifest.json").read_text())
    manifest["shards"][0]["datasets"]["visual"]["offset"] = None  # as for a chunked dataset
    del manifest["manifest_sha256"]  # a tool that edits a manifest drops (or recomputes) its sum
    (bank_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(BankReadWarning, match="cannot be memory-mapped"):
        bank = open_bank(bank_copy)
    with h5py.File(bank_copy / "features/00000.h5") as f:  # default locking, as a user would
        np.testing.assert_array_equal(bank.select(bank.classes[:3]).visual, f["visual"][()])


def test_pickled_bank_carries_no_data_and_works_in_spawned_process(shapes_bank):
    bank = open_bank(shapes_bank)
    expected = bank.select(["sky", "grass"]).visual
    blob = pickle.dumps(bank)
    assert len(blob) < 50_000  # paths and offsets, not mapped arrays
    code = (
        "import pickle, sys, numpy as np; b = pickle.loads(sys.stdin.buffer.read()); "
        "sys.stdout.buffer.write(b.select(['sky', 'grass']).visual.tobytes())"
    )
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    np.testing.assert_array_equal(
        np.frombuffer(out.stdout, np.float32).reshape(expected.shape), expected
    )


def test_reader_imports_neither_torch_nor_open_clip():
    code = (
        "import sys, promptbank.reader; "
        "bad = [m for m in ('torch', 'open_clip', 'webdataset', 'diffusers') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _ClassRows:
    """A map-style dataset over a bank: item i = the visual prompts of class i."""

    def __init__(self, bank):
        self.bank = bank

    def __len__(self):
        return len(self.bank)

    def __getitem__(self, i):
        return self.bank.select([self.bank.classes[i]]).visual[0]


def test_dataloader_workers_read_the_same_rows(shapes_bank):
    import torch
    from torch.utils.data import DataLoader

    bank = open_bank(shapes_bank)
    expected = bank.select(bank.classes).visual
    bank.select(["sky"])  # map in the parent first: the forked workers must re-map their own
    loader = DataLoader(
        _ClassRows(bank), batch_size=4, num_workers=2, multiprocessing_context="fork"
    )
    got = torch.cat(list(loader)).numpy()
    np.testing.assert_array_equal(got, expected)
