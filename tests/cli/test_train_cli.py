"""`dpseg train` through the real console script: a tiny run, a resume, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from PIL import Image

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DPSEG = Path(sys.executable).with_name("dpseg")
TINY = ["--set", "model.overrides.image_size=64", "--set", "data.options.size=64",
        "--set", "data.options.length=16", "--set", "data.crop=64", "--set",
        "data.resize_short=64", "--set", "run.batch_size=2", "--set", "data.workers=1",
        "--set", "run.log_every=1", "--set", "run.checkpoint_every=2"]  # fmt: skip


def _train(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the test box is shared
    return subprocess.run([str(DPSEG), "train", str(CONFIGS / "shapes_tiny.toml"), *args],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip


def test_train_writes_model_log_and_checkpoints(tmp_path):
    out = tmp_path / "run"
    proc = _train(*TINY, "--set", f"run.out={out}", "--set", "run.steps=2")
    assert proc.returncode == 0, proc.stderr
    assert "trained 2 steps" in proc.stdout and "steps/s" in proc.stderr
    assert (out / "model.safetensors").is_file()
    assert Image.open(out / "loss.png").mode == "RGB"  # the loss curve, drawn after training
    steps = [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    saved = tomllib.loads((out / "checkpoints" / "step-000002" / "config.toml").read_text())
    assert saved["run"]["steps"] == 2 and saved["run"]["out"] == str(out)


def test_train_errors_are_one_line(tmp_path):
    proc = _train("--set", "run.stepz=3")
    assert proc.returncode == 2
    assert "unknown settings ['stepz'] in [run]" in proc.stderr
    proc = _train("--set", f"run.out={tmp_path}/none", "--resume")
    assert proc.returncode == 2 and "no checkpoint in" in proc.stderr


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    """torchrun with 2 CPU processes (gloo): same losses as one process over the same batches."""
    args = [*TINY, "--set", "run.steps=3", "--set", "data.workers=0", "-q"]
    one = _train(*args, "--set", f"run.out={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr
    torchrun = Path(sys.executable).with_name("torchrun")
    two = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", str(DPSEG), "train",
         str(CONFIGS / "shapes_tiny.toml"), *args, "--set", f"run.out={tmp_path / 'two'}"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("trained 3 steps") == 1  # only the main process reports

    def losses(name):
        lines = (tmp_path / name / "log.jsonl").read_text().splitlines()
        return [json.loads(x)["loss"] for x in lines]

    assert losses("two") == pytest.approx(losses("one"), rel=1e-5)
    assert (tmp_path / "two" / "checkpoints" / "step-000002" / "rng-1.pt").is_file()
