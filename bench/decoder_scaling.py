"""Decode time and peak memory against the vocabulary size C and the input side S.

    .venv/bin/python bench/decoder_scaling.py --quick                 # C 20, 150 at 384
    .venv/bin/python bench/decoder_scaling.py                         # C 20..847, S 384..1024
    .venv/bin/python bench/decoder_scaling.py --reference-src /tmp/dpseg-old   # + an older tree
    .venv/bin/python bench/decoder_scaling.py --jobs 2               # two measurements at once

Base architecture, random weights and features (the image encoder is not run: it is the same on
every side), one image, one torch thread. Every (configuration, C, S) runs in its own process.
Configurations: `dual` (the default model: dual prompts, visual cost volumes at every stage) and
`sed-like` (prompt_mode text, upsampled costs: SED's decoder shape in dpseg), both with the
config's default chunking; `dual-compiled` (with `--configs`) is dual after
`model.compile_decoder()`, its compile time (the first decode) reported apart; with `--reference-src` the SED-like configuration is also run from
another source tree (e.g. `git archive` of an older commit), labelled `sed-like@ref`.

Time: CPU seconds of the decode (`time.process_time`, robust to other work on the machine), best
of `--repeats`. Memory: the decode's peak over what the process held just before it (the kernel's
high-water mark, reset through /proc/self/clear_refs before the decode), so the model, prompts
and features, identical on every side, are not counted. One line per figure with both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = ("dual", "sed-like")


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def worker(preset: str, config: str, classes: int, size: int, repeats: int, chunk: int | None):
    """One decode measurement in this process -> dict (seconds, peak_mb)."""
    import gc

    import torch
    from decoder_setup import SED_LIKE, decoder_setup

    torch.set_num_threads(1)
    overrides = SED_LIKE if config.startswith("sed-like") else {}
    model, features, prompts = decoder_setup(preset, size, classes, **overrides)
    seconds, peaks, extra = [], [], {}
    with torch.no_grad():
        if config.endswith("-compiled"):  # compile, and time the first (compiling) decode apart
            start = time.perf_counter()
            model.compile_decoder()
            model.decode(features, prompts, chunk=chunk)
            extra["compile_wall_seconds"] = time.perf_counter() - start
        for _ in range(repeats):
            gc.collect()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the high-water mark to the current RSS
            base = status_kb("VmRSS")
            start = time.process_time()
            out = model.decode(features, prompts, chunk=chunk)
            seconds.append(time.process_time() - start)
            peaks.append((status_kb("VmHWM") - base) / 1024)
            del out
    return {"seconds": min(seconds), "peak_mb": min(peaks), **extra}


def run(args, config: str, classes: int, size: int) -> dict:
    src = args.reference_src if config.endswith("@ref") else HERE.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{src}{os.pathsep}{HERE}"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", config, str(classes)]
    cmd += [str(size), "--preset", args.preset, "--repeats", str(args.repeats)]
    if args.chunk is not None:
        cmd += ["--chunk", str(args.chunk)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=src)
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(results: list[dict], path: Path) -> None:
    """Decode time (top row) and peak memory (bottom row) against C, one chart per input side S,
    one line per configuration (the same colour in every chart)."""
    from PIL import Image

    from segmodel.plots import line_chart

    configs = list(dict.fromkeys(r["config"] for r in results))
    sizes = sorted({r["size"] for r in results})
    rows = []
    for key, label in (("seconds", "decode CPU seconds"), ("peak_mb", "decode peak MB")):
        charts = []
        for size in sizes:
            series = {
                c: [
                    (r["classes"], r[key])
                    for r in results
                    if r["config"] == c and r["size"] == size
                ]
                for c in configs
            }
            charts.append(
                line_chart(series, title=f"{label}, S = {size}", xlabel="classes", size=(480, 360))
            )
        rows.append(charts)
    w, h = rows[0][0].width, rows[0][0].height
    image = Image.new("RGB", (w * len(sizes), h * len(rows)), "white")
    for i, charts in enumerate(rows):
        for j, chart in enumerate(charts):
            image.paste(chart, (j * w, i * h))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    image.save(tmp)
    os.replace(tmp, path)


def ratio(a: dict, b: dict) -> str:
    """Time and memory of measurement a over measurement b, with both sides."""
    return (
        f"time {a['seconds'] / b['seconds']:.2f}x ({a['seconds']:.2f} vs {b['seconds']:.2f} CPU s), "
        f"memory {a['peak_mb'] / b['peak_mb']:.2f}x ({a['peak_mb']:.0f} vs {b['peak_mb']:.0f} MB)"
    )


def print_row(size: int, classes: int, configs: list[str], row: dict) -> None:
    """One line per compared pair of one (S, C) point: each configuration against each SED-like
    reference, compiled against eager dual, new SED-like against the older tree's."""
    refs = [c for c in configs if c.startswith("sed-like")]
    pairs = [(c, r) for r in refs for c in configs if not c.startswith("sed-like")]
    pairs += [
        p for p in (("dual-compiled", "dual"), ("sed-like", "sed-like@ref")) if set(p) <= set(row)
    ]
    for a, b in pairs:
        extra = ""
        if "compile_wall_seconds" in row[a] and b == "dual":
            extra = f" (compiling: {row[a]['compile_wall_seconds']:.0f} s wall, first decode)"
        print(f"S {size:4d} C {classes:3d} {a} / {b}: {ratio(row[a], row[b])}{extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--classes", type=int, nargs="+", default=[20, 75, 150, 300, 847])
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 768, 1024])
    parser.add_argument("--quick", action="store_true", help="C 20 and 150 at 384 only")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--reference-src", type=Path, help="also run sed-like from this tree")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--chunk", type=int, help="classes per chunk (default: the config's)")
    parser.add_argument("--json", type=Path, help="append every result as a JSON line here")
    parser.add_argument("--plot", type=Path, help="write a PNG of time and memory against C")
    parser.add_argument("--plot-from", type=Path, help="only draw --plot from this --json file")
    parser.add_argument(
        "--jobs", type=int, default=1, help="measurements run at once (1 core each)"
    )
    parser.add_argument("--worker", nargs=3, metavar=("CONFIG", "CLASSES", "SIZE"))
    args = parser.parse_args()
    if args.worker:
        config, classes, size = args.worker[0], int(args.worker[1]), int(args.worker[2])
        print(json.dumps(worker(args.preset, config, classes, size, args.repeats, args.chunk)))
        return
    if args.plot_from:
        plot([json.loads(line) for line in args.plot_from.read_text().splitlines()], args.plot)
        print(f"-> {args.plot}")
        return
    if args.quick:
        args.classes, args.sizes = [20, 150], [384]
    configs = list(args.configs)
    if args.reference_src:
        configs.append("sed-like@ref")
    print(f"{args.preset}, random weights, 1 image, 1 torch thread, decode only; ratio = x / ref")
    tasks = [(s, c, k) for s in args.sizes for c in args.classes for k in configs]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each task is its own process
        futures = {t: pool.submit(run, args, t[2], t[1], t[0]) for t in tasks}
        results = []
        for size in args.sizes:
            for classes in args.classes:
                row = {}
                for config in configs:
                    r = {"config": config, "classes": classes, "size": size}
                    r.update(futures[size, classes, config].result())
                    row[config] = r
                    results.append(r)
                    if args.json:
                        with args.json.open("a") as f:
                            f.write(json.dumps(r) + "\n")
                print_row(size, classes, configs, row)
    if args.plot:
        plot(results, args.plot)
        print(f"-> {args.plot}")


if __name__ == "__main__":
    main()
