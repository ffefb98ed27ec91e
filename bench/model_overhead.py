"""The visual prompts' overhead: DPSeg against a text-only (SED-like) configuration of the same
model, parameters and time per image, measured side by side.

    .venv/bin/python bench/model_overhead.py                  # base architecture at 768, 20 classes
    .venv/bin/python bench/model_overhead.py --classes 150 --size 384

Text-only = prompt_mode="text" with SED's upsampled cost-volume skip path in every stage. Random
weights; the same image and prompts for every configuration. Times are CPU seconds of this
process (robust to other work sharing the machine), best of --repeats.
"""

from __future__ import annotations

import argparse
import time

import torch
from decoder_setup import random_prompts

from promptbank.encoder import load_encoder
from segmodel import build_model

CONFIGS = {
    "text-only (SED-like)": {"prompt_mode": "text", "visual_cost": ("upsample",) * 3},
    "DPSeg dual, visual costs": {},
    "dual, no visual costs": {"visual_cost": ("off",) * 3},
    "dual, upsampled costs": {"visual_cost": ("upsample",) * 3},
}


def count(params) -> float:
    return sum(p.numel() for p in params) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = {"tiny": "tiny", "base": "convnext_base_w_320", "large": "convnext_large_d_320"}
    encoder = load_encoder(name[args.preset], random_init=True)
    image = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    print(
        f"{args.preset} at {args.size}, {args.classes} classes, {args.threads} threads, "
        f"best of {args.repeats}"
    )
    print(
        f"{'configuration':28s} {'params M':>9s} {'decoder M':>9s} {'CPU s/img':>9s} "
        f"{'decode s':>8s} {'time x':>6s}"
    )
    base = None
    for label, overrides in CONFIGS.items():
        torch.manual_seed(0)
        model = build_model(args.preset, encoder=encoder, image_size=args.size, **overrides)
        model.eval()
        t = model.config.num_templates
        g = torch.Generator().manual_seed(0)
        prompts = random_prompts(encoder, args.classes, t, g)
        total, decode = float("inf"), float("inf")
        with torch.no_grad():
            model(image, prompts)  # warm-up
            for _ in range(args.repeats):
                start = time.process_time()
                features = model.encode(image)
                mid = time.process_time()
                model.decode(features, prompts)
                end = time.process_time()
                total, decode = min(total, end - start), min(decode, end - mid)
        base = base or total
        print(
            f"{label:28s} {count(model.parameters()):9.2f} "
            f"{count(model.decoder_parameters()):9.3f} {total:9.2f} {decode:8.2f} "
            f"{total / base:6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
