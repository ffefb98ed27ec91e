"""Cost volumes: the dual-prompt one at stride 32 (paper eq. 1) and the visual ones per stage (eq. 2).

All costs are raw cosines (no logit scale), as in SED. Prompt tensors are (C, T, D) for the active
classes; the model never stores them, so the vocabulary can change between calls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segmodel.config import DPSegConfig
from segmodel.model.blocks import per_class


def normalise(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """L2-normalise along `dim` (zero vectors stay zero)."""
    return F.normalize(x, dim=dim, eps=1e-6)


def cosine_cost(image: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
    """image (B, D, h, w), prompts (C, T, D) -> cosines (B, C, T, h, w)."""
    return torch.einsum("bdhw,ctd->bcthw", normalise(image, dim=1), normalise(prompts))


def dual_prompt(text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
    """Paper 4.1: normalise(normalise(text) + normalise(visual)), both (C, T, D) -> (C, T, D)."""
    return normalise(normalise(text) + normalise(visual))


def prompt_cost(
    config: DPSegConfig, dense: torch.Tensor, text: torch.Tensor, visual: torch.Tensor
) -> torch.Tensor:
    """The first cost volume for the configured prompt mode and fusion.

    dense (B, D, h, w); text, visual (C, T, D) -> (B, C, cost_channels, h, w).
    """
    if config.prompt_mode == "text":
        return cosine_cost(dense, text)
    if config.prompt_mode == "visual":
        return cosine_cost(dense, visual)
    if config.fusion == "embedding-average":
        return cosine_cost(dense, dual_prompt(text, visual))
    text_cost, visual_cost = cosine_cost(dense, text), cosine_cost(dense, visual)
    if config.fusion == "cost-average":
        return 0.5 * (text_cost + visual_cost)  # (B, C, T, h, w)
    return torch.cat([text_cost, visual_cost], dim=2)  # (B, C, 2T, h, w)


class CostEmbedding(nn.Module):
    """One k x k conv applied to every class's cost slices: (B, C, T, h, w) -> (B, C, d_F, h, w)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)

    def forward(self, cost: torch.Tensor) -> torch.Tensor:
        """cost (B, C, T, h, w) -> (B, C, d_F, h, w), channels_last per class."""
        return self.conv(per_class(cost)).unflatten(0, (cost.shape[0], -1))


def template_groups(num_templates: int, groups: int) -> torch.Tensor:
    """(P, T) averaging matrix: row p averages the p-th contiguous block of templates."""
    matrix = torch.zeros(groups, num_templates)
    for p, block in enumerate(torch.arange(num_templates).tensor_split(groups)):
        matrix[p, block] = 1.0 / len(block)
    return matrix


class VisualCost(nn.Module):
    """Paper eq. 2 at one stage: cosine of the stage's image map with the visual prompts' pooled
    features of the same stage, templates averaged into P prototypes, projected by a 3x3 conv.

    image map (B, Dj, H, W) (detached trunk map), prototypes (C, P, Dj) -> (B, C, out, H, W).
    """

    def __init__(self, prototypes: int, out_channels: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(prototypes, out_channels, 3, padding=1), nn.ReLU())

    def forward(self, image: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        """image (B, Dj, H, W) and prototypes (c, P, Dj), both already L2-normalised over Dj
        (once per decode, not per chunk) -> (B, c, out, H, W), channels_last per class."""
        b, d, h, w = image.shape
        c, p, _ = prototypes.shape
        # one matmul straight into the per-class layout: (c*P, Dj) @ (B, Dj, H*W)
        cost = torch.matmul(prototypes.reshape(c * p, d), image.flatten(2))  # (B, c*P, H*W)
        cost = cost.view(b * c, p, h, w).contiguous(memory_format=torch.channels_last)
        return self.proj(cost).unflatten(0, (b, c))  # (B, c, out, H, W)


class UpsampledCost(nn.Module):
    """SED's cost-volume skip path (the paper's "upsampling" ablation row): one chain of stride-2
    transposed convs with ReLU, widths `dims`; decoder stage j reads the chain's j-th output.

    cost (B, C, Tc, h, w), steps j -> (B, C, dims[j-1], h * 2**j, w * 2**j).
    """

    def __init__(self, in_channels: int, dims: tuple[int, ...]):
        super().__init__()
        self.steps = nn.ModuleList()
        for width in dims:
            self.steps.append(
                nn.Sequential(nn.ConvTranspose2d(in_channels, width, 2, stride=2), nn.ReLU())
            )
            in_channels = width

    def forward(self, cost: torch.Tensor, steps: int) -> torch.Tensor:
        x = per_class(cost)  # (B*C, Tc, h, w) channels_last
        for step in self.steps[:steps]:
            x = step(x)  # (B*C, width, 2h, 2w)
        return x.unflatten(0, (cost.shape[0], -1))
