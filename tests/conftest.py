"""Shared fixtures: everything offline, small, and built in temporary folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# No test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def dpseg_executable() -> list[str]:
    """The installed `dpseg` console script (falls back to `python -m cli`)."""
    exe = Path(sys.executable).parent / "dpseg"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli"]


@pytest.fixture
def run_dpseg(tmp_path):
    """Run the real `dpseg` command in a subprocess; returns the CompletedProcess."""

    def run(*args: str, env: dict | None = None, check: bool = False, cwd=None):
        full_env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), **(env or {})}
        result = subprocess.run(
            [*dpseg_executable(), *map(str, args)],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd or tmp_path,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"dpseg {' '.join(map(str, args))} failed:\n{result.stderr}")
        return result

    return run


@pytest.fixture(scope="session")
def tiny_encoder():
    from promptbank.encoder import load_encoder

    return load_encoder("tiny")


@pytest.fixture(scope="session")
def tiny_sd_folder(tmp_path_factory):
    """The tiny Stable Diffusion pipeline saved as a diffusers folder (built once per session)."""
    from promptbank.generator import build_sd_pipeline

    folder = tmp_path_factory.mktemp("tiny-sd")
    build_sd_pipeline("tiny-sd").save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache for this test (so real weights are certainly absent)."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    yield home
    shutil.rmtree(home, ignore_errors=True)
