"""Corruption: a flipped byte or a truncation anywhere in a bank or a checkpoint is named by
`dpseg bank verify` and refused, in one line, by everything that reads it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.faults.cases import bank_corruption_cases, checkpoint_corruption_cases, tally
from tests.faults.harness import flip

FAULT_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "DPSEG_DEBUG": ""}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from segmodel import build_model
    from segmodel.checkpoint import save_model

    torch.manual_seed(0)
    model = build_model("tiny", num_templates=2, image_size=64)
    return save_model(model, tmp_path_factory.mktemp("ckpt") / "model.safetensors")


def test_bank_damage_is_named_and_refused(shapes_bank, tmp_path):
    tried, failures = tally(bank_corruption_cases(shapes_bank, tmp_path, per_file=12))
    assert tried == 36 and failures == []


def test_checkpoint_damage_is_refused(checkpoint, tmp_path):
    tried, failures = tally(checkpoint_corruption_cases(checkpoint, tmp_path, count=12))
    assert tried == 12 and failures == []


def _dpseg(*args) -> subprocess.CompletedProcess:
    exe = os.path.join(os.path.dirname(sys.executable), "dpseg")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=FAULT_ENV)  # fmt: skip


@pytest.mark.slow
def test_segment_eval_and_train_refuse_damage_in_one_line(shapes_bank, checkpoint, bank_copy,
                                                          tmp_path):  # fmt: skip
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(checkpoint.read_bytes())
    flip(damaged, damaged.stat().st_size - 10)
    flip(bank_copy / "features/00000.h5", 4000)
    image = tmp_path / "scene.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 30, 30)).save(image)
    runs = {
        "segment": _dpseg("segment", image, "--checkpoint", damaged, "--classes", "red circle",
                          "--bank", shapes_bank, "--device", "cpu", "--out", tmp_path / "s"),
        "eval": _dpseg("eval", "--checkpoint", damaged, "--dataset", "shapes", "--bank",
                       shapes_bank, "--limit", "1", "--device", "cpu", "--out", tmp_path / "e"),
        "segment bank": _dpseg("segment", image, "--checkpoint", checkpoint, "--classes",
                               "red circle", "--bank", bank_copy, "--device", "cpu", "--out",
                               tmp_path / "s2"),
    }  # fmt: skip
    toml = tmp_path / "train.toml"
    toml.write_text(f'[prompts]\nbank = "{bank_copy}"\n[run]\nsteps = 1\nout = "{tmp_path / "t"}"\n'
                    '[data]\nworkers = 0\n[model.overrides]\nnum_templates = 2\n')  # fmt: skip
    runs["train bank"] = _dpseg("train", toml)
    for name, proc in runs.items():
        assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, (name, proc.stderr)
        assert "damaged" in proc.stderr or "sha256" in proc.stderr, (name, proc.stderr)
        if name != "segment bank":  # segment reports per image, then its tally
            assert proc.stderr.count("\n") == 1, (name, proc.stderr)
    for out in ("s", "e", "s2"):
        assert not (tmp_path / out).exists() or not any((tmp_path / out).iterdir()), out
