"""`dpseg bank build VOCAB --out DIR` builds the paper's bank; without its weights it stops at once.

The commands run for real in subprocesses, against an empty Hugging Face cache in tmp_path.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.promptbank.bank_helpers import SUBPROCESS_ENV


def _build(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    home = tmp_path / "hf-home"
    env = {**os.environ, **SUBPROCESS_ENV, "HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub")}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "bank", "build", *map(str, args)],
        text=True,
        capture_output=True,
        env=env,
        timeout=300,
    )


def test_no_flags_and_no_weights_stop_in_one_line_naming_both_fixes(tmp_path):
    out = tmp_path / "b"
    proc = _build(tmp_path, "ade150", "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    line = proc.stderr
    assert line.startswith("dpseg: error: no weights for generator sd15 ")
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5/model_index.json" in line
    assert "encoder convnext_base_w_320 (laion/CLIP-convnext_base_w_320" in line
    assert f"in the Hugging Face cache {tmp_path / 'hf-home' / 'hub'}:" in line  # where it looked
    assert "--generator DIR, --encoder-weights FILE" in line  # fix 1: weights or folders
    assert line.rstrip().endswith("--generator procedural --encoder tiny")  # fix 2: no weights
    assert not out.exists()  # nothing written


def test_only_the_missing_model_is_named(tmp_path):
    proc = _build(tmp_path, "ade150", "--out", tmp_path / "b", "--generator", "procedural")
    assert proc.returncode == 2 and "no weights for encoder convnext_base_w_320" in proc.stderr
    assert "generator sd15" not in proc.stderr and not (tmp_path / "b").exists()


def test_with_the_tiny_settings_named_it_builds(tmp_path):
    vocab = tmp_path / "two.txt"
    vocab.write_text("sky\nred circle\n")
    out = tmp_path / "b"
    proc = _build(
        tmp_path, vocab, "--out", out, "--generator", "procedural", "--encoder", "tiny",
        "--resolution", "64", "--steps", "1", "--templates", "1", "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    recipe = json.loads((out / "manifest.json").read_text())["recipe"]
    assert recipe["generator"]["resolution"] == 64 and recipe["encoder"]["name"] == "tiny"


def test_the_command_and_the_library_share_the_paper_defaults():
    import cli.bank
    from promptbank.build import BUILD_DEFAULTS

    assert (
        BUILD_DEFAULTS["generator"] == "sd15" and BUILD_DEFAULTS["encoder"] == "convnext_base_w_320"
    )
    assert (BUILD_DEFAULTS["resolution"], BUILD_DEFAULTS["steps"]) == (512, 50)
    assert BUILD_DEFAULTS["templates"] is None  # all 80 ImageNet templates, as DPSeg-B trains
    assert BUILD_DEFAULTS["device"] == "auto"
    options = inspect.signature(cli.bank.build).parameters
    for name, value in BUILD_DEFAULTS.items():
        if name in options:
            assert options[name].default == value, name
