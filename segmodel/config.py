"""DPSeg settings: one frozen dataclass, presets in a plain dict, and `build_model`.

Every size the paper (and SED, which DPSeg builds on) states is a field; where the paper is silent
(prototype channels of the visual cost volumes, HD-conv widths) the choice is a field too and
`docs/model.md` says why. Stage tuples are ordered coarse to fine: (stride 16, stride 8, stride 4).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segmodel.errors import ConfigError

if TYPE_CHECKING:
    from promptbank.encoder import ClipEncoder
    from segmodel.model.dpseg import DPSeg

PROMPT_MODES = ("text", "visual", "dual")
FUSIONS = ("embedding-average", "cost-average", "concat")
STAGE_COSTS = ("visual", "upsample", "off")
STAGE_STORAGES = ("auto", "float32", "float16")


@dataclass(frozen=True)
class DPSegConfig:
    """All settings of one DPSeg model (saved inside every checkpoint)."""

    # --- encoder -------------------------------------------------------------------------------
    encoder: str = (
        "tiny"  # promptbank encoder name: trainable image encoder + frozen prompt encoder
    )
    image_size: int = 128  # S, square model input side (paper 768); a multiple of 32
    freeze_encoder: bool = False  # True: train the decoder only (image encoder kept frozen)
    # --- prompts and the dual-prompt cost volume (paper 4.1) ----------------------------------
    num_templates: int = 2  # T, templates per class in the prompts (paper 80 ImageNet templates)
    prompt_mode: str = "dual"  # text | visual | dual (paper Table 2a)
    fusion: str = "embedding-average"  # dual only: embedding-average | cost-average | concat (2b)
    cost_embed_dim: int = 128  # d_F, channels of the cost-volume embedding (paper 128)
    cost_embed_kernel: int = 7  # kernel of the conv over each class's T cost slices (SED 7x7)
    # --- cost-volume-guided decoder (paper 4.2) ------------------------------------------------
    decoder_dims: tuple[int, int, int] = (64, 32, 16)  # output widths of the 3 stages (paper)
    guidance_reduction: int = 16  # encoder guidance width = trunk width / this (paper 16x)
    hd_dilations: tuple[int, ...] = (1, 2, 4)  # HD conv: 3x3 convs at these dilations, summed
    hd_kernel: int = 3  # HD conv kernel (paper 3x3)
    hd_depthwise: bool = True  # HD-conv width: one filter per channel (True) or full convs
    mlp_ratio: int = 4  # hidden width / stage width of the MLP after the HD conv (GELU)
    layer_scale_init: float = 1.0  # initial layer-scale of the HD-conv block residual (SED 1.0)
    attn_heads: int = 4  # heads of the linear attention across classes (SED 4)
    attn_mlp_ratio: int = 4  # hidden width / stage width of the class-attention MLP (ReLU)
    attn_pool_train: int = 2  # class attention runs on a (p x p)-average-pooled map in training
    attn_pool_eval: int = 1  # ... and at this pooling in eval (SED: 2 train, 1 eval)
    # Side cost of each stage (paper Table 3): visual (eq. 2) | upsample (SED's skip path) | off
    visual_cost: tuple[str, str, str] = ("visual", "visual", "visual")
    visual_cost_prototypes: int = 8  # P: per-class prototypes, templates averaged in P groups;
    # 0 = one per template (P = T, the paper's visual cost volume)
    visual_cost_dims: tuple[int, int, int] | None = None  # projected visual-cost widths per stage;
    # None = the guidance widths (trunk width / guidance_reduction), like SED's skip path
    # --- inference ---------------------------------------------------------------------------
    topk: int | None = None  # category early rejection: keep the per-pixel top-k union; None = off
    class_chunk: int = 64  # classes decoded at once (memory bound); 0 = all classes in one go
    chunk_pixels: int = 2**17  # ... and at most this many class-pixels (classes x a stage's output
    # pixels) per chunk, so finer stages take fewer classes at once; 0 = no pixel bound
    stage_storage: str = "auto"  # class tensors between decoder stages at inference: float32,
    # float16 (half the memory; logits equal by argmax), or auto = float16 when the vocabulary
    # takes more than one chunk (class_chunk), float32 otherwise
    reject_logit: float = -100.0  # logit written for classes removed by early rejection

    def __post_init__(self) -> None:
        def bad(name: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(f"model setting {name}={value!r} is invalid: expected {expected}")

        if self.image_size <= 0 or self.image_size % 32:
            raise bad("image_size", self.image_size, "a positive multiple of 32")
        if self.prompt_mode not in PROMPT_MODES:
            raise bad("prompt_mode", self.prompt_mode, " | ".join(PROMPT_MODES))
        if self.fusion not in FUSIONS:
            raise bad("fusion", self.fusion, " | ".join(FUSIONS))
        if len(self.visual_cost) != 3 or any(v not in STAGE_COSTS for v in self.visual_cost):
            raise bad("visual_cost", self.visual_cost, f"3 of {' | '.join(STAGE_COSTS)}")
        if self.num_templates < 1:
            raise bad("num_templates", self.num_templates, "at least 1")
        if not 0 <= self.visual_cost_prototypes <= self.num_templates:
            raise bad(
                "visual_cost_prototypes",
                self.visual_cost_prototypes,
                f"0 (one per template) or between 1 and num_templates={self.num_templates}",
            )
        if len(self.decoder_dims) != 3 or min(self.decoder_dims) < 1:
            raise bad("decoder_dims", self.decoder_dims, "3 positive widths")
        if any(d % self.attn_heads for d in (self.cost_embed_dim, *self.decoder_dims[:2])):
            raise bad("attn_heads", self.attn_heads, "a divisor of cost_embed_dim and decoder_dims")
        if self.topk is not None and self.topk < 1:
            raise bad("topk", self.topk, "None or at least 1")
        if self.class_chunk < 0:
            raise bad("class_chunk", self.class_chunk, "0 (no chunking) or a positive count")
        if self.stage_storage not in STAGE_STORAGES:
            raise bad("stage_storage", self.stage_storage, " | ".join(STAGE_STORAGES))
        if self.chunk_pixels < 0:
            raise bad("chunk_pixels", self.chunk_pixels, "0 (no bound) or a positive count")

    @property
    def cost_channels(self) -> int:
        """Channels per class of the first cost volume (T, or 2T when text and visual concat)."""
        concat = self.prompt_mode == "dual" and self.fusion == "concat"
        return 2 * self.num_templates if concat else self.num_templates

    @property
    def prototypes(self) -> int:
        """P, visual-cost prototypes per class (visual_cost_prototypes, or T when that is 0)."""
        return self.visual_cost_prototypes or self.num_templates

    @property
    def uses_visual(self) -> bool:
        """Whether the model reads visual prompts at all (text-only models do not)."""
        return self.prompt_mode != "text" or "visual" in self.visual_cost

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DPSegConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model settings {unknown}; known: {sorted(known)}")
        tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list)}
        return cls(**{**data, **tuples})


PRESETS: dict[str, DPSegConfig] = {
    # Small and fast on CPU: tests and the shapes world.
    "tiny": DPSegConfig(
        encoder="tiny",
        image_size=128,
        num_templates=2,
        cost_embed_dim=32,
        decoder_dims=(32, 16, 8),
        attn_heads=2,
        visual_cost_prototypes=2,
    ),
    # DPSeg-B: ConvNeXt-B CLIP (640-d), 768 input, 80 templates.
    "base": DPSegConfig(encoder="convnext_base_w_320", image_size=768, num_templates=80),
    # DPSeg-L: ConvNeXt-L CLIP (768-d), 768 input, 80 templates.
    "large": DPSegConfig(encoder="convnext_large_d_320", image_size=768, num_templates=80),
}


def preset_config(preset: str, **overrides: Any) -> DPSegConfig:
    """The preset's config with `overrides` applied (unknown names raise ConfigError)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}; choose one of {sorted(PRESETS)}")
    known = {f.name for f in dataclasses.fields(DPSegConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            f"unknown model settings {unknown} for preset {preset!r}; known: {sorted(known)}"
        )
    return dataclasses.replace(PRESETS[preset], **overrides)


def build_model(
    preset: str | DPSegConfig = "tiny",
    *,
    encoder: ClipEncoder | None = None,
    weights: str | None = None,
    random_init: bool = False,
    device: str = "cpu",
    **overrides: Any,
) -> DPSeg:
    """A DPSeg model for `preset` (a name in PRESETS or a DPSegConfig) with settings overridden.

    The image encoder starts as a trainable copy of `encoder` (default: `load_encoder(
    config.encoder, weights, random_init=random_init)`); that encoder's identity is recorded as the
    model's frozen prompt encoder, and only banks made with it are accepted.
    """
    from promptbank.encoder import load_encoder
    from segmodel.model.dpseg import DPSeg

    if isinstance(preset, DPSegConfig):
        config = dataclasses.replace(preset, **overrides)
    else:
        config = preset_config(preset, **overrides)
    if encoder is None:
        encoder = load_encoder(config.encoder, weights, random_init=random_init)
    return DPSeg(config, encoder).to(device)
