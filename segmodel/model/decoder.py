"""One cost-volume-guided decoder stage (paper 4.2), run over chunks of classes.

Per class: HD-conv block -> linear attention across classes -> 2x transposed conv -> concat of the
detached encoder guidance (trunk map reduced 16x by a 3x3 conv) and the stage's side cost (the
visual cost volume, SED's upsampled cost, or nothing) -> DoubleConv fuse.

Chunking is exact: the attention's sums over classes are accumulated over every chunk first (pass
one), then each chunk is attended, upsampled and fused (pass two). Only the stage output (or, for
the last stage, the head's logits) is kept for all classes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange
from torch import nn

from segmodel.config import DPSegConfig
from segmodel.model.blocks import ClassAttention, DoubleConv, HDConvBlock

SideCost = Callable[[slice], "torch.Tensor | None"]  # class span -> (B, c, side, 2h, 2w) or None


def class_spans(num_classes: int, chunk: int) -> list[slice]:
    """Consecutive class ranges of at most `chunk` classes (0 = one range)."""
    if chunk <= 0 or chunk >= num_classes:
        return [slice(0, num_classes)]
    return [slice(i, min(i + chunk, num_classes)) for i in range(0, num_classes, chunk)]


class DecoderStage(nn.Module):
    """(B, C, in, h, w) -> (B, C, out, 2h, 2w), or head logits (B, C, 2h, 2w) if a head is given."""

    def __init__(
        self,
        config: DPSegConfig,
        *,
        in_channels: int,
        out_channels: int,
        guide_in: int,
        guide_channels: int,
        side_channels: int,
    ):
        super().__init__()
        self.spatial = HDConvBlock(
            in_channels,
            dilations=config.hd_dilations,
            kernel=config.hd_kernel,
            depthwise=config.hd_depthwise,
            mlp_ratio=config.mlp_ratio,
            layer_scale=config.layer_scale_init,
        )
        self.attention = ClassAttention(
            in_channels, heads=config.attn_heads, mlp_ratio=config.attn_mlp_ratio
        )
        up_channels = in_channels - guide_channels if in_channels > guide_channels else in_channels
        self.up = nn.ConvTranspose2d(in_channels, up_channels, 2, stride=2)
        self.guide = nn.Sequential(nn.Conv2d(guide_in, guide_channels, 3, padding=1), nn.ReLU())
        self.fuse = DoubleConv(up_channels + guide_channels + side_channels, out_channels)

    def _spatial(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        y = self.spatial(rearrange(x, "b c d h w -> (b c) d h w"))  # (B*c, in, h, w)
        return rearrange(y, "(b c) d h w -> b c d h w", b=b)

    def _up_fuse(
        self, x: torch.Tensor, guide: torch.Tensor, side: torch.Tensor | None
    ) -> torch.Tensor:
        """x (B, c, in, h, w), guide (B, g, 2h, 2w), side (B, c, s, 2h, 2w) -> (B, c, out, 2h, 2w)."""
        b, c = x.shape[:2]
        parts = [self.up(rearrange(x, "b c d h w -> (b c) d h w"))]  # (B*c, up, 2h, 2w)
        parts.append(
            rearrange(guide[:, None].expand(-1, c, -1, -1, -1), "b c d h w -> (b c) d h w")
        )  # (B*c, g, 2h, 2w)
        if side is not None:
            parts.append(rearrange(side, "b c d h w -> (b c) d h w"))  # (B*c, s, 2h, 2w)
        y = self.fuse(torch.cat(parts, dim=1))  # (B*c, out, 2h, 2w)
        return rearrange(y, "(b c) d h w -> b c d h w", b=b)

    def forward(
        self,
        x: torch.Tensor,
        guide_map: torch.Tensor,
        side: SideCost,
        *,
        pool: int,
        chunk: int = 0,
        head: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """x (B, C, in, h, w): this stage's input for the active classes (overwritten when
        gradients are off: inference keeps one C-sized tensor per stage);
        guide_map (B, D_j, 2h, 2w): the (detached) trunk map at the output scale;
        side(span) -> (B, c, side, 2h, 2w) or None: the side cost of classes `span`;
        pool: class-attention pooling; chunk: classes per chunk (0 = all);
        head: maps (B, c, out, 2h, 2w) -> (B, c, 2h, 2w) per chunk (the last stage's output head).
        """
        spans = class_spans(x.shape[1], chunk)
        if torch.is_grad_enabled():
            y = torch.cat([self._spatial(x[:, s]) for s in spans], dim=1)  # (B, C, in, h, w)
        else:  # inference: overwrite the input chunk by chunk (no second C-sized tensor)
            y = x
            for s in spans:
                y[:, s] = self._spatial(x[:, s])
        summary = None
        if len(spans) > 1:  # pass one: attention sums over every class
            for s in spans:
                part = self.attention.summarize(y[:, s], pool)
                summary = part if summary is None else summary + part
        guide = self.guide(guide_map)  # (B, g, 2h, 2w)
        outputs = []
        for s in spans:
            attended = self.attention(y[:, s], pool, summary)  # (B, c, in, h, w)
            out = self._up_fuse(attended, guide, side(s))
            outputs.append(head(out) if head is not None else out)
        return torch.cat(outputs, dim=1)
