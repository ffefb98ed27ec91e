"""The README's Python quickstart runs as written, on a tiny model, bank and photo made here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "README.md should hold exactly one python block (the quickstart)"
    return blocks[0]


def test_readme_python_quickstart_runs(tmp_path, monkeypatch, capsys):
    import torch

    from promptbank.build import build_bank
    from promptbank.world.shapes import render_scene
    from segmodel import build_model, save_model

    monkeypatch.chdir(tmp_path)  # the block's paths: runs/demo/dual, runs/demo/bank, photo.jpg
    vocab = tmp_path / "three.txt"
    vocab.write_text("sky\ngrass\nred circle\n")
    build_bank(vocab, "runs/demo/bank", generator="procedural", encoder="tiny", templates=2,
               images_per_template=1, resolution=64, steps=2, device="cpu",
               progress=False)  # fmt: skip
    torch.manual_seed(0)
    save_model(build_model("tiny", image_size=64), "runs/demo/dual/model.safetensors")
    exif = Image.Exif()
    exif[0x0112] = 8  # a phone photo stored sideways
    Image.fromarray(render_scene(1, 96)[0][:, :72]).save("photo.jpg", exif=exif)  # 72 x 96

    exec(compile(readme_python(), str(README), "exec"), {"__name__": "readme"})

    printed = capsys.readouterr().out
    assert printed.startswith("(72, 96) [")  # (H, W): the photo as a viewer shows it
    picture = Image.open("overlay.png")
    assert picture.height == 72 and picture.width > 96  # the photo plus its legend
    assert np.asarray(picture).std() > 0
