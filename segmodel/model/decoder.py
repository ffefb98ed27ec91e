"""One cost-volume-guided decoder stage (paper 4.2), run over chunks of classes.

Per class: HD-conv block -> linear attention across classes -> 2x transposed conv -> concat of the
detached encoder guidance (trunk map reduced 16x by a 3x3 conv) and the stage's side cost (the
visual cost volume, SED's upsampled cost, or nothing) -> DoubleConv fuse.

Chunking is exact: the attention's sums over classes are accumulated over every chunk first (pass
one), then each chunk is attended, upsampled and fused (pass two). At inference (`infer`) a
stage's input and output are `ClassBlocks`: each input chunk is freed once pass two has read it,
and blocks may be stored in half precision between stages.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from segmodel.config import DPSegConfig
from segmodel.model.blocks import ClassAttention, DoubleConv, HDConvBlock, cat_channels, per_class
from segmodel.model.class_blocks import ClassBlocks

SideCost = Callable[[slice], "torch.Tensor | None"]  # class span -> (B, c, side, 2h, 2w) or None


def class_spans(num_classes: int, chunk: int) -> list[slice]:
    """Consecutive class ranges of at most `chunk` classes (0 = one range)."""
    if chunk <= 0 or chunk >= num_classes:
        return [slice(0, num_classes)]
    return [slice(i, min(i + chunk, num_classes)) for i in range(0, num_classes, chunk)]


def stage_chunk(chunk: int, pixels: int, limit: int) -> int:
    """Classes per chunk at a stage with `pixels` output pixels: at most `chunk` (0 = all) and at
    most `limit` class-pixels (0 = no bound), at least one class."""
    if limit <= 0:
        return chunk
    bound = max(1, limit // pixels)
    return bound if chunk <= 0 else min(chunk, bound)


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
        """(B, c, in, h, w) -> (B, c, in, h, w), channels_last per class."""
        return self.spatial(per_class(x)).unflatten(0, (x.shape[0], -1))

    def guide_term(self, guide_map: torch.Tensor) -> torch.Tensor:
        """The fuse conv's share of the encoder guidance, the same for every class.

        guide_map (B, D_j, 2h, 2w) -> (B, out, 2h, 2w). The first fuse conv is linear in its
        input channels, so its guidance channels are convolved once per stage, not per class.
        """
        guide = self.guide(guide_map)  # (B, g, 2h, 2w)
        weight = self.fuse[0].weight  # (out, up + g + side, 3, 3)
        up = self.up.out_channels
        return F.conv2d(guide, weight[:, up : up + guide.shape[1]], padding=1)

    def _up_fuse(
        self, x: torch.Tensor, guide: torch.Tensor, side: torch.Tensor | None
    ) -> torch.Tensor:
        """x (B, c, in, h, w), guide = guide_term(...) (B, out, 2h, 2w), side (B, c, s, 2h, 2w)
        -> (B, c, out, 2h, 2w) channels_last per class."""
        b = x.shape[0]
        up = self.up(per_class(x))  # (B*c, up, 2h, 2w) channels_last
        weight = self.fuse[0].weight  # (out, up + g + side, 3, 3)
        own = weight[:, : up.shape[1]]
        if side is not None:  # concat of the per-class inputs, channels_last
            up = cat_channels([up, per_class(side)])  # (B*c, up + s, 2h, 2w)
            own = torch.cat([own, weight[:, weight.shape[1] - side.shape[2] :]], dim=1)
        y = F.conv2d(up, own, padding=1).unflatten(0, (b, -1))  # (B, c, out, 2h, 2w)
        del up  # the widest tensor of the chunk: gone before the norm / ReLU / conv chain
        y.add_(guide[:, None])  # + the guidance share, broadcast over classes
        y = y.flatten(0, 1)  # (B*c, out, 2h, 2w)
        for layer in list(self.fuse)[1:]:  # GroupNorm, ReLU, conv, GroupNorm, ReLU
            y = layer(y)
        return y.unflatten(0, (b, -1))

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
        """The decode with gradients (training): every class's tensor is kept for autograd.

        x (B, C, in, h, w): this stage's input for the active classes;
        guide_map (B, D_j, 2h, 2w): the (detached) trunk map at the output scale;
        side(span) -> (B, c, side, 2h, 2w) or None: the side cost of classes `span`;
        pool: class-attention pooling; chunk: classes per chunk (0 = all);
        head: maps (B, c, out, 2h, 2w) -> (B, c, 2h, 2w) per chunk (the last stage's output head).
        Returns (B, C, out, 2h, 2w) (or the head's (B, C, 2h, 2w)), channels_last per class.
        """
        spans = class_spans(x.shape[1], chunk)
        y = torch.cat([self._spatial(x[:, s]) for s in spans], dim=1)  # (B, C, in, h, w)
        summary = None
        if len(spans) > 1:  # pass one: attention sums over every class
            for s in spans:
                part = self.attention.summarize(y[:, s], pool)
                summary = part if summary is None else summary + part
        guide = self.guide_term(guide_map)  # (B, out, 2h, 2w)
        outputs = []
        for s in spans:
            part = self._up_fuse(self.attention(y[:, s], pool, summary), guide, side(s))
            outputs.append(head(part) if head is not None else part)
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)

    def infer(
        self,
        x: ClassBlocks,
        guide_map: torch.Tensor,
        side: SideCost,
        *,
        pool: int,
        out_spans: list[slice] | None = None,
        out_dtype: torch.dtype | None = None,
        head: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> ClassBlocks | torch.Tensor:
        """The decode without gradients, over x's blocks (one chunk per block).

        The HD-conv pass overwrites each block; pass one sums the attention over every block;
        pass two attends, upsamples and fuses each block and frees it, so the input shrinks as the
        output grows. The output is held as blocks `out_spans` (the next stage's chunks) stored in
        `out_dtype`, or, with a head, as one logits tensor (B, C, 2h, 2w).
        """
        for i in range(len(x)):
            x.replace(i, self._spatial(x.read(i)))
        summary = None
        if len(x) > 1:  # pass one: attention sums over every class
            for i in range(len(x)):
                part = self.attention.summarize(x.read(i), pool)
                summary = part if summary is None else summary + part
        guide = self.guide_term(guide_map)  # (B, out, 2h, 2w)
        out = ClassBlocks(out_spans or x.spans, out_dtype or x.dtype) if head is None else None
        logits = None  # with a head: (B, C, 2h, 2w), allocated at the first block
        for i, s in enumerate(x.spans):
            part = self._up_fuse(self.attention(x.take(i), pool, summary), guide, side(s))
            if head is None:
                out.write(s, part)
                continue
            part = head(part)  # (B, c, 2h, 2w)
            if len(x) == 1:
                return part
            if logits is None:
                logits = part.new_empty(part.shape[0], x.num_classes, *part.shape[2:])
            logits[:, s] = part
        return out if head is None else logits
