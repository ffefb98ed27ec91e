"""Fault injection: hostile banks, damaged files, bad input, kill -9, concurrency, a full disk.

Prints one line per family: cases tried, cases survived with nothing lost, and the failures by
name. Every case uses real files, real processes and the real CLI (tests/faults holds the cases;
the default test suite runs a smaller share of them, `pytest -m slow tests/faults` the rest).

    .venv/bin/python bench/faults.py [--offsets 40] [--crashes 24] [--disk 4] [--families ...]

A full disk needs root (it mounts a small tmpfs); without it that family says so and is skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FAMILIES = ("untrusted", "corruption", "input", "crashes", "concurrency", "disk")


def _fixtures(root: Path) -> dict:
    import torch
    from PIL import Image

    from promptbank.build import build_bank
    from segmodel import build_model
    from segmodel.checkpoint import save_model
    from tests.promptbank.bank_helpers import BANK_RECIPE

    torch.set_num_threads(1)
    bank = build_bank("shapes", root / "shapes", batch_size=5, **BANK_RECIPE)
    torch.manual_seed(0)
    model = build_model("tiny", num_templates=2, image_size=64)
    checkpoint = save_model(model, root / "model.safetensors")
    image = root / "scene.png"
    Image.new("RGB", (64, 64), (20, 120, 200)).save(image)
    return {"bank": bank, "checkpoint": checkpoint, "image": image}


def _cases(family: str, root: Path, fx: dict, args) -> list:
    from tests.faults import cases, crashes

    scratch = root / family
    scratch.mkdir(exist_ok=True)
    if family == "untrusted":
        return cases.untrusted_cases(fx["bank"], scratch)
    if family == "corruption":
        return cases.bank_corruption_cases(fx["bank"], scratch, args.offsets, seed=1) + (
            cases.checkpoint_corruption_cases(fx["checkpoint"], scratch, args.offsets, seed=1)
        )
    if family == "input":
        return cases.bad_input_cases(scratch, fx["checkpoint"], fx["image"], fx["bank"])
    base = root / "crash-ref"
    if "crash_ref" not in fx:  # a clean CLI build: what every resumed build must equal
        fx["crash_ref"] = crashes.reference(base / "ref")
    ref = fx["crash_ref"]
    if family == "crashes":
        return crashes.crash_cases(base, ref, args.crashes, seed=1)
    if family == "concurrency":
        return crashes.concurrency_cases(base, base / "ref", ref)
    fractions = [0.2 + 0.75 * i / max(1, args.disk - 1) for i in range(args.disk)]
    return crashes.disk_full_cases(base, ref, fractions)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--offsets", type=int, default=40, help="damage offsets per file kind")
    p.add_argument("--crashes", type=int, default=24, help="kill -9 cases")
    p.add_argument("--disk", type=int, default=4, help="disk-full cases (tmpfs sizes)")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    args = p.parse_args()
    from tests.faults.cases import tally

    total = survived = 0
    with tempfile.TemporaryDirectory(prefix="dpseg-faults-") as tmp:
        root = Path(tmp)
        fx = _fixtures(root)
        for family in args.families:
            start = time.perf_counter()
            tried, failures = tally(_cases(family, root, fx, args))
            skipped = [f for f in failures if "skipped:" in f]
            if skipped and len(skipped) == tried:
                print(f"{family:12s} skipped: {skipped[0].split('skipped: ', 1)[1]}", flush=True)
                continue
            total, survived = total + tried, survived + tried - len(failures)
            names = "; ".join(failures) if failures else "none"
            print(f"{family:12s} {tried:4d} cases, {tried - len(failures):4d} survived with "
                  f"nothing lost ({time.perf_counter() - start:.0f} s); failures: {names}",
                  flush=True)  # fmt: skip
    print(f"{'all':12s} {total:4d} cases, {survived:4d} survived", flush=True)


if __name__ == "__main__":
    main()
