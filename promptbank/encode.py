"""The encoding stage: a class's images and names -> its rows of every bank dataset.

Batches are a fixed function of the class (its images in groups of ENCODE_GROUP, its prompts in
one call), never of `--batch-size` or the process layout, so a class's features are the same
bits whichever way the build was run (float kernels give batch-dependent low bits).

`encode_bank(src, encoder, out)` re-encodes a finished bank's stored images with another encoder,
without generating anything (`dpseg bank encode`).
"""

from __future__ import annotations

import numpy as np

from promptbank.format import STRIDES
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
                        maps[s].append(m.float().cpu())  # (G, D_l, h, w)
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
    src,
    out,
    *,
    encoder: str = "tiny",
    encoder_weights=None,
    encode_size: int | None = None,
    device: str = "cpu",
    progress: bool = True,
):
    """Re-encode the images of bank `src` with another encoder into a new bank at `out`."""
    from promptbank.build import reencode

    return reencode(
        src,
        out,
        encoder=encoder,
        encoder_weights=encoder_weights,
        encode_size=encode_size,
        device=device,
        progress=progress,
    )
