"""`dpseg segment` on real image files: outputs, every bad-image case, the text-only fallback.

One real tiny bank (4 shapes classes, procedural generator, tiny encoder) and one untrained tiny
DPSeg saved as a checkpoint serve every test; the model's quality does not matter here.
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

from cli.segment import SegmentUsageError, _class_names
from segmodel.photo import PhotoRefused, read_photo

DPSEG = Path(sys.executable).with_name("dpseg")
CLASSES = ["red circle", "sky", "grass", "yellow star"]


@pytest.fixture(scope="module")
def model_and_bank(tmp_path_factory):
    """(checkpoint, bank): a 3-class bank (no 'yellow star') and an untrained 64 px model."""
    import torch

    from promptbank.build import build_bank
    from segmodel import build_model
    from segmodel.checkpoint import save_model

    root = tmp_path_factory.mktemp("segment")
    vocab = root / "three.txt"
    vocab.write_text("red circle\nsky\ngrass\n")
    bank = build_bank(
        vocab, root / "bank", generator="procedural", encoder="tiny", templates=2,
        images_per_template=1, resolution=64, steps=2,
        device="cpu", progress=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model("tiny", image_size=64)
    checkpoint = save_model(model, root / "model.safetensors", extra={"bank": str(bank)})
    return checkpoint, bank


def _scene(size: int = 96) -> np.ndarray:
    from promptbank.world.shapes import render_scene

    return render_scene(3, size)[0]  # (H, W, 3) uint8


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """One file per case: good, grayscale, RGBA, 16-bit, EXIF-rotated, tiny, huge, unreadable."""
    folder = tmp_path_factory.mktemp("images")
    scene = _scene()
    paths = {name: folder / f"{name}.png" for name in ("good", "gray", "rgba", "g16", "tiny")}
    Image.fromarray(scene).save(paths["good"])
    Image.fromarray(scene).convert("L").save(paths["gray"])
    rgba = np.dstack([scene, np.full(scene.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(paths["rgba"])
    Image.fromarray(scene[..., 0].astype(np.uint16) * 257).save(paths["g16"])
    Image.fromarray(scene[:8, :8]).save(paths["tiny"])
    paths["rotated"] = folder / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the viewer turns it 90 degrees
    Image.fromarray(scene[:, :60]).save(paths["rotated"], exif=exif)  # 60 wide, 96 high
    paths["huge"] = folder / "huge.png"
    Image.fromarray(np.tile(scene, (1, 4, 1))).save(paths["huge"])  # 384 x 96
    paths["broken"] = folder / "broken.jpg"
    paths["broken"].write_bytes(b"\xff\xd8 this is not really a jpeg")
    return paths


def test_bad_images_are_converted_or_refused(images):
    good = read_photo(images["good"])
    assert good.image.mode == "RGB" and good.notes == [] and good.working is good.image
    for name, expected in [("gray", "grayscale"), ("rgba", "alpha"), ("g16", "16-bit")]:
        photo = read_photo(images[name])
        assert photo.image.mode == "RGB" and photo.size == (96, 96)
        assert any(expected in n for n in photo.notes), (name, photo.notes)
    rotated = read_photo(images["rotated"])
    assert rotated.stored_size == (60, 96) and rotated.size == (96, 60)
    assert any("EXIF orientation 6" in n for n in rotated.notes)
    huge = read_photo(images["huge"], max_side=200)
    assert huge.size == (384, 96) and huge.working.size == (200, 50)
    assert "segmented at 200x50, outputs at 384x96" in huge.notes
    assert huge.full_size(np.ones((50, 200), np.int64), 3).shape == (96, 384)
    with pytest.raises(PhotoRefused, match="8x8 pixels; expected at least 16"):
        read_photo(images["tiny"])
    with pytest.raises(PhotoRefused, match="not a readable image"):
        read_photo(images["broken"])
    with pytest.raises(PhotoRefused, match="no such file"):
        read_photo(images["good"].with_name("missing.png"))


def test_class_options_are_checked():
    assert _class_names("sky, grass ,sand", None) == ["sky", "grass", "sand"]
    assert _class_names(None, "shapes")[:2] == ["red circle", "green triangle"]
    with pytest.raises(SegmentUsageError, match="exactly one of --classes"):
        _class_names("sky", "shapes")
    with pytest.raises(SegmentUsageError, match="given twice"):
        _class_names("sky, sky", None)


def _segment(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(DPSEG), "segment", *map(str, args)], capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip


def test_batch_with_bad_files_and_a_class_missing_from_the_bank(model_and_bank, images, tmp_path):
    checkpoint, bank = model_and_bank
    out = tmp_path / "out"
    order = ["good", "broken", "gray", "rgba", "g16", "rotated", "tiny", "huge"]
    proc = _segment(
        *[images[n] for n in order], "--checkpoint", checkpoint, "--classes", ", ".join(CLASSES),
        "--out", out, "--max-side", "200", "--inference", "2", "--refine", "paper",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr.splitlines()
    assert any("warning" in line and "'yellow star'" in line and "text prompts" in line
               for line in err)  # fmt: skip
    assert any(line.startswith("dpseg: ") and "broken.jpg" in line for line in err)
    assert any("tiny.png" in line and "8x8" in line for line in err)
    assert err[-1] == "dpseg: segmented 6 of 8 images; 2 failed"
    for name in ("good", "gray", "rgba", "g16", "rotated", "huge"):
        record = json.loads((out / f"{name}.json").read_text())
        labels = np.asarray(Image.open(out / "labels" / f"{name}.png"))
        assert labels.shape == (record["size"][1], record["size"][0])
        assert labels.max() < len(CLASSES)
        assert [c["name"] for c in record["classes"]] == CLASSES
        assert sum(c["share"] for c in record["classes"]) == pytest.approx(1.0)
        assert record["text_only"] == ["yellow star"] and record["inference"] == 2
        assert record["refine"] == "paper"
        overlay = Image.open(out / "overlays" / f"{name}.png")
        assert overlay.width > record["size"][0] and overlay.mode == "RGB"
    huge = json.loads((out / "huge.json").read_text())
    assert huge["size"] == [384, 96] and huge["segmented_size"] == [200, 50]  # the photo's size
    assert json.loads((out / "rotated.json").read_text())["size"] == [96, 60]
    assert not (out / "broken.json").exists() and not list(out.rglob(".*tmp*"))


def test_generate_adds_missing_classes_with_the_bank_recipe(model_and_bank, images, tmp_path):
    checkpoint, bank = model_and_bank
    out = tmp_path / "out"
    proc = _segment(
        images["good"], "--checkpoint", checkpoint, "--bank", bank, "--classes",
        ", ".join(CLASSES), "--generate", "--out", out, "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr and "generating 1 class(es)" in proc.stderr
    record = json.loads((out / "good.json").read_text())
    assert record["text_only"] == []
    from promptbank.reader import open_bank

    grown = open_bank(record["bank"])
    assert grown.classes == ["red circle", "sky", "grass", "yellow star"]
    assert grown.bank_id == open_bank(bank).bank_id  # same recipe: old classes were copied


def test_checkpoint_may_be_the_run_folder(model_and_bank, images, tmp_path):
    checkpoint, _ = model_and_bank  # saved as FOLDER/model.safetensors, as `dpseg train` does
    out = tmp_path / "out"
    proc = _segment(images["good"], "--checkpoint", checkpoint.parent, "--classes", "sky, grass",
                    "--out", out, "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "good.json").read_text())["checkpoint"] == str(checkpoint)
    from segmodel.checkpoint import read_header
    from segmodel.errors import CheckpointError

    step = tmp_path / "stopped" / "checkpoints" / "step-000010"  # a run that never finished
    step.mkdir(parents=True)
    (step / "model.safetensors").write_bytes(checkpoint.read_bytes())
    with pytest.raises(CheckpointError) as caught:
        read_header(tmp_path / "stopped")  # what every --checkpoint goes through
    assert str(caught.value) == (
        f"run folder {tmp_path / 'stopped'} holds no model.safetensors: the run "
        f"stopped before its last step; pass its newest checkpoint {step / 'model.safetensors'}"
    )
    assert read_header(step / "model.safetensors")["format"] == "dpseg-model"


def test_missing_checkpoint_is_one_line(images, tmp_path):
    proc = _segment(images["good"], "--classes", "sky", "--out", tmp_path)
    assert proc.returncode == 2  # a usage error
    assert proc.stderr.strip() == (
        "dpseg: error: --checkpoint is missing: pass a model from `dpseg train` "
        "(or use --method vip)"
    )


def test_vip_method_needs_no_checkpoint(images, tmp_path):
    out = tmp_path / "vip"
    proc = _segment(images["good"], "--method", "vip", "--backbone", "tiny", "--classes",
                    "sky, grass, red circle", "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads((out / "good.json").read_text())
    assert record["method"] == "vip" and record["backbone"] == "tiny"
    assert [c["name"] for c in record["classes"]] == ["sky", "grass", "red circle"]
    assert (out / "labels" / "good.png").is_file() and "segmented 1 image(s)" in proc.stdout


def test_real_photographs_keep_their_own_size(model_and_bank, tmp_path):
    """A 12-megapixel phone JPEG stored sideways, a CMYK JPEG, a palette PNG with transparency."""
    checkpoint, _ = model_and_bank
    scene = Image.fromarray(_scene())
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 4000 x 3000, shown 3000 x 4000
    scene.resize((4000, 3000), Image.Resampling.BILINEAR).save(
        tmp_path / "phone.jpg", quality=85, exif=exif
    )
    scene.convert("CMYK").save(tmp_path / "cmyk.jpg")
    palette = scene.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.save(tmp_path / "palette.png", transparency=0)
    assert Image.open(tmp_path / "palette.png").info.get("transparency") == 0
    out = tmp_path / "out"
    names = ["phone.jpg", "cmyk.jpg", "palette.png"]
    proc = _segment(*[tmp_path / n for n in names], "--checkpoint", checkpoint, "--classes",
                    "sky, grass, red circle", "--out", out, "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    expected = {
        "phone": ((3000, 4000), "segmented at 1536x2048, outputs at 3000x4000"),
        "cmyk": ((96, 96), "CMYK converted to RGB"),
        "palette": ((96, 96), "alpha composited on white"),
    }
    for stem, (size, note) in expected.items():
        record = json.loads((out / f"{stem}.json").read_text())
        assert tuple(record["size"]) == size and note in record["notes"], record["notes"]
        assert Image.open(out / "labels" / f"{stem}.png").size == size
        overlay = Image.open(out / "overlays" / f"{stem}.png")
        assert overlay.height == size[1] and overlay.width > size[0]
    assert json.loads((out / "phone.json").read_text())["original_size"] == [4000, 3000]
