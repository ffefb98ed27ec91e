"""Time and peak memory of VIP mode against plain single-name training-free inference, same
backbone, same image, same protocol (short side 336, 336/112 sliding windows).

plain = first name of each class, one query per class, no saliency, no evolution.
vip   = all aliases of VIP's released VOC20 file (63 names for 20 classes), saliency-weighted
        log-sum-exp aggregation, one round of visual-guided prompt evolution.
Text queries are encoded once per vocabulary and cached (as VIP pre-encodes them): the per-image
figures exclude them; the one-off text cost is printed separately. "decomposed" times the shared
backbone pass on 3 windows and each configuration's head (alias maps, saliency, aggregation,
evolution) on the same features, 20 times: less sensitive to a busy machine than whole images.

Memory: each configuration runs in its own child process (model and text loaded first); the figure
is the peak RSS sampled every 2 ms while it segments one image, and that peak minus the RSS just
before the image (what inference itself adds). CUDA: the allocator's peak instead.

    .venv/bin/python bench/vip_overhead.py --backbones tiny ViT-B-16 convnext_base_w_320
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CONFIGS = {
    "plain": {"use_aliases": False, "aggregation": "max", "saliency": False, "evolve_steps": 0},
    "vip": {"use_aliases": True, "aggregation": "lse", "saliency": True, "evolve_steps": 1},
}
PROTOCOL = {"short_side": 336, "crop": 336, "stride": 112, "templates": "seg", "window_batch": 4}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _image():
    import numpy as np

    rng = np.random.default_rng(0)
    return (rng.random((375, 500, 3)) * 255).astype(np.uint8)  # a VOC-sized image


def _segmenter(backbone: str, config: str, device: str):
    from segmodel.vip import VipSegmenter

    random_init = backbone not in ("tiny", "tiny-vit")
    return VipSegmenter(
        backbone, device=device, random_init=random_init, **PROTOCOL, **CONFIGS[config]
    )


def _vocab():
    from promptbank.vocab import DATA, load_vocabulary

    return load_vocabulary(DATA / "vocab" / "vip" / "cls_voc20.txt")


def child(backbone: str, config: str, device: str) -> None:
    """One configuration in a fresh process: print JSON with its memory figures."""
    import torch

    torch.set_num_threads(1)
    seg, vocab, image = _segmenter(backbone, config, device), _vocab(), _image()
    seg.queries(vocab)
    before = _rss_mb()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    samples, done = [before], threading.Event()

    def sample() -> None:  # RSS every 2 ms while the image is segmented
        while not done.is_set():
            samples.append(_rss_mb())
            time.sleep(0.002)

    watcher = threading.Thread(target=sample)
    watcher.start()
    seg.segment(image, vocab, return_probs=False)
    done.set()
    watcher.join()
    peak = max(samples)
    out = {
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "inference_mb": peak - before,
        "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device.startswith("cuda"):
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


def timings(backbone: str, device: str, repeats: int) -> dict:
    import torch

    torch.set_num_threads(1)
    vocab, image = _vocab(), _image()
    segs = {name: _segmenter(backbone, name, device) for name in CONFIGS}
    out: dict = {name: {} for name in CONFIGS}
    for name, seg in segs.items():
        start = time.perf_counter()
        q = seg.queries(vocab)
        out[name]["text_s"] = time.perf_counter() - start
        out[name]["names"] = len(q.names)
        seg.segment(image, vocab, return_probs=False)  # warm-up
    runs: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(repeats):  # interleaved, so load changes hit both sides alike
        for name, seg in segs.items():
            start = time.perf_counter()
            seg.segment(image, vocab, return_probs=False)
            runs[name].append(time.perf_counter() - start)
    for name in CONFIGS:
        out[name]["image_s"] = statistics.median(runs[name])
    # decomposition: backbone on 3 windows (shared) + each configuration's head on its features
    backbone = segs["plain"].backbone
    x = torch.randn(3, 3, PROTOCOL["crop"], PROTOCOL["crop"])
    with torch.no_grad():
        feats = backbone.encode_dense(x)
        out["backbone_s"] = min(_timed(lambda: backbone.encode_dense(x)) for _ in range(repeats))
        for name, seg in segs.items():
            q = seg.queries(vocab)
            out[name]["head_s"] = statistics.median(
                _timed(lambda s=seg, q=q: s.head_logits(feats, q)) for _ in range(20)
            )
    return out


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def memory(backbone: str, device: str) -> dict[str, dict]:
    out = {}
    for name in CONFIGS:
        run = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--backbones",
                backbone,
                "--device",
                device,
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        out[name] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["tiny", "ViT-B-16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=list(CONFIGS))
    args = parser.parse_args()
    if args.child:
        child(args.backbones[0], args.child, args.device)
        return
    print(f"# VIP overhead on {args.device}, 1 torch thread, image 375x500 -> 336x448, 3 windows")
    for backbone in args.backbones:
        t = timings(backbone, args.device, args.repeats)
        m = memory(backbone, args.device)
        p, v = t["plain"], t["vip"]
        print(
            f"{backbone}: time per image  vip/plain = {v['image_s'] / p['image_s']:.3f}x  "
            f"(vip {v['image_s'] * 1000:.0f} ms, plain {p['image_s'] * 1000:.0f} ms; "
            f"{v['names']:.0f} vs {p['names']:.0f} names)"
        )
        bb = t["backbone_s"]
        print(
            f"{backbone}: decomposed      vip/plain = "
            f"{(bb + v['head_s']) / (bb + p['head_s']):.3f}x  (backbone {bb * 1000:.0f} ms + head "
            f"vip {v['head_s'] * 1000:.1f} ms vs plain {p['head_s'] * 1000:.1f} ms, 3 windows)"
        )
        print(
            f"{backbone}: text, once      vip/plain = {v['text_s'] / p['text_s']:.2f}x  "
            f"(vip {v['text_s']:.2f} s, plain {p['text_s']:.2f} s)"
        )
        key = "cuda_peak_mb" if args.device.startswith("cuda") else "peak_rss_mb"
        mp, mv = m["plain"], m["vip"]
        print(
            f"{backbone}: peak memory     vip/plain = {mv[key] / mp[key]:.3f}x  "
            f"(vip {mv[key]:.0f} MB, plain {mp[key]:.0f} MB; during inference "
            f"+{mv['inference_mb']:.0f} MB vs +{mp['inference_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
