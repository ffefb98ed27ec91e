"""Batched inference I and II on normalised square images (what Segmenter and benchmarks call).

Inference II decodes a second time from pass one's image features: the image encoder runs once;
only the prompts of classes detected in pass one change (see `refine.py`).
"""

from __future__ import annotations

import torch

from promptbank.encoder import ClipEncoder
from segmodel.errors import InputError
from segmodel.model.dpseg import DPSeg
from segmodel.model.refine import RefineSettings, refine_prompts
from segmodel.prompts import PromptSet


@torch.no_grad()
def predict(
    model: DPSeg,
    images: torch.Tensor,
    prompts: PromptSet,
    *,
    inference: int = 1,
    refine: RefineSettings | None = None,
    encoder: ClipEncoder | None = None,
    topk: int | None = None,
    chunk: int | None = None,
) -> tuple[torch.Tensor, list[list[int]]]:
    """images (B, 3, S, S) normalised -> (probabilities (B, C, S/4, S/4), refined classes per image).

    inference: 1 (one pass) or 2 (refined prompts, pass two on pass one's features); refine: how
    II builds its prompts; encoder: the frozen prompt encoder (needed unless refine.source is
    "features"); topk: early-rejection k (None = model config, 0 = off); chunk: classes per chunk.
    """
    if inference not in (1, 2):
        raise InputError(f"inference={inference!r}; expected 1 (one pass) or 2 (refined prompts)")
    refine = refine or RefineSettings()
    features = model.encode(images)
    out = model.decode(features, prompts, topk=topk, chunk=chunk)
    probs = out.logits.sigmoid()  # (B, C, S/4, S/4)
    detected: list[list[int]] = [[] for _ in range(len(images))]
    if inference == 1:
        return probs, detected
    for b in range(len(images)):
        mine = features.select(slice(b, b + 1))
        refined, found = refine_prompts(refine, prompts, images[b], probs[b], encoder, mine)
        detected[b] = found
        if not found:
            continue
        if refine.redecode == "detected":  # pass two on the detected classes only
            again = model.decode(mine, refined.select(found), topk=topk, chunk=chunk)
            probs[b, found] = again.logits[0].sigmoid()
        else:
            again = model.decode(mine, refined, topk=topk, chunk=chunk)
            probs[b] = again.logits[0].sigmoid()
    return probs, detected
