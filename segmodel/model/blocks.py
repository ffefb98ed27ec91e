"""Decoder building blocks, each applied per class on (B*C, ch, h, w) maps unless stated.

Per-class maps are kept channels_last (stored (N, h, w, ch)): oneDNN's convolutions run 2-15x
faster on CPU in that layout, and the per-location LayerNorms and MLPs read it without a copy.
`per_class` and `class_storage` give the (B, C, ch, h, w) tensors of a stage the same layout.

- HDConvBlock: hybrid dilated 3x3 convs (dilations 1, 2, 4, summed), LayerNorm, MLP with GELU,
  layer-scaled residual (paper 4.2; replaces SED's 9x9 depthwise ConvNeXt block).
- ClassAttention: linear attention across classes at each (pooled) location, in two passes so it
  can run over chunks of classes exactly (summaries over all classes first, then per chunk).
- DoubleConv: (3x3 conv, GroupNorm, ReLU) x 2, the fuse step after concatenation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from segmodel.model.depthwise import dilated_depthwise

CL = torch.channels_last


def per_class(x: torch.Tensor) -> torch.Tensor:
    """(B, c, ch, h, w) -> (B*c, ch, h, w) channels_last (a view when x is stored that way)."""
    b, c, d, h, w = x.shape
    return x.permute(0, 1, 3, 4, 2).reshape(b * c, h, w, d).permute(0, 3, 1, 2)


def class_storage(
    b: int, c: int, d: int, h: int, w: int, like: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """An empty (B, C, ch, h, w) tensor stored (B, C, h, w, ch), the layout `per_class` views."""
    return like.new_empty(b, c, h, w, d, dtype=dtype or like.dtype).permute(0, 1, 4, 2, 3)


def cat_channels(parts: list[torch.Tensor]) -> torch.Tensor:
    """[(N, ch_i, h, w)] -> (N, sum ch_i, h, w) channels_last, by copies into one buffer (4x
    faster than torch.cat on channels_last maps on CPU)."""
    n, _, h, w = parts[0].shape
    out = parts[0].new_empty(n, h, w, sum(p.shape[1] for p in parts))  # (N, h, w, sum ch_i)
    start = 0
    for part in parts:
        out[..., start : start + part.shape[1]] = part.permute(0, 2, 3, 1)
        start += part.shape[1]
    return out.permute(0, 3, 1, 2)


class HDConvBlock(nn.Module):
    """x + gamma * MLP(LN(sum_d conv3x3_d(x))) on (N, ch, h, w)."""

    def __init__(
        self,
        channels: int,
        *,
        dilations: tuple[int, ...],
        kernel: int,
        depthwise: bool,
        mlp_ratio: int,
        layer_scale: float,
    ):
        super().__init__()
        groups = channels if depthwise else 1
        self.depthwise, self.dilations = depthwise, tuple(dilations)
        self.convs = nn.ModuleList(
            nn.Conv2d(
                channels, channels, kernel, padding=d * (kernel // 2), dilation=d, groups=groups
            )
            for d in dilations
        )
        self.norm = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, mlp_ratio * channels),
            nn.GELU(),
            nn.Linear(mlp_ratio * channels, channels),
        )
        self.gamma = nn.Parameter(torch.full((channels,), float(layer_scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, ch, h, w) -> (N, ch, h, w) channels_last."""
        x = x.contiguous(memory_format=CL)
        y = None
        for conv, dilation in zip(self.convs, self.dilations):
            z = (
                dilated_depthwise(x, conv.weight, conv.bias, dilation)
                if self.depthwise
                else conv(x)
            )  # (N, ch, h, w) channels_last
            y = z if y is None else y + z
        y = self.mlp(self.norm(y.permute(0, 2, 3, 1)))  # (N, h, w, ch), no copy
        return (x.permute(0, 2, 3, 1) + self.gamma * y).permute(0, 3, 1, 2)


@dataclass
class AttentionSummary:
    """Sums over all classes of one linear-attention layer, per image, location and head."""

    kv: torch.Tensor  # (B, L, heads, dh, dh) sum over classes of phi(k) v^T
    k: torch.Tensor  # (B, L, heads, dh) sum over classes of phi(k)

    def __add__(self, other: AttentionSummary) -> AttentionSummary:
        return AttentionSummary(self.kv + other.kv, self.k + other.k)


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """Positive feature map of linear attention: elu(x) + 1."""
    return F.elu(x).add_(1.0)


def _summary(k: torch.Tensor, v: torch.Tensor) -> AttentionSummary:
    """phi(k), v (B, c, L, heads, dh) -> their sums over the c classes."""
    kv = torch.einsum("bclne,bclnf->blnef", k, v)  # (B, L, heads, dh, dh)
    return AttentionSummary(kv, k.sum(dim=1))


class ClassAttention(nn.Module):
    """Pre-norm linear attention across classes + ReLU MLP, on a p x p average-pooled map; the
    change is upsampled back (bilinear) and added to the input. Inputs are (B, C, ch, h, w).

    Tokens are laid out (B, c, L, ch): with channels_last class maps that is a view at p = 1."""

    def __init__(self, channels: int, *, heads: int, mlp_ratio: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, mlp_ratio * channels),
            nn.ReLU(inplace=True),  # on the Linear's output: no fresh buffer
            nn.Linear(mlp_ratio * channels, channels),
        )

    def _tokens(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        """(B, c, ch, h, w) -> pooled tokens (B, c, L, ch), L = pooled locations."""
        b, c, d = x.shape[:3]
        flat = per_class(x)  # (B*c, ch, h, w) channels_last
        if pool > 1:
            flat = F.avg_pool2d(flat, pool, ceil_mode=True)  # (B*c, ch, h/p, w/p)
        return flat.permute(0, 2, 3, 1).reshape(b, c, -1, d)

    def _project(self, normed: torch.Tensor, part: slice) -> torch.Tensor:
        """normed tokens (B, c, L, ch) -> rows `part` of the qkv projection, (B, c, L, heads, dh)
        (contiguous: q alone, or k and v, are computed only where they are used)."""
        weight, bias = self.qkv.weight[part], self.qkv.bias[part]  # (n*ch, ch), (n*ch,)
        return F.linear(normed, weight, bias).unflatten(
            -1, (-1, self.heads, weight.shape[1] // self.heads)
        )

    def _kv(self, normed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """normed tokens (B, c, L, ch) -> phi(k), v, each (B, c, L, heads, dh)."""
        ch = normed.shape[-1]
        kv = self._project(normed, slice(ch, 3 * ch))  # (B, c, L, 2, heads, dh)
        return feature_map(kv[..., 0, :, :]), kv[..., 1, :, :]

    def summarize(self, x: torch.Tensor, pool: int) -> AttentionSummary:
        """Pass one over a chunk of classes x (B, c, ch, h, w); summaries add over chunks."""
        return _summary(*self._kv(self.norm1(self._tokens(x, pool))))

    def forward(
        self, x: torch.Tensor, pool: int, summary: AttentionSummary | None = None
    ) -> torch.Tensor:
        """x (B, c, ch, h, w) -> same shape (channels_last per class); `summary` must cover every
        class (None: x's own)."""
        tokens = self._tokens(x, pool)  # (B, c, L, ch)
        normed = self.norm1(tokens)
        ch = tokens.shape[-1]
        q = feature_map(self._project(normed, slice(0, ch))[..., 0, :, :])  # (B, c, L, heads, dh)
        if summary is None:  # one chunk: its own sums
            summary = _summary(*self._kv(normed))
        num = torch.einsum("bclne,blnef->bclnf", q, summary.kv)  # (B, c, L, heads, dh)
        den = torch.einsum("bclne,blne->bcln", q, summary.k)  # (B, c, L, heads)
        out = (num / (den[..., None] + 1e-6)).flatten(-2)  # (B, c, L, ch)
        t = tokens + self.proj(out)
        t = t + self.mlp(self.norm2(t))  # (B, c, L, ch)
        b, c, d, h, w = x.shape
        if pool == 1:  # x + (t - tokens) is t: return it as the class maps, no copy
            return t.reshape(b, c, h, w, d).permute(0, 1, 4, 2, 3)
        hp, wp = (h + pool - 1) // pool, (w + pool - 1) // pool
        delta = (t - tokens).reshape(b * c, hp, wp, d).permute(0, 3, 1, 2)  # (B*c, ch, hp, wp)
        delta = F.interpolate(delta, size=(h, w), mode="bilinear", align_corners=True)
        return x + delta.unflatten(0, (b, c))


class DoubleConv(nn.Sequential):
    """(3x3 conv, GroupNorm(out/16 groups), ReLU) twice: (N, in, h, w) -> (N, out, h, w)."""

    def __init__(self, in_channels: int, out_channels: int):
        groups = max(1, out_channels // 16)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(groups, out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(groups, out_channels),
            nn.ReLU(inplace=True),
        )
