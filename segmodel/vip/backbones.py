"""Dense, training-free backbones: an image crop in, a text-aligned embedding per location out.

Three families share one interface (`DenseBackbone`):

- ConvNeXt CLIP (`tiny`, `convnext_base_w_320`, ...): the trunk's last map through the CLIP head
  norm and projection at every location (FC-CLIP style; convolutions keep locality, so no surgery).
  Mode `proxy` also propagates that map with the trunk's own patch affinity.
- ViT CLIP (`ViT-B-16`, `tiny-vit`, ...): the last block is replaced. Mode `clearclip` uses
  query-query attention without residual and MLP; mode `proxy` (VIP's idea) uses attention weights
  built from the backbone's own patch affinities (the tokens entering the last block), applied to
  the last block's values. Position embeddings are interpolated, so the grid follows the input.
- dino.txt: an adapter slot (`DinoTxtBackbone`) that needs its weights and code on disk.

open_clip is imported here (and in `promptbank.encoder`) only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from promptbank.encoder import OPENAI_MEAN, OPENAI_STD, ClipEncoder, load_clip
from promptbank.errors import UnknownModelError, WeightsNotFoundError

DENSE_MODES = ("auto", "fcclip", "clearclip", "proxy")
TINY_VIT = {  # the built-in small ViT CLIP (random init from a fixed seed, tests only)
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


@dataclass
class DenseFeatures:
    """What a dense backbone returns for a batch of crops (unnormalised embeddings)."""

    dense: torch.Tensor  # (B, D, h, w) text-aligned embedding per location
    pooled: torch.Tensor  # (B, D) the backbone's global image embedding
    proxy: torch.Tensor  # (B, Dp, h, w) the backbone's own features for patch affinities


@runtime_checkable
class DenseBackbone(Protocol):
    """The contract VIP needs from a backbone; a dino.txt port implements the same four members.

    `stride` is the input pixels per output location; inputs must be multiples of it.
    """

    name: str
    embed_dim: int  # D
    stride: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def identity(self) -> dict: ...

    def encode_dense(self, x: torch.Tensor) -> DenseFeatures: ...

    def encode_text(self, prompts: list[str]) -> torch.Tensor: ...


def proxy_affinity(feats: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """(B, Dp, h, w) features -> (B, N, N) row-stochastic attention, N = h*w.

    Cosine similarity S, shifted and scaled as (S - beta * mean(S)) * gamma, entries <= 0 dropped,
    softmax per row (ProxyCLIP's rule, VIP's constants by default). Our addition: the diagonal is
    always kept, so a row never ends up empty (random or very uniform features).
    """
    f = F.normalize(feats.flatten(2).float(), dim=1)  # (B, Dp, N)
    sim = torch.einsum("bdn,bdm->bnm", f, f)  # (B, N, N)
    sim = (sim - beta * sim.mean(dim=(1, 2), keepdim=True)) * gamma
    eye = torch.eye(sim.shape[-1], dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill((sim <= 0) & ~eye, float("-inf"))
    return sim.softmax(dim=-1)


def propagate(maps: torch.Tensor, affinity: torch.Tensor) -> torch.Tensor:
    """(B, K, h, w) maps through a (B, N, N) affinity -> (B, K, h, w)."""
    b, k, h, w = maps.shape
    flat = maps.flatten(2)  # (B, K, N)
    return torch.einsum("bnm,bkm->bkn", affinity, flat).reshape(b, k, h, w)


class _ClipText(nn.Module):
    """Text side shared by the open_clip backbones."""

    clip: nn.Module
    tokenizer: object

    @torch.no_grad()
    def encode_text(self, prompts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Prompts -> (N, D) unnormalised text embeddings."""
        device = next(self.clip.parameters()).device
        out = [
            self.clip.encode_text(self.tokenizer(prompts[i : i + batch_size]).to(device)).float()
            for i in range(0, len(prompts), batch_size)
        ]
        return torch.cat(out) if out else torch.zeros(0, self.embed_dim, device=device)


class ConvNextDense(_ClipText):
    """ConvNeXt CLIP: CLIP head + projection per location (mode `fcclip`), optionally propagated
    with the stride-32 trunk map's own affinity (mode `proxy`)."""

    stride = 32

    def __init__(
        self, encoder: ClipEncoder, *, mode: str = "fcclip", beta: float = 1.5, gamma: float = 0.5
    ):
        super().__init__()
        self.encoder, self.clip, self.tokenizer = encoder, encoder.clip, encoder.tokenizer
        self.name, self.embed_dim = encoder.name, encoder.embed_dim
        self.mean, self.std = encoder.mean, encoder.std
        self.mode, self.beta, self.gamma = mode, beta, gamma

    def identity(self) -> dict:
        return self.encoder.identity()

    @torch.no_grad()
    def encode_dense(self, x: torch.Tensor) -> DenseFeatures:
        s32 = self.encoder.trunk_maps(x)[-1]  # (B, D32, H/32, W/32)
        dense = self.encoder.dense_embedding(s32)  # (B, D, H/32, W/32)
        if self.mode == "proxy":
            dense = propagate(dense, proxy_affinity(s32, self.beta, self.gamma))
        return DenseFeatures(dense, self.encoder.pooled_embedding(s32), s32)


class VitDense(_ClipText):
    """open_clip ViT CLIP with last-block surgery (`clearclip`) or proxy attention (`proxy`)."""

    def __init__(
        self,
        clip: nn.Module,
        tokenizer,
        identity: dict,
        *,
        mode: str = "proxy",
        beta: float = 1.5,
        gamma: float = 0.5,
    ):
        super().__init__()
        visual = clip.visual
        last = visual.transformer.resblocks[-1]
        if getattr(visual, "attn_pool", None) is not None or not isinstance(
            getattr(last, "attn", None), nn.MultiheadAttention
        ):
            raise UnknownModelError(
                f"backbone {identity['name']!r} is a ViT without a plain multi-head last block "
                "(attention pooling or custom blocks); VIP supports native open_clip ViTs "
                "(e.g. ViT-B-16) and ConvNeXt CLIPs"
            )
        self.clip, self.tokenizer, self._identity = clip, tokenizer, dict(identity)
        self.name = identity["name"]
        self.embed_dim = int(visual.output_dim)
        self.stride = int(visual.patch_size[0])
        cfg = getattr(visual, "preprocess_cfg", {}) or {}
        self.mean = tuple(cfg.get("mean", OPENAI_MEAN))
        self.std = tuple(cfg.get("std", OPENAI_STD))
        self.mode, self.beta, self.gamma = mode, beta, gamma
        self.requires_grad_(False)

    def identity(self) -> dict:
        return dict(self._identity)

    def _position(self, h: int, w: int) -> torch.Tensor:
        """(1 + h*w, width) position embedding, bicubically resized from the trained grid."""
        visual = self.clip.visual
        pos = visual.positional_embedding
        gh, gw = visual.grid_size
        if (h, w) == (gh, gw):
            return pos
        grid = rearrange(pos[1:], "(gh gw) c -> 1 c gh gw", gh=gh, gw=gw)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return torch.cat([pos[:1], rearrange(grid, "1 c h w -> (h w) c")])

    def _tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        visual = self.clip.visual
        patches = visual.conv1(x)  # (B, width, h, w)
        b, _, h, w = patches.shape
        tokens = rearrange(patches, "b c h w -> b (h w) c")
        cls = visual.class_embedding.view(1, 1, -1).expand(b, 1, -1).to(tokens.dtype)
        tokens = torch.cat([cls, tokens], dim=1) + self._position(h, w).to(tokens.dtype)
        tokens = visual.ln_pre(tokens)  # (B, 1 + h*w, width)
        for block in visual.transformer.resblocks[:-1]:
            tokens = block(tokens)
        return tokens, h, w

    def _last_block(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Surgery on the last block -> (patch outputs (B, N, width), proxy feats (B, N, width))."""
        last = self.clip.visual.transformer.resblocks[-1]
        attn = last.attn
        x = last.ln_1(tokens)  # (B, 1 + N, width)
        q, _, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        if self.mode == "proxy":
            feats = rearrange(x[:, 1:], "b n c -> b c n 1")  # grid shape does not matter here
            weights = proxy_affinity(feats, self.beta, self.gamma)  # (B, N, N)
            out = weights @ v[:, 1:]  # (B, N, width), one weight map shared by all heads
        else:  # clearclip: softmax(q q^T) per head, over all tokens
            heads = attn.num_heads
            qh = rearrange(q, "b n (h d) -> b h n d", h=heads)
            vh = rearrange(v, "b n (h d) -> b h n d", h=heads)
            out = F.scaled_dot_product_attention(qh, qh, vh)  # (B, heads, 1 + N, d)
            out = rearrange(out, "b h n d -> b n (h d)")[:, 1:]
        return attn.out_proj(out), x[:, 1:]

    @torch.no_grad()
    def encode_dense(self, x: torch.Tensor) -> DenseFeatures:
        visual = self.clip.visual
        tokens, h, w = self._tokens(x)
        patches, proxy = self._last_block(tokens)  # (B, N, width) each
        dense = visual.ln_post(patches) @ visual.proj  # (B, N, D)
        dense = rearrange(dense, "b (h w) d -> b d h w", h=h, w=w)
        pooled = F.normalize(dense, dim=1).mean(dim=(2, 3))  # (B, D) mean of unit tokens
        return DenseFeatures(dense, pooled, rearrange(proxy, "b (h w) c -> b c h w", h=h, w=w))


class DinoTxtBackbone:
    """Adapter slot for dino.txt (VIP's own backbone). dino.txt's code and weights are not shipped
    and cannot be downloaded here; a port implements `DenseBackbone` with: head patch tokens as
    `dense` (1024-d), their normalised mean as `pooled`, the frozen backbone's last-layer patch
    tokens as `proxy`, and the second half (dims 1024:2048) of the text embedding in
    `encode_text`. Until then constructing it fails with a message saying what is missing."""

    def __init__(self, weights: str | Path | None):
        if weights is None or not Path(weights).expanduser().exists():
            raise WeightsNotFoundError(
                f"dino.txt weights not found at {weights!s}; put the dino.txt head+text checkpoint "
                "on disk and pass --backbone-weights PATH, or use a CLIP backbone "
                "(tiny, ViT-B-16, convnext_base_w_320)"
            )
        raise UnknownModelError(
            "dino.txt weights found, but dpseg has no dino.txt port yet (its model code is not "
            "installed); use a CLIP backbone (tiny, ViT-B-16, convnext_base_w_320)"
        )


@functools.cache
def _tiny_vit_tokenizer():
    import open_clip

    return open_clip.get_tokenizer("ViT-B-16")  # the BPE vocabulary open_clip ships


def _tiny_vit(seed: int) -> tuple[nn.Module, object, dict]:
    import open_clip

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clip = open_clip.CLIP(**TINY_VIT)
    identity = {
        "name": "tiny-vit",
        "arch": "dpseg-tiny-vit",
        "pretrained": None,
        "weights": f"random-init:seed{seed}",
    }
    return clip.eval(), _tiny_vit_tokenizer(), identity


def load_backbone(
    name: str = "tiny",
    weights: str | Path | None = None,
    *,
    mode: str = "auto",
    beta: float = 1.5,
    gamma: float = 0.5,
    random_init: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> DenseBackbone:
    """Build the dense backbone `name` (see the module docstring) in eval mode on `device`.

    `mode`: `auto` (ConvNeXt -> `fcclip`, ViT -> `proxy`), `fcclip`, `clearclip`, `proxy`.
    `beta`, `gamma`: proxy-attention shift and scale. `random_init`: real architectures without
    weights (tests and benchmarks).
    """
    if mode not in DENSE_MODES:
        raise UnknownModelError(f"unknown dense mode {mode!r}; expected one of {DENSE_MODES}")
    if name.startswith("dinotxt"):
        return DinoTxtBackbone(weights or (name.partition(":")[2] or None))
    if name == "tiny-vit":
        clip, tokenizer, identity = _tiny_vit(seed)
    else:
        clip, tokenizer, identity = load_clip(name, weights, random_init=random_init, seed=seed)
    if getattr(clip.visual, "trunk", None) is not None:
        if mode == "clearclip":
            raise UnknownModelError(
                f"dense mode 'clearclip' needs a ViT backbone but {name!r} is a ConvNeXt CLIP; "
                "use --dense-mode fcclip or proxy"
            )
        encoder = ClipEncoder(clip=clip, tokenizer=tokenizer, identity=identity)
        backbone = ConvNextDense(
            encoder, mode="fcclip" if mode == "auto" else mode, beta=beta, gamma=gamma
        )
    elif hasattr(clip.visual, "transformer"):
        if mode == "fcclip":
            raise UnknownModelError(
                f"dense mode 'fcclip' needs a ConvNeXt backbone but {name!r} is a ViT; "
                "use --dense-mode proxy or clearclip"
            )
        backbone = VitDense(
            clip,
            tokenizer,
            identity,
            mode="proxy" if mode == "auto" else mode,
            beta=beta,
            gamma=gamma,
        )
    else:
        raise UnknownModelError(
            f"backbone {name!r} is neither a ConvNeXt nor a native ViT open_clip model; VIP "
            "supports e.g. tiny, tiny-vit, ViT-B-16, convnext_base_w_320"
        )
    backbone.requires_grad_(False)
    return backbone.to(device).eval()
