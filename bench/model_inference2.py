"""Inference II / inference I time, measured side by side in one run (issue 4, Measure).

    .venv/bin/python bench/model_inference2.py            # base architecture, 768, CPU
    .venv/bin/python bench/model_inference2.py --preset tiny --size 128
    .venv/bin/python bench/model_inference2.py --default-only --repeats 2   # the bar: <= 1.15

Random weights (no downloads); prompts are random with the encoder's widths, so the classes that
pass one detects are arbitrary: their count is printed. Every inference II setting runs the same
images and prompts; the ratio is its time over inference I's. Times are CPU seconds of this
process (robust to other work sharing the machine), best of --repeats.
"""

from __future__ import annotations

import argparse
import time

import torch
from decoder_setup import random_prompts

from promptbank.encoder import load_encoder
from segmodel import RefineSettings, build_model
from segmodel.model.inference import predict


def settings(size: int) -> dict[str, RefineSettings]:
    """The inference II variants compared with inference I (S = the model input side)."""
    return {
        "II paper (crops @S, full re-decode)": RefineSettings(source="crops"),
        "II crops @224": RefineSettings(source="crops", crop_size=224),
        "II region @S (one frozen pass)": RefineSettings(source="region"),
        "II region @S/2": RefineSettings(source="region", crop_size=size // 2),
        "II features (no extra pass)": RefineSettings(source="features"),
        "II features, re-decode detected": RefineSettings(source="features", redecode="detected"),
        "II crops @224, re-decode detected": RefineSettings(
            source="crops", crop_size=224, redecode="detected"
        ),
    }


def timed(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--default-only", action="store_true", help="inference I and the default II only"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    name = {"tiny": "tiny", "base": "convnext_base_w_320", "large": "convnext_large_d_320"}
    encoder = load_encoder(name[args.preset], random_init=True)
    model = build_model(args.preset, encoder=encoder, image_size=args.size).eval()
    templates = model.config.num_templates
    prompts = random_prompts(encoder, args.classes, templates, torch.Generator().manual_seed(0))
    image = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))

    def run(inference: int, refine: RefineSettings | None = None):
        return predict(model, image, prompts, inference=inference, refine=refine, encoder=encoder)

    run(1)  # warm-up
    base, _ = timed(lambda: run(1), args.repeats)
    print(
        f"{args.preset} at {args.size}, {args.classes} classes, {templates} templates, "
        f"{args.threads} threads"
    )
    print(f"{'setting':40s} {'CPU s':>8s} {'ratio':>6s} detected")
    print(f"{'I (one pass)':40s} {base:8.2f} {1.0:6.2f}")
    variants = settings(args.size)
    if args.default_only:
        variants = {"II default (RefineSettings())": RefineSettings()}
    for label, refine in variants.items():
        seconds, (_, detected) = timed(lambda r=refine: run(2, r), args.repeats)
        print(f"{label:40s} {seconds:8.2f} {seconds / base:6.2f} {len(detected[0])}", flush=True)


if __name__ == "__main__":
    main()
