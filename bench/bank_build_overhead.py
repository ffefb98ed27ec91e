"""Build overhead: wall time of a bank build divided by the time inside the model forwards.

The generator and encoder are loaded first (loading is reported apart); then `run_build` builds a
bank and reports its own wall time, the seconds spent inside `generator.generate` and the seconds
inside encoder forwards (image and text, preprocessing included). Everything else (planning, PNG
encoding, tar and HDF5 writing, fsync, hashing, markers) is overhead; the writer runs on a
background thread so most of it should hide behind the forwards. Goal: 1.05 or less.

Generators: `tiny-sd` (random-weight Stable Diffusion at 64 px, 2 steps: forwards dominate, as
with real models) and `procedural` (almost free generation: the ratio shows the pipeline's own
cost against the tiny encoder alone). One torch thread, so runs on a shared machine are stable.

    .venv/bin/python bench/bank_build_overhead.py [--classes 8 --templates 4 -k 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--generators", nargs="+", default=["tiny-sd", "procedural"])
    p.add_argument("--classes", type=int, default=8, help="first N shapes-world classes")
    p.add_argument("--templates", type=int, default=4)
    p.add_argument("-k", "--images-per-template", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from promptbank.build import run_build
    from promptbank.encoder import load_encoder
    from promptbank.generator import load_generator
    from promptbank.vocab import load_vocabulary, vocabulary_from_names

    vocab = vocabulary_from_names(load_vocabulary("shapes").classes[: args.classes])
    t = time.perf_counter()
    encoder = load_encoder("tiny")
    print(f"# encoder tiny loaded in {time.perf_counter() - t:.2f} s")
    for name in args.generators:
        t = time.perf_counter()
        generator = load_generator(name)
        print(f"# generator {name} loaded in {time.perf_counter() - t:.2f} s")
        tmp = Path(tempfile.mkdtemp())
        try:
            r = run_build(
                vocab,
                tmp / "bank",
                generator=generator,
                encoder=encoder,
                templates=args.templates,
                images_per_template=args.images_per_template,
                resolution=64,
                steps=2,
                device="cpu",
                batch_size=args.batch_size,
                classes_per_shard=2,
                progress=False,
            )
        finally:
            shutil.rmtree(tmp)
        forwards = r.generate_seconds + r.encode_seconds
        images = r.images_generated
        print(
            f"bank build overhead, {name} + tiny ({images} images, 64 px): wall/forwards = "
            f"{r.seconds / forwards:.3f} (wall {r.seconds:.2f} s, forwards {forwards:.2f} s: "
            f"generate {r.generate_seconds:.2f} s, encode {r.encode_seconds:.2f} s)"
        )


if __name__ == "__main__":
    main()
