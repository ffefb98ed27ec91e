"""Visual-guided prompt evolution: refine the class queries from the image's own dense features.

For every class that is confidently present in the crop (at least `min_fraction` of the locations
have it as argmax with probability >= `threshold`), a visual prototype v_c is the probability-
weighted mean of the unit dense features over those locations (then normalised). Each alias query
of that class becomes q_k + alpha * v_c and gets the bias -alpha * mean_x cos(x, v_c), so

    logit'_k(x) = cos(x, q_k) + alpha * (cos(x, v_c) - mean_x cos(x, v_c)).

The visual term is zero-mean over the crop: it reshapes the class map toward locations that look
like the class's confident region without lifting the evolved classes over the others everywhere
(image-image cosines are much larger than image-text ones in CLIP, the modality gap).
Classes that are not confidently present keep their queries unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Evolved:
    """Per-image queries after evolution."""

    queries: torch.Tensor  # (B, A, D) q_k + alpha * v_c (not unit length)
    bias: torch.Tensor  # (B, A) -alpha * mean_x cos(x, v_c), 0 for classes not evolved
    present: torch.Tensor  # (B, C) bool, the classes that evolved


def confident_regions(
    class_logits: torch.Tensor, threshold: float, min_fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, h, w) logits -> (weights (B, C, h, w), present (B, C) bool).

    weights are the class probability on locations where the class is argmax with probability
    >= threshold, 0 elsewhere; a class is present if such locations cover >= min_fraction.
    """
    probs = class_logits.softmax(dim=1)  # (B, C, h, w)
    top = probs.argmax(dim=1, keepdim=True)  # (B, 1, h, w)
    hit = F.one_hot(top[:, 0], probs.shape[1]).permute(0, 3, 1, 2).bool() & (probs >= threshold)
    area = hit.flatten(2).float().mean(dim=2)  # (B, C)
    present = (area >= min_fraction) & (area > 0)
    return probs * hit, present


def evolve(
    dense: torch.Tensor,
    queries: torch.Tensor,
    alias_class: torch.Tensor,
    class_logits: torch.Tensor,
    *,
    alpha: float,
    threshold: float,
    min_fraction: float,
) -> Evolved:
    """Refine alias queries with each crop's confident class regions (module docstring).

    dense: (B, D, h, w) image embeddings; queries: (A, D) unit alias queries; alias_class: (A,)
    class of each alias; class_logits: (B, C, h, w) the current class maps at the dense grid.
    """
    unit = F.normalize(dense, dim=1)  # (B, D, h, w)
    weights, present = confident_regions(class_logits, threshold, min_fraction)
    protos = torch.einsum("bchw,bdhw->bcd", weights, unit)  # (B, C, D)
    protos = F.normalize(protos, dim=-1) * present[..., None]  # zero for absent classes
    mean_cos = torch.einsum("bcd,bd->bc", protos, unit.mean(dim=(2, 3)))  # (B, C)
    b = dense.shape[0]
    evolved = queries.expand(b, -1, -1) + alpha * protos[:, alias_class]  # (B, A, D)
    return Evolved(evolved, -alpha * mean_cos[:, alias_class], present)
