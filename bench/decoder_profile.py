"""Where one decode spends its time: torch.profiler's top ops by self CPU time.

    .venv/bin/python bench/decoder_profile.py                        # base, 150 classes at 384
    .venv/bin/python bench/decoder_profile.py --size 768 --sed-like  # SED's decoder shape

Random weights and features (the image encoder is not run), one torch thread by default, one
warm-up decode before the profiled one. Where CUDA is present (`--device cuda`) the allocator's
peak is printed too.
"""

from __future__ import annotations

import argparse

from decoder_setup import SED_LIKE, decoder_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--classes", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--topk", type=int, default=0, help="early rejection k (0 = off)")
    parser.add_argument("--sed-like", action="store_true", help="text prompts, upsampled costs")
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(args.threads)
    overrides = SED_LIKE if args.sed_like else {}
    model, features, prompts = decoder_setup(args.preset, args.size, args.classes, **overrides)
    model.to(args.device)
    features = type(features)(*(t.to(args.device) for t in vars(features).values()))
    activities = [ProfilerActivity.CPU]
    if args.device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        model.decode(features, prompts, topk=args.topk)  # warm-up
        with profile(activities=activities) as prof:
            model.decode(features, prompts, topk=args.topk)
    print(
        f"{args.preset} at {args.size}, {args.classes} classes, "
        f"{'SED-like' if args.sed_like else 'dual'}, topk {args.topk}, {args.threads} thread(s)"
    )
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    if args.device.startswith("cuda"):
        print(f"allocator peak: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
