"""Category early rejection and class chunking: time and peak memory at 150 and 847 classes.

    .venv/bin/python bench/model_rejection.py                 # base architecture at 384
    .venv/bin/python bench/model_rejection.py --size 768      # the real input size (slow on CPU)

Each configuration runs in its own process (peak RSS is per process), same image and prompts.
Random weights: which classes early rejection keeps is arbitrary (it keeps almost all), so the
kept counts per stage are printed. `--shapes` measures a trained model instead: the tiny preset
trained on the shapes world (bench/model_refine_accuracy.py, cached in --out), segmenting shapes
val scenes with a vocabulary of the 13 shapes classes plus ADE-847 names as distractors (text-only
prompts); it also reports how many pixels keep their label under rejection. Times are CPU
seconds of the decode (robust to other work sharing the machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from decoder_setup import ENCODERS, random_prompts

CONFIGS = [  # (label, topk, chunk)
    ("full, one chunk", 0, 0),
    ("full, chunks of 64", 0, 64),
    ("rejection k=8, chunks of 64", 8, 64),
]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def random_setup(preset: str, size: int, classes: int):
    """Random-weight model, random prompts, one random image."""
    import torch

    from promptbank.encoder import load_encoder
    from segmodel import build_model

    torch.manual_seed(0)
    encoder = load_encoder(ENCODERS[preset], random_init=True)
    model = build_model(preset, encoder=encoder, image_size=size).eval()
    prompts = random_prompts(
        encoder, classes, model.config.num_templates, torch.Generator().manual_seed(0)
    )
    image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    return model, prompts, image


def shapes_setup(out: Path, classes: int, images: int = 4):
    """The shapes-trained tiny model, shapes + ADE-847 distractor prompts, shapes val scenes."""
    from model_refine_accuracy import shapes_bank, train

    from promptbank.encoder import load_encoder
    from promptbank.vocab import load_vocabulary
    from promptbank.world.shapes import ALL_CLASSES
    from segmodel import PromptSet, load_model
    from segmodel.datasets.shapes import ShapesDataset

    encoder = load_encoder("tiny")
    out.mkdir(parents=True, exist_ok=True)
    bank = shapes_bank(out / "shapes_bank_t4")
    ckpt = out / "tiny_shapes_300.safetensors"
    model = load_model(ckpt) if ckpt.is_file() else train(bank, encoder, 300, ckpt)
    extra = [c for c in load_vocabulary("ade847").classes if not bank.has(c)]
    names = list(ALL_CLASSES) + extra[: classes - len(ALL_CLASSES)]
    prompts = PromptSet.from_bank(bank, names, text_encoder=encoder)
    data = ShapesDataset("val", size=128, length=images)
    batch = encoder.preprocess([data[i]["image"] for i in range(images)], 128)
    gt = np.stack([data[i]["label"] for i in range(images)])  # (N, 128, 128)
    return model.eval(), prompts, batch, gt


def shapes_miou(logits, gt) -> float:
    """mIoU over the 13 shapes classes (distractor predictions count as misses)."""
    import torch.nn.functional as F

    from promptbank.world.shapes import ALL_CLASSES
    from segmodel.metrics import ConfusionMatrix

    up = F.interpolate(logits, size=gt.shape[-2:], mode="bilinear", align_corners=False)
    matrix = ConfusionMatrix(len(ALL_CLASSES))
    for pred, label in zip(up.argmax(1).numpy(), gt):
        matrix.update(pred, label)
    return matrix.compute()["mIoU"]


def worker(args, classes: int, topk: int, chunk: int) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    gt = None
    if args.shapes:
        model, prompts, image, gt = shapes_setup(args.out, classes, images=16)
    else:
        model, prompts, image = random_setup(args.preset, args.size, classes)
    with torch.no_grad():
        features = model.encode(image)
        baseline = rss_mb()
        start = time.process_time()
        out = model.decode(features, prompts, topk=topk, chunk=chunk)
        seconds = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    final = len(out.kept) if out.kept is not None else classes
    # classes an image still decodes at heads 1 and 2 (kept after heads 0 and 1): those whose
    # auxiliary logits are not the rejection fill; per-image means (each image keeps its own)
    fill = model.config.reject_logit
    kept = [
        round((aux != fill).flatten(2).any(2).sum(1).float().mean().item()) for aux in out.aux[1:]
    ]
    labels = out.logits.argmax(1).flatten().tolist()
    return {
        "miou": None if gt is None else shapes_miou(out.logits, gt),
        "labels": labels,
        "seconds": seconds,
        "peak_mb": peak,
        "baseline_mb": baseline,
        "kept": [*kept, final],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--classes", type=int, nargs="+", default=[150, 847])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shapes", action="store_true", help="trained tiny model, shapes world")
    parser.add_argument("--out", type=Path, default=Path("/tmp/dpseg_bench"))
    parser.add_argument("--worker", nargs=3, type=int, metavar=("CLASSES", "TOPK", "CHUNK"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args, *args.worker)))
        return
    what = (
        "tiny trained on the shapes world, 16 val scenes at 128"
        if args.shapes
        else (f"{args.preset} at {args.size}, random weights, one image")
    )
    print(f"{what}; decoder only (images encoded once per run), {args.threads} threads")
    print(
        f"{'classes':>7s} {'setting':30s} {'CPU s':>8s} {'speed-up':>8s} "
        f"{'peak MB':>8s} {'over base':>9s} {'same px':>7s} {'mIoU':>6s}  kept after heads 0/1/2"
    )
    for classes in args.classes:
        full = None
        for label, topk, chunk in CONFIGS:
            cmd = [
                sys.executable,
                __file__,
                "--preset",
                args.preset,
                "--size",
                str(args.size),
                "--threads",
                str(args.threads),
                "--out",
                str(args.out),
                *(["--shapes"] if args.shapes else []),
                "--worker",
                str(classes),
                str(topk),
                str(chunk),
            ]
            run = subprocess.run(cmd, check=True, capture_output=True, text=True)
            r = json.loads(run.stdout.strip().splitlines()[-1])
            full = full or r
            same = sum(a == b for a, b in zip(r["labels"], full["labels"])) / len(r["labels"])
            over = r["peak_mb"] - r["baseline_mb"]
            miou = "-" if r["miou"] is None else f"{r['miou']:.2f}"
            print(
                f"{classes:7d} {label:30s} {r['seconds']:8.2f} "
                f"{full['seconds'] / r['seconds']:8.2f} {r['peak_mb']:8.0f} {over:9.0f} "
                f"{100 * same:6.1f}% {miou:>6s}  "
                f"{'/'.join(map(str, r['kept']))}",  # after heads 0/1 per image (mean), union at the end
                flush=True,
            )


if __name__ == "__main__":
    main()
