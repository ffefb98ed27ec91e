"""Evaluation throughput in images/s, measured side by side in one run.

1. `ConfusionMatrix.update` on in-memory maps (ADE-150- and ADE-847-sized class counts).
2. `dpseg eval --pred` end to end on synthetic PNG label maps: 1 vs 2 loader threads.
3. Model mode (`evaluate_model` + `Segmenter`) with a random tiny DPSeg on the shapes world.

Usage: .venv/bin/python bench/eval_throughput.py [--images 48] [--side 512] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from segmodel.evaluation import score_folders
from segmodel.metrics import ConfusionMatrix


def _maps(n: int, side: int, classes: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    h, w = side, side * 4 // 3 // 8 * 8
    out = []
    for _ in range(n):
        gt = rng.integers(0, classes, (h // 8, w // 8)).repeat(8, 0).repeat(8, 1)  # blocky GT
        noise = rng.random((h, w)) < 0.2
        pred = np.where(noise, rng.integers(0, classes, (h, w)), gt)
        gt = np.where(rng.random((h, w)) < 0.05, 255 if classes < 255 else 65535, gt)
        out.append((pred, gt))
    return out


def bench_update(n: int, side: int) -> dict[str, float]:
    rates = {}
    for classes in (150, 847):
        pairs = _maps(n, side, classes)
        ignore = 255 if classes < 255 else 65535
        cm = ConfusionMatrix(classes, ignore)
        start = time.perf_counter()
        for pred, gt in pairs:
            cm.update(pred, gt)
        rates[f"update, {classes} classes"] = n / (time.perf_counter() - start)
        cm.compute("detectron2")
    return rates


def bench_folders(n: int, side: int) -> dict[str, float]:
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        pred_dir, gt_dir = Path(tmp, "pred"), Path(tmp, "gt")
        pred_dir.mkdir()
        gt_dir.mkdir()
        for i, (pred, gt) in enumerate(_maps(n, side, 150)):
            Image.fromarray(pred.astype(np.uint8)).save(pred_dir / f"{i:05d}.png")
            Image.fromarray(gt.astype(np.uint8)).save(gt_dir / f"{i:05d}.png")
        names = [f"c{i}" for i in range(150)]
        for workers in (1, 2):
            start = time.perf_counter()
            score_folders(pred_dir, gt_dir, names, workers=workers, progress=False)
            rates[f"eval --pred, PNG, {workers} thread(s)"] = n / (time.perf_counter() - start)
    return rates


def bench_model(n: int) -> dict[str, float]:
    """dpseg eval --checkpoint path: random tiny DPSeg + a shapes bank, shapes val at 128 px."""
    import torch

    from promptbank.build import build_bank
    from segmodel import Segmenter, build_model
    from segmodel.datasets import open_dataset
    from segmodel.evaluation import evaluate_model

    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        bank = build_bank("shapes", Path(tmp, "bank"), generator="procedural", encoder="tiny",
                          templates=2, images_per_template=1, resolution=64, steps=2,
                          device="cpu", progress=False)  # fmt: skip
        torch.manual_seed(0)
        segmenter = Segmenter(build_model("tiny", num_templates=2), bank, "cpu")
        data = open_dataset("shapes", None, split="val", length=n, size=128)
        for inference in (1, 2):

            def predict(image, inference=inference):
                return segmenter.segment(image, data.classes, inference=inference).labels

            predict(data[0]["image"])  # warm-up
            start = time.perf_counter()
            evaluate_model(predict, data, progress=False)
            rates[f"model mode, tiny, shapes 128 px, inference {inference}"] = n / (
                time.perf_counter() - start
            )
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rates = {}
    rates.update(bench_update(args.images, args.side))
    rates.update(bench_folders(args.images, args.side))
    rates.update(bench_model(min(args.images, 16)))
    base = next(iter(rates.values()))
    print(f"{args.images} label maps of {args.side}x{args.side * 4 // 3 // 8 * 8} px; "
          f"{torch.get_num_threads()} torch thread(s)")  # fmt: skip
    for name, rate in rates.items():
        print(f"{name:<45} {rate:8.1f} images/s  ({rate / base:5.2f}x the first row)")


if __name__ == "__main__":
    main()
