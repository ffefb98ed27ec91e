"""Training-free mIoU on the shapes world (val split), VIP mode, random-weight encoders.

Rows: single names (plain: one query per class, max rule, no evolution), single names with VIP's
per-image machinery (saliency LSE + evolution), WordNet-expanded aliases distilled on a shapes
bank's generated images, and bank-seeded queries (the bank's visual prompts blended into the text
queries, and visual prompts alone). The bank is built here with the procedural generator and the
same encoder. mmseg protocol (IoU of classes never present nor predicted is NaN).

    .venv/bin/python bench/vip_shapes_eval.py --scenes 100 --out /tmp/vip_shapes
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def build(out: Path, encoder: str) -> Path:
    from promptbank.build import build_bank

    bank = out / f"bank_{encoder}"
    if not (bank / "manifest.json").is_file():
        build_bank(
            "shapes",
            bank,
            generator="procedural",
            encoder=encoder,
            templates=8,
            images_per_template=2,
            resolution=128,
            steps=2,
            device="cpu",
            progress=False,
        )
    return bank


def distilled_aliases(out: Path, bank: Path, backbone) -> Path:
    from promptbank.vocab import load_vocabulary
    from segmodel.vip.aliases import DistillSettings, bank_images, distill, expand, write_alias_file
    from segmodel.vip.wordnet import WordNet

    vocab = load_vocabulary("shapes")
    candidates = expand(vocab, wordnet=WordNet())
    settings = DistillSettings(image_size=128, max_images=8)
    kept, rows = distill(vocab, candidates, backbone, bank_images(bank, vocab.classes, 8), settings)
    path = write_alias_file(out / "shapes_aliases.txt", kept)
    n_cand = sum(len(c) for c in candidates) - len(candidates)
    n_kept = sum(len(k) for k in kept) - len(kept)
    print(f"# aliases: {n_cand} WordNet candidates, {n_kept} kept by distillation -> {path}")
    return path


def evaluate(seg, vocab, dataset) -> float:
    from segmodel.metrics import ConfusionMatrix

    cm = ConfusionMatrix(
        len(dataset.classes), ignore_index=dataset.ignore_index, class_names=dataset.classes
    )
    for i in range(len(dataset)):
        item = dataset[i]
        cm.update(seg.segment(item["image"], vocab, return_probs=False).labels, item["label"])
    return cm.compute("mmseg")["mIoU"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--backbones", nargs="+", default=["tiny"], help="NAME or NAME@MODE")
    parser.add_argument("--out", type=Path, default=Path("/tmp/vip_shapes"))
    args = parser.parse_args()
    import torch

    from promptbank.vocab import load_vocabulary
    from segmodel.datasets.shapes import ShapesDataset
    from segmodel.vip import VipSegmenter, VipSettings
    from segmodel.vip.backbones import load_backbone

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    dataset = ShapesDataset(split="val", size=128, length=args.scenes)
    single = load_vocabulary("shapes")
    base = VipSettings.preset("shapes")
    plain = {"aggregation": "max", "saliency": False, "evolve_steps": 0}
    print("| backbone | queries | mIoU (%) | s/image |\n|---|---|---|---|")
    for spec in args.backbones:  # NAME or NAME@MODE (dense mode: fcclip, proxy, clearclip)
        name, _, mode = spec.partition("@")
        backbone = load_backbone(name, mode=mode or "auto")
        bank = build(args.out, name) if name == "tiny" else None  # banks need a ConvNeXt encoder
        aliases = load_vocabulary(
            distilled_aliases(args.out, bank or build(args.out, "tiny"), backbone)
        )
        rows = [
            ("single names, plain", single, {}, plain),
            ("single names, VIP (LSE + evolution)", single, {}, {}),
            ("distilled WordNet aliases, plain max", aliases, {}, plain),
            ("distilled WordNet aliases, VIP", aliases, {}, {}),
        ]
        if bank is not None:
            rows += [
                ("bank-seeded (text + visual), VIP", single, {"bank": bank}, {}),
                (
                    "bank-seeded, visual weight 10, VIP",
                    single,
                    {"bank": bank},
                    {"bank_weight": 10.0},
                ),
                (
                    "bank-seeded, visual weight 10, no evolution",
                    single,
                    {"bank": bank},
                    {"bank_weight": 10.0, "evolve_steps": 0},
                ),
            ]
        for label, vocab, kwargs, overrides in rows:
            seg = VipSegmenter(backbone, device="cpu", settings=base.replace(**overrides), **kwargs)
            start = time.perf_counter()
            miou = evaluate(seg, vocab, dataset)
            per = (time.perf_counter() - start) / len(dataset)
            print(f"| {spec} | {label} | {miou:.1f} | {per:.3f} |", flush=True)


if __name__ == "__main__":
    main()
