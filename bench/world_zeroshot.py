"""Zero-shot report of the shapes world's CLIPs: the pretrained `tiny-world` next to the random `tiny`.

Prints top-1 accuracy on single-object renders (seen classes, the 4 unseen ones, and the colour x
shape pairs held out of the caption corpus, among the 13 classes and among all 101 concepts) and
the pooled visual-prompt cosines of the 13 classes as a bank stores them; writes both cosine
matrices side by side as OUT/prompt_cosines.png and everything as OUT/world_zeroshot.json.

    .venv/bin/python bench/world_zeroshot.py --per-class 30 --out /tmp/world_zeroshot
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def heatmap(matrix: np.ndarray, labels: list[str], title: str, cell: int = 22) -> Image.Image:
    """A (C, C) cosine matrix in [-1, 1] as an image: white 0 ... dark red 1, blue below 0."""
    c = len(labels)
    margin = 96
    img = Image.new("RGB", (margin + c * cell + 8, margin + c * cell + 8), "white")
    draw = ImageDraw.Draw(img)
    draw.text((4, 4), title, fill="black")
    for i in range(c):
        draw.text((4, margin + i * cell + 5), labels[i][:14], fill="black")
        draw.text((margin + i * cell + 4, margin - 14 - 10 * (i % 2)), labels[i][:4], fill="black")
        for j in range(c):
            v = float(matrix[i, j])
            shade = (255, int(255 * (1 - v)), int(255 * (1 - v))) if v >= 0 else (
                int(255 * (1 + v)), int(255 * (1 + v)), 255)  # fmt: skip
            x, y = margin + j * cell, margin + i * cell
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=shade)
    return img


def off_diagonal(matrix: np.ndarray, labels: list[str]) -> tuple[float, str, float]:
    """Mean off-diagonal cosine, and the most similar pair of different classes."""
    m = matrix.copy()
    np.fill_diagonal(m, -np.inf)
    i, j = np.unravel_index(np.argmax(m), m.shape)
    mean = float(matrix[~np.eye(len(labels), dtype=bool)].mean())
    return mean, f"{labels[i]} / {labels[j]}", float(matrix[i, j])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=30, help="test renders per class")
    parser.add_argument("--out", type=Path, default=Path("/tmp/world_zeroshot"))
    parser.add_argument("--encoders", nargs="+", default=["tiny-world", "tiny"])
    args = parser.parse_args()

    import torch

    from promptbank.encoder import load_encoder
    from promptbank.world.zeroshot import prompt_cosines, zero_shot

    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    record, pictures = {}, []
    print(
        "| encoder | size | group | seen | unseen | held-out pairs |\n|---|---|---|---:|---:|---:|"
    )
    for name in args.encoders:
        encoder = load_encoder(name)
        report = zero_shot(encoder, per_class=args.per_class)
        for size, groups in report.items():
            for group, s in groups.items():
                held = f"{100 * s['held-out pairs']:.0f}" if "held-out pairs" in s else "-"
                print(f"| {name} | {size} | {group} | {100 * s['seen']:.0f} | "
                      f"{100 * s['unseen']:.0f} | {held} |", flush=True)  # fmt: skip
        cosines = prompt_cosines(encoder)
        labels = cosines["classes"]
        for key in ("visual", "visual_s4"):
            matrix = np.asarray(cosines[key])
            mean, pair, top = off_diagonal(matrix, labels)
            print(
                f"# {name} {key}: mean off-diagonal cosine {mean:.2f}; closest pair {pair} {top:.2f}"
            )
        vis = np.asarray(cosines["visual"])
        print(f"# {name} visual: cyan diamond / green triangle "
              f"{vis[labels.index('cyan diamond'), labels.index('green triangle')]:.2f}")  # fmt: skip
        pictures.append(heatmap(vis, labels, f"{name}: pooled visual-prompt cosines"))
        record[name] = {"zero_shot": report, "prompt_cosines": cosines}
    sheet = Image.new(
        "RGB", (sum(p.width for p in pictures), max(p.height for p in pictures)), "white"
    )
    x = 0
    for p in pictures:
        sheet.paste(p, (x, 0))
        x += p.width
    sheet.save(args.out / "prompt_cosines.png")
    (args.out / "world_zeroshot.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"-> {args.out / 'prompt_cosines.png'}, {args.out / 'world_zeroshot.json'}")


if __name__ == "__main__":
    main()
