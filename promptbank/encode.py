"""The encoding stage: a class's images and names -> its rows of every bank dataset.

Batches are a fixed function of the class (its images in groups of ENCODE_GROUP, its prompts in
one call), never of `--batch-size` or the process layout, so a class's features are the same
bits whichever way the build was run (float kernels give batch-dependent low bits).

`encode_bank(src, encoder, out)` re-encodes a finished bank's stored images with another encoder,
without generating anything (`dpseg bank encode`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from promptbank.errors import BankError
from promptbank.format import STRIDES, read_manifest
from promptbank.vocab import fill

ENCODE_GROUP = 16  # images per encoder forward; fixed so results never depend on user settings


class FeatureEncoder:
    """Wraps a ClipEncoder: text rows and visual rows of one class at a time (float32 numpy)."""

    def __init__(self, encoder, *, size: int, stage_maps: bool = False):
        self.encoder = encoder  # a promptbank.encoder.ClipEncoder
        self.size = size  # side the images are resized to before encoding
        self.stage_maps = stage_maps  # also return full trunk maps (maps_s4/8/16)
        self.seconds = 0.0  # time spent inside encoder forwards (for the overhead benchmark)

    def dims(self) -> dict[str, int]:
        d4, d8, d16, _ = self.encoder.stage_dims
        d = self.encoder.embed_dim
        return {"text": d, "visual": d, "visual_s4": d4, "visual_s8": d8, "visual_s16": d16}

    def text(self, aliases: list[str], templates: list[str]) -> np.ndarray:
        """(T, D): per template, the aliases' normalised embeddings averaged, re-normalised (SED)."""
        import time

        import torch
        import torch.nn.functional as F

        prompts = [fill(t, a) for t in templates for a in aliases]
        start = time.perf_counter()
        with torch.inference_mode():
            emb = self.encoder.encode_text(prompts).float().cpu()  # (T*A, D)
        self.seconds += time.perf_counter() - start
        emb = F.normalize(emb, dim=-1).view(len(templates), len(aliases), -1)  # (T, A, D)
        return F.normalize(emb.mean(dim=1), dim=-1).numpy()  # (T, D)

    def visual(self, images: list, templates: int, k: int) -> dict[str, np.ndarray]:
        """Images in (template, k) order -> {"visual": (T, D), "visual_s*": (T, D_l)[, maps]}."""
        import time

        import torch
        import torch.nn.functional as F

        pooled, stages, maps = [], {s: [] for s in STRIDES}, {s: [] for s in STRIDES}
        for start in range(0, len(images), ENCODE_GROUP):
            group = images[start : start + ENCODE_GROUP]
            t0 = time.perf_counter()
            with torch.inference_mode():
                x = self.encoder.preprocess(group, self.size)  # (G, 3, S, S)
                s4, s8, s16, s32 = self.encoder.trunk_maps(x)
                p = self.encoder.pooled_embedding(s32)  # (G, D)
                feats = dict(zip(STRIDES, (s4, s8, s16)))
                pooled.append(F.normalize(p.float(), dim=-1).cpu())
                for s, m in feats.items():
                    stages[s].append(m.float().mean(dim=(2, 3)).cpu())  # (G, D_l)
                    if self.stage_maps:
                        maps[s].append(m.half().cpu())  # (G, D_l, h, w), stored as float16
            self.seconds += time.perf_counter() - t0
        out = {"visual": self._mean_k(torch.cat(pooled), templates, k)}
        for s in STRIDES:
            out[f"visual_s{s}"] = self._mean_k(torch.cat(stages[s]), templates, k)
            if self.stage_maps:
                m = torch.cat(maps[s])  # (T*K, D_l, h, w)
                out[f"maps_s{s}"] = m.view(templates, k, *m.shape[1:]).numpy()  # (T, K, D_l, h, w)
        return out

    @staticmethod
    def _mean_k(x, templates: int, k: int) -> np.ndarray:
        return x.view(templates, k, -1).mean(dim=1).numpy()  # (T, D)


def encode_bank(
    src: str | Path,
    out: str | Path,
    *,
    encoder="tiny",
    encoder_weights: str | Path | None = None,
    encode_size: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """A new bank at `out`: the images of bank `src` encoded by `encoder` (a name or a loaded
    ClipEncoder); nothing is generated, image shards are hard-linked or copied. Resumable."""
    from promptbank.lock import ShardLocks
    from promptbank.progress import Progress
    from promptbank.writer import BuildDir, ShardWriter

    src = Path(src)
    manifest = read_manifest(src)
    if isinstance(encoder, str):
        from promptbank.encoder import load_encoder
        from promptbank.plan import process_device

        encoder = load_encoder(encoder, encoder_weights, device=process_device(device))
    plan, fenc = _encode_plan(src, manifest, encoder, encode_size)
    build = BuildDir(out, plan.state())
    build.prepare()
    with ShardLocks(build.lock_path, list(range(len(plan.shards))), out) as locks:
        bar = Progress(plan.num_images, "images", prefix="bank encode", enabled=progress)
        writer = ShardWriter(build)
        try:
            for j, shard in enumerate(manifest["shards"]):
                if not build.is_done(j):
                    build.clean(j)
                    rows = _encode_shard(src / shard["images"], plan, plan.shards[j], fenc, bar)
                    names = [plan.vocab.classes[ci] for ci in plan.shards[j]]
                    writer.finish(j, names, rows, 0, images_from=src / shard["images"])
            writer.wait()
        finally:
            writer.close()
            bar.close()
        if build.all_done() and locks.finalise_lock() and not build.complete():
            build.finalise(plan.recipe, fenc.dims())
    return Path(out)


def _encode_plan(src: Path, manifest: dict, encoder, encode_size: int | None):
    """The source bank's classes and shard layout under a recipe with the new encoder."""
    from promptbank.format import bank_id
    from promptbank.plan import Plan
    from promptbank.vocab import Vocabulary

    recipe = dict(manifest["recipe"])
    size = encode_size or encoder.image_size
    maps = any(d.startswith("maps_") for d in recipe.get("datasets", []))
    recipe.update(encoder=encoder.identity(), encode_size=size)
    entries = manifest["classes"]
    names = [c["name"] for c in entries]
    vocab = Vocabulary(name=src.name, classes=names, aliases=[list(c["aliases"]) for c in entries])
    order = {n: i for i, n in enumerate(names)}
    shards = [
        [order[c["name"]] for c in entries if c["shard"] == sh["id"]] for sh in manifest["shards"]
    ]
    plan = Plan(
        recipe=recipe,
        bank_id=bank_id(recipe),
        vocab=vocab,
        templates=recipe["templates"],
        images_per_template=recipe["images_per_template"],
        seed=recipe["seed"],
        shards=shards,
    )
    return plan, FeatureEncoder(encoder, size=size, stage_maps=maps)


def _encode_shard(tar: Path, plan, classes: list[int], fenc: FeatureEncoder, bar) -> dict:
    """Feature rows of one shard's classes from the images stored in `tar`."""
    from promptbank.shards import read_samples

    T, K = len(plan.templates), plan.images_per_template
    samples = list(read_samples(tar))
    rows: dict[str, list] = {}
    for ci in classes:
        name = plan.vocab.classes[ci]
        mine = sorted(
            (s for s in samples if s.meta["class"] == name),
            key=lambda s: (s.meta["template_index"], s.meta["k"]),
        )
        if len(mine) != T * K:
            raise BankError(
                f"{tar}: class {name!r} has {len(mine)} images, expected {T * K}; "
                f"run `dpseg bank verify` on the source bank"
            )
        feats = fenc.visual([s.image() for s in mine], T, K)
        feats["text"] = fenc.text(plan.vocab.aliases[ci], plan.templates)
        for key, value in feats.items():
            rows.setdefault(key, []).append(value)
        bar.advance(len(mine))
    return rows
