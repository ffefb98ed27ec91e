"""`dpseg demo`: the main job on the embedded default (the shapes world), end to end on a CPU."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Folder for every output."),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda:0."),
) -> None:
    """Run the shapes-world demo end to end and print what it measured.

    Example: dpseg demo --out runs/demo
    """
    import json
    import time

    import torch

    from promptbank.encoder import load_encoder
    from promptbank.generator import load_generator

    out.mkdir(parents=True, exist_ok=True)
    classes = ["red circle", "blue square", "green triangle", "grass", "sky", "water"]
    prompts = [f"a photo of a {name}." for name in classes]
    start = time.perf_counter()
    generator = load_generator("tiny-sd", device=device)
    images = generator.generate(
        prompts, list(range(len(prompts))), resolution=64, steps=2, guidance=7.5
    )
    encoder = load_encoder("tiny", device=device)
    with torch.no_grad():
        visual = torch.nn.functional.normalize(
            encoder.encode_image(encoder.preprocess(images)).pooled, dim=-1
        )
        text = torch.nn.functional.normalize(encoder.encode_text(prompts), dim=-1)
    similarity = (text @ visual.T).tolist()  # (C, C) text-to-image cosine
    sheet = _sheet(images)
    sheet.save(out / "generated.png")
    result = {
        "classes": classes,
        "text_image_cosine": similarity,
        "seconds": round(time.perf_counter() - start, 2),
    }
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out / "results.json")
    typer.echo(
        f"generated {len(images)} images with tiny-sd, encoded with tiny CLIP "
        f"in {result['seconds']} s -> {out}/generated.png, {out}/results.json"
    )


def _sheet(images):
    from PIL import Image

    w, h = images[0].size
    sheet = Image.new("RGB", (w * len(images), h))
    for i, image in enumerate(images):
        sheet.paste(image, (i * w, 0))
    return sheet
