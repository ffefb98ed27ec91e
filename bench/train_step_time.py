"""Training step time on the tiny shapes config, split into data wait and compute.

Runs `dpseg train configs/shapes_tiny.toml` for a few steps with 0, 1 and 2 DataLoader workers
side by side and prints, per setting, the mean wall time per step, the part spent waiting for the
next batch, and its share. With workers the wait should be near zero (the batch is prepared while
the previous step computes). The first steps are skipped as warm-up.

Usage: .venv/bin/python bench/train_step_time.py [--steps 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from segmodel.training import load_config, train

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "shapes_tiny.toml"


def measure(workers: int, steps: int, warmup: int, out: Path) -> dict[str, float]:
    config = load_config(CONFIG, [f"run.out={out}", f"run.steps={steps}", "run.log_every=1",
                                  f"run.checkpoint_every={steps}", f"data.workers={workers}",
                                  "run.tensorboard=false"])  # fmt: skip
    train(config, progress=False)
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()][warmup:]
    wait = sum(r["data_wait_s"] for r in records) / len(records)
    total = sum(r["step_time_s"] for r in records) / len(records)
    return {"step_s": total, "wait_s": wait, "compute_s": total - wait}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (0, 1, 2):
            rows[workers] = measure(workers, args.steps, args.warmup, Path(tmp) / f"w{workers}")
    base = rows[0]["step_s"]
    print(f"shapes_tiny: batch 8, 128 px, {args.steps - args.warmup} timed steps, "
          f"{args.threads} torch thread(s)")  # fmt: skip
    print(f"{'workers':>7} {'step ms':>8} {'data wait ms':>13} {'compute ms':>11} "
          f"{'wait share':>10} {'vs 0 workers':>12}")  # fmt: skip
    for workers, r in rows.items():
        print(f"{workers:>7} {r['step_s'] * 1e3:8.1f} {r['wait_s'] * 1e3:13.2f} "
              f"{r['compute_s'] * 1e3:11.1f} {r['wait_s'] / r['step_s']:10.1%} "
              f"{r['step_s'] / base:11.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
