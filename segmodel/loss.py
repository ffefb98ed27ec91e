"""The training loss: per-pixel, per-class binary cross-entropy (SED's convention).

Each output (final head and every auxiliary head) is bilinearly upsampled to the label size; the
target is one-hot over classes at labelled pixels and all-zero at ignored pixels (SED keeps ignored
pixels as "every class negative"; `mask_ignored=True` drops them instead). The mean BCE over all
B x C x H x W elements of each output is summed with equal weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segmodel.errors import InputError
from segmodel.model.dpseg import DPSegOutput


def one_hot_targets(labels: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """labels (B, H, W) int64 -> targets (B, C, H, W) float, zero at ignored pixels."""
    valid = labels != ignore_index  # (B, H, W)
    if bool((labels[valid] < 0).any() | (labels[valid] >= num_classes).any()):
        found = labels[valid]
        raise InputError(
            f"labels hold values {int(found.min())}..{int(found.max())}; expected "
            f"0..{num_classes - 1} (one per prompt class) or {ignore_index} (ignore)"
        )
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    targets = F.one_hot(safe, num_classes).permute(0, 3, 1, 2).to(torch.float32)  # (B, C, H, W)
    return targets * valid[:, None]


def dpseg_loss(
    output: DPSegOutput,
    labels: torch.Tensor,
    ignore_index: int = 255,
    *,
    aux_weight: float = 1.0,
    mask_ignored: bool = False,
) -> torch.Tensor:
    """Summed BCE of the final and auxiliary logits against `labels` (B, H, W) int64."""
    if labels.ndim != 3 or labels.shape[0] != output.logits.shape[0]:
        raise InputError(
            f"labels have shape {tuple(labels.shape)}; expected (B, H, W) with "
            f"B={output.logits.shape[0]}"
        )
    num_classes = output.logits.shape[1]
    targets = one_hot_targets(labels.long(), num_classes, ignore_index)  # (B, C, H, W)
    weight = (labels != ignore_index)[:, None].float() if mask_ignored else None  # (B, 1, H, W)
    total = output.logits.new_zeros(())
    for i, logits in enumerate([output.logits, *output.aux]):
        up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        if weight is None:
            term = F.binary_cross_entropy_with_logits(up, targets)
        else:
            per = F.binary_cross_entropy_with_logits(up, targets, reduction="none")
            term = (per * weight).sum() / (weight.sum() * num_classes).clamp(min=1)
        total = total + (term if i == 0 else aux_weight * term)
    return total
