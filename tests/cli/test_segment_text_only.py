"""`dpseg segment` on a text-only checkpoint: no bank needed, an explicit --bank still honoured.

The models are untrained tiny DPSegs at 64 px saved with the real checkpoint writer: a text-only
one (prompt_mode "text", upsampled text costs instead of visual ones, as the demo's baseline) and
dual ones. Their quality does not matter; what the command reads and writes does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DPSEG = Path(sys.executable).with_name("dpseg")
CLASSES = ["red circle", "sky", "grass"]
TEXT_ONLY = {"prompt_mode": "text", "visual_cost": ("upsample",) * 3, "visual_cost_prototypes": 1}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints (text-only and dual whose recorded bank is gone, dual trained without a bank),
    an image."""
    import torch

    from promptbank.world.shapes import render_scene
    from segmodel import build_model
    from segmodel.checkpoint import save_model

    root = tmp_path_factory.mktemp("segment_text")
    torch.manual_seed(0)
    text = build_model("tiny", image_size=64, **TEXT_ONLY)
    assert not text.config.uses_visual
    dual = build_model("tiny", image_size=64)
    image = root / "scene.png"
    Image.fromarray(render_scene(3, 96)[0]).save(image)
    gone = str(root / "gone")
    return {
        "text": save_model(text, root / "text.safetensors", extra={"bank": gone}),
        "dual": save_model(dual, root / "dual.safetensors", extra={"bank": gone}),
        # `dpseg train` without prompts.bank records bank = "": it trained on text prompts only
        "dual_text_run": save_model(dual, root / "dual_text.safetensors", extra={"bank": ""}),
        "image": image,
        "root": root,
    }


def _segment(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(DPSEG), "segment", *map(str, args)], capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip


def test_text_only_checkpoint_needs_no_bank(setup, tmp_path):
    from segmodel.checkpoint import load_model
    from segmodel.segmenter import Segmenter

    out = tmp_path / "out"
    proc = _segment(setup["image"], "--checkpoint", setup["text"], "--classes",
                    ", ".join(CLASSES), "--out", out, "--device", "cpu")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr and "segmented 1 image(s) into 3 classes" in proc.stdout
    record = json.loads((out / "scene.json").read_text())
    assert record["bank"] is None and record["prompt_mode"] == "text"
    assert record["text_only"] == [] and [c["name"] for c in record["classes"]] == CLASSES
    labels = np.asarray(Image.open(out / "labels" / "scene.png"))
    assert labels.shape == (96, 96) and labels.max() < len(CLASSES)
    # The same prediction as the library's text-only path (prompts from the model's own encoder).
    seg = Segmenter(load_model(setup["text"]), None, "cpu")
    expected = seg.segment(Image.open(setup["image"]), CLASSES).labels
    assert (labels == expected).mean() > 0.99  # thread counts may move a float tie or two


def test_explicit_bank_is_honoured_for_a_text_only_checkpoint(setup, tmp_path):
    from promptbank.build import build_bank

    vocab = tmp_path / "two.txt"
    vocab.write_text("sky\ngrass\n")
    bank = build_bank(
        vocab, tmp_path / "bank", generator="procedural", encoder="tiny", templates=2,
        images_per_template=1, resolution=64, steps=2,
        device="cpu", progress=False,
    )  # fmt: skip
    out = tmp_path / "out"
    proc = _segment(setup["image"], "--checkpoint", setup["text"], "--bank", bank, "--classes",
                    ", ".join(CLASSES), "--generate", "--out", out, "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # 'red circle' is not in the bank: a text-only model needs no visual prompt for it
    assert "warning" not in proc.stderr and "--generate ignored" in proc.stderr
    record = json.loads((out / "scene.json").read_text())
    assert Path(record["bank"]) == Path(bank) and record["text_only"] == []
    assert not (out / "banks").exists()


def test_dual_model_trained_without_a_bank_needs_none(setup, tmp_path):
    out = tmp_path / "out"
    proc = _segment(setup["image"], "--checkpoint", setup["dual_text_run"], "--classes",
                    ", ".join(CLASSES), "--out", out, "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads((out / "scene.json").read_text())
    assert record["bank"] is None and record["prompt_mode"] == "dual"


def test_dual_checkpoint_without_a_usable_bank_is_one_line(setup, tmp_path):
    proc = _segment(setup["image"], "--checkpoint", setup["dual"], "--classes", "sky, grass",
                    "--out", tmp_path / "out")  # fmt: skip
    assert proc.returncode == 2
    gone = setup["root"] / "gone"
    assert proc.stderr.strip() == (
        f"dpseg: error: --bank is missing and checkpoint {setup['dual']} records no bank that "
        f"exists ({gone}); pass --bank DIR built with the model's encoder"
    )
    assert not (tmp_path / "out").exists()


def test_encoder_weights_from_a_local_file(tmp_path):
    """A model built on local CLIP weights finds its prompt encoder only with --encoder-weights."""
    import torch

    from promptbank.encoder import load_encoder, save_encoder
    from promptbank.world.shapes import render_scene
    from segmodel import build_model
    from segmodel.checkpoint import save_model

    weights = save_encoder(load_encoder("tiny", random_init=True, seed=5), tmp_path / "enc",
                           arch="dpseg-tiny-convnext")  # fmt: skip
    torch.manual_seed(0)
    model = build_model("tiny", encoder=load_encoder("tiny", weights), image_size=64, **TEXT_ONLY)
    checkpoint = save_model(model, tmp_path / "local.safetensors", extra={"bank": ""})
    image = tmp_path / "scene.png"
    Image.fromarray(render_scene(4, 64)[0]).save(image)
    args = [image, "--checkpoint", checkpoint, "--classes", "sky, grass", "--device", "cpu"]
    missing = _segment(*args, "--out", tmp_path / "a")
    assert missing.returncode == 1 and "--encoder-weights" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    found = _segment(*args, "--out", tmp_path / "b", "--encoder-weights", weights)
    assert found.returncode == 0, found.stderr
    assert (tmp_path / "b" / "overlays" / "scene.png").is_file()
