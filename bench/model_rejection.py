"""Category early rejection and class chunking: time and peak memory at 150 and 847 classes.

    .venv/bin/python bench/model_rejection.py                 # base architecture at 384
    .venv/bin/python bench/model_rejection.py --size 768      # the real input size (slow on CPU)

Each configuration runs in its own process (peak RSS is per process), same image and prompts.
Random weights: which classes early rejection keeps is arbitrary, so the kept counts per stage
are printed; a trained model's rankings are spatially coherent and keep fewer. Times are CPU
seconds of the decode (robust to other work sharing the machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CONFIGS = [  # (label, topk, chunk)
    ("full, one chunk", 0, 0),
    ("full, chunks of 64", 0, 64),
    ("rejection k=8, chunks of 64", 8, 64),
]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def worker(preset: str, size: int, classes: int, topk: int, chunk: int, threads: int) -> dict:
    import torch

    from promptbank.encoder import load_encoder
    from segmodel import PromptSet, build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    name = {"tiny": "tiny", "base": "convnext_base_w_320", "large": "convnext_large_d_320"}
    encoder = load_encoder(name[preset], random_init=True)
    model = build_model(preset, encoder=encoder, image_size=size).eval()
    t = model.config.num_templates
    g = torch.Generator().manual_seed(0)
    d4, d8, d16, _ = encoder.stage_dims
    prompts = PromptSet.from_arrays(
        [f"c{i}" for i in range(classes)],
        torch.randn(classes, t, encoder.embed_dim, generator=g),
        torch.randn(classes, t, encoder.embed_dim, generator=g),
        torch.rand(classes, t, d4, generator=g),
        torch.rand(classes, t, d8, generator=g),
        torch.rand(classes, t, d16, generator=g),
        encoder=encoder.identity(),
    )
    image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    kept = []
    hooks = [
        h.register_forward_hook(lambda m, i, o: kept.append(o.shape[1])) for h in model.aux_heads
    ]
    with torch.no_grad():
        features = model.encode(image)
        baseline = rss_mb()
        start = time.process_time()
        out = model.decode(features, prompts, topk=topk, chunk=chunk)
        seconds = time.process_time() - start
    for h in hooks:
        h.remove()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    final = len(out.kept) if out.kept is not None else classes
    return {
        "seconds": seconds,
        "peak_mb": peak,
        "baseline_mb": baseline,
        "kept": [*kept[1:], final],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--classes", type=int, nargs="+", default=[150, 847])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", nargs=3, type=int, metavar=("CLASSES", "TOPK", "CHUNK"))
    args = parser.parse_args()
    if args.worker:
        c, k, chunk = args.worker
        print(json.dumps(worker(args.preset, args.size, c, k, chunk, args.threads)))
        return
    print(
        f"{args.preset} at {args.size}, decoder only (image encoded once per run), "
        f"{args.threads} threads"
    )
    print(
        f"{'classes':>7s} {'setting':30s} {'CPU s':>8s} {'speed-up':>8s} "
        f"{'peak MB':>8s} {'over base':>9s}  kept after heads 0/1/2"
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
                "--worker",
                str(classes),
                str(topk),
                str(chunk),
            ]
            r = json.loads(
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            full = full or r["seconds"]
            over = r["peak_mb"] - r["baseline_mb"]
            print(
                f"{classes:7d} {label:30s} {r['seconds']:8.2f} {full / r['seconds']:8.2f} "
                f"{r['peak_mb']:8.0f} {over:9.0f}  {'/'.join(map(str, r['kept']))}",
                flush=True,
            )


if __name__ == "__main__":
    main()
