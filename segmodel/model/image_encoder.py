"""The trainable image encoder: a copy of the CLIP visual tower (ConvNeXt trunk + head).

It yields the trunk maps at strides 4, 8 and 16 (decoder guidance and visual cost volumes) and the
dense projected embedding at stride 32 (the dual-prompt cost volume). The frozen original stays in
the bank's pipeline and in the Segmenter (inference II); this copy is fine-tuned.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from promptbank.encoder import ClipEncoder


@dataclass
class ImageFeatures:
    """What the decoder reads from one image batch; pass two of inference II reuses it."""

    s4: torch.Tensor  # (B, D4, S/4, S/4) trunk stage 1
    s8: torch.Tensor  # (B, D8, S/8, S/8) trunk stage 2
    s16: torch.Tensor  # (B, D16, S/16, S/16) trunk stage 3
    dense: torch.Tensor  # (B, D, S/32, S/32) projected per-location CLIP embedding (unnormalised)

    def select(self, index: slice) -> ImageFeatures:
        """The features of a sub-batch (e.g. one image)."""
        return ImageFeatures(self.s4[index], self.s8[index], self.s16[index], self.dense[index])


class ImageEncoder(nn.Module):
    """A trainable copy of `encoder`'s visual tower; the text tower is not copied."""

    def __init__(self, encoder: ClipEncoder, *, trainable: bool = True):
        super().__init__()
        self.visual = copy.deepcopy(encoder.clip.visual)
        self.visual.requires_grad_(trainable)
        self.stage_dims = tuple(encoder.stage_dims)  # widths at strides 4, 8, 16, 32
        self.embed_dim = int(encoder.embed_dim)  # D

    def forward(self, images: torch.Tensor) -> ImageFeatures:
        """images (B, 3, S, S) normalised -> ImageFeatures."""
        trunk = self.visual.trunk
        h = trunk.stem(images)
        maps = []
        for stage in trunk.stages:
            h = stage(h)
            maps.append(h)
        s32 = trunk.norm_pre(maps[-1])  # (B, D32, S/32, S/32)
        normed = trunk.head.norm(s32).permute(0, 2, 3, 1)  # (B, h, w, D32)
        dense = self.visual.head(normed).permute(0, 3, 1, 2)  # (B, D, h, w)
        return ImageFeatures(s4=maps[0], s8=maps[1], s16=maps[2], dense=dense)
