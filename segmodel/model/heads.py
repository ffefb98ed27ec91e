"""Per-class prediction heads and category early rejection (SED).

A head is one 3x3 conv to one channel, shared by every class. The auxiliary heads read detached
features (they train only themselves) and drive early rejection at inference.
"""

from __future__ import annotations

import torch
from torch import nn

from segmodel.model.blocks import per_class


class ClassHead(nn.Module):
    """(B, C, ch, h, w) -> logits (B, C, h, w); `detach` stops gradients into the input."""

    def __init__(self, channels: int, *, detach: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 3, padding=1)
        self.detach = detach

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        if self.detach:
            x = x.detach()
        logits = self.conv(per_class(x))  # (B*C, 1, h, w)
        return logits.reshape(b, -1, *logits.shape[2:])


def top_k_union(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Category early rejection: classes in the top k at any pixel of any image.

    logits (B, C, h, w) -> sorted positions (C',) into the C axis, C' <= C; all C when k >= C.
    """
    c = logits.shape[1]
    if k >= c:
        return torch.arange(c, device=logits.device)
    top = logits.topk(k, dim=1).indices  # (B, k, h, w)
    keep = torch.zeros(c, dtype=torch.bool, device=logits.device)
    keep[top.flatten()] = True
    return keep.nonzero().squeeze(1)


def scatter_classes(
    logits: torch.Tensor, active: torch.Tensor | None, num_classes: int, fill: float
) -> torch.Tensor:
    """Logits of the active classes (B, C', h, w) -> (B, C, h, w), `fill` for rejected ones."""
    if active is None or len(active) == num_classes:
        return logits
    b, _, h, w = logits.shape
    full = logits.new_full((b, num_classes, h, w), fill)
    full[:, active] = logits
    return full
