"""Decoder building blocks, each applied per class on (B*C, ch, h, w) maps unless stated.

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
from einops import rearrange
from torch import nn


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
        y = sum(conv(x) for conv in self.convs)  # (N, ch, h, w)
        y = self.mlp(self.norm(y.permute(0, 2, 3, 1)))  # (N, h, w, ch)
        return x + (self.gamma * y).permute(0, 3, 1, 2)


@dataclass
class AttentionSummary:
    """Sums over all classes of one linear-attention layer, per image, location and head."""

    kv: torch.Tensor  # (B, L, heads, dh, dh) sum over classes of phi(k) v^T
    k: torch.Tensor  # (B, L, heads, dh) sum over classes of phi(k)

    def __add__(self, other: AttentionSummary) -> AttentionSummary:
        return AttentionSummary(self.kv + other.kv, self.k + other.k)


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """Positive feature map of linear attention: elu(x) + 1."""
    return F.elu(x) + 1.0


def _summary(k: torch.Tensor, v: torch.Tensor) -> AttentionSummary:
    """phi(k), v (B, L, c, heads, dh) -> their sums over the c classes."""
    kv = torch.einsum("blcne,blcnf->blnef", k, v)  # (B, L, heads, dh, dh)
    return AttentionSummary(kv, k.sum(dim=2))


class ClassAttention(nn.Module):
    """Pre-norm linear attention across classes + ReLU MLP, on a p x p average-pooled map; the
    change is upsampled back (bilinear) and added to the input. Inputs are (B, C, ch, h, w)."""

    def __init__(self, channels: int, *, heads: int, mlp_ratio: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, mlp_ratio * channels),
            nn.ReLU(),
            nn.Linear(mlp_ratio * channels, channels),
        )

    def _tokens(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        """(B, C, ch, h, w) -> pooled tokens (B, L, C, ch), L = pooled locations."""
        b = x.shape[0]
        flat = rearrange(x, "b c d h w -> (b c) d h w")
        if pool > 1:
            flat = F.avg_pool2d(flat, pool, ceil_mode=True)  # (B*C, ch, h/p, w/p)
        return rearrange(flat, "(b c) d h w -> b (h w) c d", b=b)

    def _qkv(self, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """tokens (B, L, C, ch) -> phi(q), phi(k), v, each (B, L, C, heads, dh)."""
        q, k, v = self.qkv(self.norm1(tokens)).chunk(3, dim=-1)
        q, k, v = (rearrange(t, "b l c (n e) -> b l c n e", n=self.heads) for t in (q, k, v))
        return feature_map(q), feature_map(k), v

    def summarize(self, x: torch.Tensor, pool: int) -> AttentionSummary:
        """Pass one over a chunk of classes x (B, c, ch, h, w); summaries add over chunks."""
        _, k, v = self._qkv(self._tokens(x, pool))
        return _summary(k, v)

    def forward(
        self, x: torch.Tensor, pool: int, summary: AttentionSummary | None = None
    ) -> torch.Tensor:
        """x (B, c, ch, h, w) -> same shape; `summary` must cover every class (None: x's own)."""
        tokens = self._tokens(x, pool)  # (B, L, c, ch)
        q, k, v = self._qkv(tokens)
        if summary is None:
            summary = _summary(k, v)
        num = torch.einsum("blcne,blnef->blcnf", q, summary.kv)  # (B, L, c, heads, dh)
        den = torch.einsum("blcne,blne->blcn", q, summary.k)  # (B, L, c, heads)
        out = rearrange(num / (den[..., None] + 1e-6), "b l c n e -> b l c (n e)")
        t = tokens + self.proj(out)
        t = t + self.mlp(self.norm2(t))
        b, c, _, h, w = x.shape
        hp, wp = (h + pool - 1) // pool, (w + pool - 1) // pool
        delta = rearrange(t - tokens, "b (h w) c d -> (b c) d h w", h=hp, w=wp)
        if pool > 1:
            delta = F.interpolate(delta, size=(h, w), mode="bilinear", align_corners=True)
        return x + rearrange(delta, "(b c) d h w -> b c d h w", b=b)


class DoubleConv(nn.Sequential):
    """(3x3 conv, GroupNorm(out/16 groups), ReLU) twice: (N, in, h, w) -> (N, out, h, w)."""

    def __init__(self, in_channels: int, out_channels: int):
        groups = max(1, out_channels // 16)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(groups, out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(groups, out_channels),
            nn.ReLU(),
        )
