"""Accuracy of the inference II shortcuts against the paper's way, on the shapes world.

    .venv/bin/python bench/model_refine_accuracy.py [--steps 400] [--out /tmp/dpseg_bench]

Builds a shapes bank (procedural generator, tiny encoder), trains the tiny preset on the seen
classes for `--steps` steps (cached in --out), then scores mIoU on the val split (all classes,
unseen ones included) with inference I and every inference II setting, side by side.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from promptbank.encoder import load_encoder
from promptbank.world.shapes import ALL_CLASSES, SEEN_CLASSES, UNSEEN_CLASSES
from segmodel import PromptSet, RefineSettings, build_model, dpseg_loss, load_model, save_model
from segmodel.datasets.shapes import ShapesDataset
from segmodel.metrics import ConfusionMatrix
from segmodel.model.inference import predict

TEMPLATES = 4


def shapes_bank(root: Path):
    from promptbank.build import build_bank
    from promptbank.reader import open_bank
    from promptbank.vocab import vocabulary_from_names

    vocab = vocabulary_from_names(list(ALL_CLASSES), name="shapes")
    return open_bank(
        build_bank(
            vocab,
            root,
            generator="procedural",
            encoder="tiny",
            templates=TEMPLATES,
            resolution=64,
            steps=2,
            device="cpu",
            progress=False,
        )
    )


def batches(dataset, encoder, size: int, batch: int, start: int = 0):
    """Yield (images (B, 3, S, S) normalised, labels (B, S, S) int64) forever from `start`."""
    i = start
    while True:
        items = [dataset[(i + j) % len(dataset)] for j in range(batch)]
        i += batch
        images = encoder.preprocess([it["image"] for it in items], size)
        yield images, torch.from_numpy(np.stack([it["label"] for it in items]))


def train(bank, encoder, steps: int, out: Path):
    torch.manual_seed(0)
    model = build_model("tiny", encoder=encoder, num_templates=TEMPLATES).train()
    prompts = PromptSet.from_bank(bank, list(SEEN_CLASSES))
    remap = torch.full((256,), 255, dtype=torch.long)  # ALL_CLASSES index -> seen index
    for i, name in enumerate(SEEN_CLASSES):
        remap[ALL_CLASSES.index(name)] = i
    groups = [
        {"params": model.decoder_parameters(), "lr": 1e-3},
        {"params": model.encoder_parameters(), "lr": 1e-5},
    ]
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    data = batches(ShapesDataset("train", size=128, length=2000), encoder, 128, 4)
    start = time.process_time()
    for step in range(steps):
        images, labels = next(data)
        loss = dpseg_loss(model(images, prompts), remap[labels])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            rate = (step + 1) / (time.process_time() - start)
            print(f"step {step} loss {loss.item():.4f} ({rate:.1f} it/s)", flush=True)
    save_model(model, out)
    return model.eval()


def evaluate(model, bank, encoder, refine, inference: int, images: int) -> dict:
    prompts = PromptSet.from_bank(bank, list(ALL_CLASSES))
    matrix = ConfusionMatrix(len(ALL_CLASSES), class_names=list(ALL_CLASSES))
    data = batches(ShapesDataset("val", size=128, length=images), encoder, 128, 4)
    seconds = 0.0
    for _ in range(images // 4):
        x, labels = next(data)
        start = time.process_time()
        probs, _ = predict(model, x, prompts, inference=inference, refine=refine, encoder=encoder)
        seconds += time.process_time() - start
        up = F.interpolate(probs, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        for pred, gt in zip(up.argmax(1).numpy(), labels.numpy()):
            matrix.update(pred, gt)
    result = matrix.compute()
    iou = {k: v["IoU"] for k, v in result["per_class"].items() if v["IoU"] is not None}
    unseen = [iou[c] for c in UNSEEN_CLASSES if c in iou]
    return {"mIoU": result["mIoU"], "unseen": float(np.mean(unseen)), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("/tmp/dpseg_bench"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    encoder = load_encoder("tiny")
    bank = shapes_bank(args.out / f"shapes_bank_t{TEMPLATES}")
    ckpt = args.out / f"tiny_shapes_{args.steps}.safetensors"
    model = load_model(ckpt) if ckpt.is_file() else train(bank, encoder, args.steps, ckpt)
    rows = {
        "I (one pass)": (1, None),
        "II paper (crops @S, full re-decode)": (2, RefineSettings(source="crops")),
        "II crops @64": (2, RefineSettings(source="crops", crop_size=64)),
        "II crops, no background mask": (2, RefineSettings(mask_background=False)),
        "II region @S (one frozen pass)": (2, RefineSettings(source="region")),
        "II region @S/2": (2, RefineSettings(source="region", crop_size=64)),
        "II features (no extra pass)": (2, RefineSettings(source="features")),
        "II features, re-decode detected": (
            2,
            RefineSettings(source="features", redecode="detected"),
        ),
        "II crops, min area 1%": (2, RefineSettings(min_area=0.01)),
    }
    print(f"tiny, shapes val {args.images} images, {args.steps} training steps")
    print(f"{'setting':40s} {'mIoU':>6s} {'unseen':>7s} {'time x':>6s}")
    base = None
    for label, (inference, refine) in rows.items():
        r = evaluate(model, bank, encoder, refine, inference, args.images)
        base = base or r["seconds"]
        print(
            f"{label:40s} {r['mIoU']:6.2f} {r['unseen']:7.2f} {r['seconds'] / base:6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
