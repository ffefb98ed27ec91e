"""Crash safety and multi-process builds, with real processes (kill -9, torchrun)."""

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import h5py

from promptbank.build import plan_build, run_build
from promptbank.verify import verify_bank
from tests.promptbank.bank_helpers import SUBPROCESS_ENV, TINY_BUILD, bank_digest, one_thread

VENV_BIN = Path(sys.executable).parent
# Slow enough to be killed mid-way: 13 shards of one class, 8 templates x 2 images each.
RESUME_ARGS = [
    *TINY_BUILD,
    "--device",
    "cpu",
    "--templates",
    "8",
    "-k",
    "2",
    "--classes-per-shard",
    "1",
    "--quiet",
]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", "bank", "build", *args]


def _env() -> dict:
    return {**os.environ, **SUBPROCESS_ENV}


def test_kill_9_then_resume_equals_an_uninterrupted_build(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli("shapes", "--out", str(out), *RESUME_ARGS), env=_env(), stderr=subprocess.PIPE
    )
    done = out / ".build/done"
    deadline = time.time() + 120
    while time.time() < deadline and not (
        done.is_dir() and len(list(done.glob("[0-9]*.json"))) >= 2
    ):
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(done.glob("[0-9]*.json")))
    assert not (out / "manifest.json").exists(), "the build ended before it could be killed"
    assert 2 <= finished < 13
    for tar in (out / "images").glob("[0-9]*.tar"):  # whatever is visible is complete
        with tarfile.open(tar) as t:
            assert len(t.getmembers()) == 2 * 8 * 2
    for h5 in (out / "features").glob("[0-9]*.h5"):
        with h5py.File(h5, "r", locking=False) as f:
            assert f["visual"].shape == (1, 8, 64)

    one_thread()  # resume in this process: the same call as the command, without a 2nd start-up
    options = dict(
        generator="procedural",
        encoder="tiny",
        resolution=64,
        steps=2,
        device="cpu",
        templates=8,
        images_per_template=2,
        classes_per_shard=1,
        progress=False,
    )
    state = plan_build("shapes", out, **options)["out"]
    assert state == f"resumable: {finished} of 13 shards done"
    resumed = run_build("shapes", out, **options)
    assert resumed.complete and (resumed.shards_built, resumed.shards_skipped) == (
        13 - finished,
        finished,
    )
    assert not list(out.rglob(".*.tmp"))
    reference = run_build("shapes", tmp_path / "reference", batch_size=3, **options)
    assert bank_digest(out) == bank_digest(reference.path)


def test_torchrun_two_processes_equal_one(shapes_bank, tmp_path):
    out = tmp_path / "two"
    args = [
        *TINY_BUILD,
        "--device",
        "cpu",
        "--templates",
        "2",
        "-k",
        "2",
        "--classes-per-shard",
        "3",
        "--quiet",
    ]
    cmd = [
        str(VENV_BIN / "torchrun"),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "cli.main",
        "bank",
        "build",
        "shapes",
        "--out",
        str(out),
        *args,
    ]
    run = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "(process 0 of 2)" not in run.stdout  # progress is off; reports go to stdout
    assert run.stdout.count("shards built") == 2
    assert "3 shards built" in run.stdout and "2 shards built" in run.stdout
    assert bank_digest(out) == bank_digest(shapes_bank)
    assert verify_bank(out).ok
    shutil.rmtree(out)
