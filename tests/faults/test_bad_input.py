"""Bad user input: exit 2, one line naming the thing and the fix, no traceback, no output."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.faults.cases import bad_input_cases, tally


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    import torch
    from PIL import Image

    from segmodel import build_model
    from segmodel.checkpoint import save_model

    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    checkpoint = save_model(build_model("tiny", num_templates=2, image_size=64),
                            root / "model.safetensors")  # fmt: skip
    image = root / "scene.png"
    Image.new("RGB", (64, 64), (20, 120, 200)).save(image)
    return root, checkpoint, image


def test_every_bad_input_is_one_line_exit_2(inputs, shapes_bank):
    root, checkpoint, image = inputs
    cases = bad_input_cases(root / "cases", checkpoint, image, shapes_bank)
    tried, failures = tally(cases)
    assert tried >= 45 and failures == []


def test_the_traceback_only_with_dpseg_debug(tmp_path):
    """In-process runs above check the quiet side; this one starts the real console script."""
    bad = tmp_path / "bad.txt"
    bad.write_text("cat\nCAT\n")
    exe = os.path.join(os.path.dirname(sys.executable), "dpseg")
    args = [
        exe,
        "bank",
        "build",
        str(bad),
        "--out",
        str(tmp_path / "o"),
        "--generator",
        "procedural",
        "--encoder",
        "tiny",
    ]
    loud = subprocess.run(args, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DPSEG_DEBUG": "1"})  # fmt: skip
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "VocabularyError" in loud.stderr
    assert not (tmp_path / "o").exists()
