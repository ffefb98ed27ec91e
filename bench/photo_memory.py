"""Peak RSS of `dpseg segment` on a 12-megapixel photo vs a 0.3-megapixel one, per model size.

Each run is its own `dpseg segment` process (peak RSS from wait4, the kernel's own figure), on a
random-weight model saved as a run folder with a procedural bank of its encoder: tiny
(`dpseg-tiny-convnext`, 64 px input) and base (the DPSeg-B architecture, convnext_base_w_320,
768 px input, 80 templates). The 12 MP photo is a 4000 x 3000 JPEG stored sideways (EXIF 6), so
the outputs are 3000 x 4000. One line per figure: the ratio and both sides.

Usage: .venv/bin/python bench/photo_memory.py [--models tiny base] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

CLASSES = "sky, grass, red circle"
DPSEG = Path(sys.executable).with_name("dpseg")


def make_model(root: Path, preset: str) -> Path:
    """A random-weight DPSeg of `preset` saved as root/run, recording a 3-class bank."""
    import torch

    from promptbank.build import build_bank
    from promptbank.encoder import load_encoder
    from segmodel import build_model, save_model

    root.mkdir(parents=True, exist_ok=True)
    encoder_name = {"tiny": "tiny", "base": "convnext_base_w_320"}[preset]
    encoder = load_encoder(encoder_name, random_init=True)
    model = build_model(preset, encoder=encoder)
    vocab = root / "three.txt"
    vocab.write_text(CLASSES.replace(", ", "\n") + "\n")
    bank = build_bank(
        vocab, root / "bank", generator="procedural", encoder=encoder,
        templates=model.config.num_templates, resolution=64, steps=1, device="cpu",
        encode_size=64, progress=False,
    )  # fmt: skip
    torch.manual_seed(0)
    save_model(model, root / "run" / "model.safetensors", extra={"bank": str(bank)})
    return root / "run"


def make_photos(root: Path) -> dict[str, Path]:
    from promptbank.world.shapes import render_scene

    scene = Image.fromarray(render_scene(3, 256)[0])
    exif = Image.Exif()
    exif[0x0112] = 6
    photos = {"12 MP": root / "phone.jpg", "0.3 MP": root / "small.jpg"}
    scene.resize((4000, 3000), Image.Resampling.BICUBIC).save(photos["12 MP"], quality=90,
                                                              exif=exif)  # fmt: skip
    scene.resize((640, 480), Image.Resampling.BICUBIC).save(photos["0.3 MP"], quality=90)
    return photos


def peak_rss(run: Path, photo: Path, out: Path, threads: int) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one `dpseg segment` process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(DPSEG), "segment", str(photo), "--checkpoint", str(run), "--classes", CLASSES,
         "--out", str(out), "--device", "cpu", "-q"],
        env=env, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"dpseg segment failed: {proc.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "base"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dpseg-photo-bench-"))
    try:
        photos = make_photos(tmp)
        for preset in args.models:
            run = make_model(tmp / preset, preset)
            rss = {
                k: peak_rss(run, p, tmp / preset / "out", args.threads) for k, p in photos.items()
            }
            (big, t_big), (small, t_small) = rss["12 MP"], rss["0.3 MP"]
            print(
                f"peak RSS, dpseg segment, {preset} model: 12 MP / 0.3 MP photo = "
                f"{big / small:.2f} ({big:.0f} MiB vs {small:.0f} MiB; "
                f"wall {t_big:.1f} s vs {t_small:.1f} s)",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
