"""DPSeg: dual-prompt cost volume -> cost embedding -> three cost-volume-guided stages -> logits.

    model = build_model("tiny")
    out = model(images, prompts)          # images (B, 3, S, S) normalised; prompts: PromptSet
    out.logits                            # (B, C, S/4, S/4) per-class logits (sigmoid = probability)

`encode` and `decode` split the forward so inference II can decode twice from one encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from promptbank.encoder import ClipEncoder
from segmodel.config import DPSegConfig
from segmodel.errors import InputError, PromptError
from segmodel.model.class_blocks import ClassBlocks
from segmodel.model.cost_volume import (
    CostEmbedding,
    UpsampledCost,
    VisualCost,
    normalise,
    prompt_cost,
    template_groups,
)
from segmodel.model.decoder import DecoderStage, class_spans, stage_chunk
from segmodel.model.heads import ClassHead, scatter_classes, top_k_union
from segmodel.model.image_encoder import ImageEncoder, ImageFeatures
from segmodel.prompts import PromptSet, canonical_identity, check_encoder

STAGE_STRIDES = (16, 8, 4)  # output stride of decoder stages 1, 2, 3


@dataclass
class DPSegOutput:
    """Model output for B images and the C classes of the prompts."""

    logits: torch.Tensor  # (B, C, S/4, S/4) final logits
    aux: list[
        torch.Tensor
    ]  # auxiliary-head logits [(B, C, S/32, ..), (.., S/16, ..), (.., S/8, ..)]
    kept: torch.Tensor | None = None  # (C',) classes that survived early rejection; None = all


@dataclass
class _Prompts:
    """Prompt tensors prepared for one decode (C = active classes)."""

    text: torch.Tensor  # (C, T, D)
    visual: torch.Tensor  # (C, T, D), text where a class has no visual prompt
    prototypes: dict[int, torch.Tensor]  # stride -> (C, P, D_stride) grouped visual features


class DPSeg(nn.Module):
    """The DPSeg network. Build it with `segmodel.build_model`; see docs/model.md."""

    def __init__(self, config: DPSegConfig, encoder: ClipEncoder):
        super().__init__()
        self.config = config
        self.encoder_identity = canonical_identity(encoder.identity())  # the frozen prompt encoder
        self.image_encoder = ImageEncoder(encoder, trainable=not config.freeze_encoder)
        d4, d8, d16, _ = self.image_encoder.stage_dims
        guide_in = (d16, d8, d4)
        guide = tuple(max(1, d // config.guidance_reduction) for d in guide_in)
        side = config.visual_cost_dims or guide
        self.embed = CostEmbedding(
            config.cost_channels, config.cost_embed_dim, config.cost_embed_kernel
        )
        self.visual_costs = nn.ModuleDict(
            {
                str(j): VisualCost(config.prototypes, side[j])
                for j, mode in enumerate(config.visual_cost)
                if mode == "visual"
            }
        )
        upsampled = [j for j, mode in enumerate(config.visual_cost) if mode == "upsample"]
        self.upsampled = (
            UpsampledCost(config.cost_channels, side[: upsampled[-1] + 1]) if upsampled else None
        )
        widths = (config.cost_embed_dim, *config.decoder_dims)
        self.stages = nn.ModuleList(
            DecoderStage(
                config,
                in_channels=widths[j],
                out_channels=widths[j + 1],
                guide_in=guide_in[j],
                guide_channels=guide[j],
                side_channels=0 if config.visual_cost[j] == "off" else side[j],
            )
            for j in range(3)
        )
        self.aux_heads = nn.ModuleList(ClassHead(w, detach=True) for w in widths[:3])
        self.head = ClassHead(widths[3])
        groups = template_groups(config.num_templates, config.prototypes)
        self.register_buffer("template_groups", groups, persistent=False)  # (P, T)

    # --- parameter groups for the optimiser ----------------------------------------------------
    def encoder_parameters(self) -> list[nn.Parameter]:
        """Trainable image-encoder parameters (the recipe trains them at lr x 0.01)."""
        return [p for p in self.image_encoder.parameters() if p.requires_grad]

    def decoder_parameters(self) -> list[nn.Parameter]:
        """Every other trainable parameter (cost embedding, decoder, heads)."""
        own = {id(p) for p in self.image_encoder.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in own]

    def compile_decoder(self, **options) -> DPSeg:
        """torch.compile the decoder stages' per-chunk steps (HD conv, class attention, up + fuse) in
        place; off unless called (`dpseg segment --compile`). Dynamic shapes, so chunk sizes and
        vocabularies do not recompile. See docs/performance.md for what it buys on CPU and GPU."""
        options = {"dynamic": True, **options}
        for stage in self.stages:
            stage.spatial.compile(**options)
            stage.attention.compile(**options)
            stage._up_fuse = torch.compile(stage._up_fuse, **options)  # the fuse runs in here
        return self

    # --- forward ------------------------------------------------------------------------------
    def forward(
        self,
        images: torch.Tensor,
        prompts: PromptSet,
        *,
        topk: int | None = None,
        chunk: int | None = None,
    ) -> DPSegOutput:
        """images (B, 3, H, W) normalised, H and W multiples of 32 -> DPSegOutput for the classes
        of `prompts`. topk: early rejection k (None = config.topk, 0 = off); chunk: classes
        decoded at once (None = config.class_chunk, 0 = all; otherwise finer stages
        take fewer, config.chunk_pixels)."""
        return self.decode(self.encode(images), prompts, topk=topk, chunk=chunk)

    def encode(self, images: torch.Tensor) -> ImageFeatures:
        """images (B, 3, H, W) normalised -> ImageFeatures (reusable by `decode`)."""
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] % 32 or images.shape[3] % 32:
            raise InputError(
                f"images have shape {tuple(images.shape)}; expected (B, 3, H, W) "
                "with H and W multiples of 32 (normalise with Segmenter or "
                "ClipEncoder.preprocess)"
            )
        return self.image_encoder(images)

    def decode(
        self,
        features: ImageFeatures,
        prompts: PromptSet,
        *,
        topk: int | None = None,
        chunk: int | None = None,
    ) -> DPSegOutput:
        """Cost volume, decoder and heads from precomputed image features (see `forward`).

        With early rejection each image keeps its own classes (a batch of B images decodes as B
        calls of one image): an image's output does not depend on the images beside it, and the
        union over a batch, which keeps far more classes, is never decoded."""
        cfg = self.config
        topk = cfg.topk if topk is None else (topk or None)
        chunk = cfg.class_chunk if chunk is None else chunk
        rejects = topk is not None and topk < prompts.num_classes  # k >= C keeps every class
        if rejects and features.dense.shape[0] > 1:
            return self._decode_each_image(features, prompts, topk=topk, chunk=chunk)
        pool = cfg.attn_pool_train if self.training else cfg.attn_pool_eval
        ready = self._prepare(prompts.to(features.dense.device))
        num_classes = prompts.num_classes
        guides = (features.s16.detach(), features.s8.detach(), features.s4.detach())
        inference = not torch.is_grad_enabled()  # then class tensors are ClassBlocks

        def stage_part(j: int) -> int:
            """Classes per chunk at stage j (finer stages take fewer: chunk_pixels)."""
            pixels = guides[j].shape[-2] * guides[j].shape[-1]  # the stage's output pixels
            return stage_chunk(chunk, pixels, cfg.chunk_pixels if chunk else 0)

        def spans(j: int, classes: int) -> list[slice]:
            return class_spans(classes, stage_part(j))

        def storage(classes: int) -> torch.dtype:
            """How class tensors are stored between stages at inference."""
            half = cfg.stage_storage == "float16" or (
                cfg.stage_storage == "auto" and 0 < chunk < classes
            )
            return torch.float16 if half else features.dense.dtype

        layout = (spans(0, num_classes), storage(num_classes)) if inference else None
        cost, x = self._embed(features.dense, ready, chunk, layout)  # cost (B, C, Tc, h, w) | None
        active: torch.Tensor | None = None  # positions of kept classes; None = all
        aux = []
        for j, stage in enumerate(self.stages):
            head = self.aux_heads[j]
            aux_logits = x.map_cat(head) if inference else head(x)  # (B, C', h_j, w_j)
            aux.append(scatter_classes(aux_logits, active, num_classes, cfg.reject_logit))
            if topk is not None:
                keep = top_k_union(aux_logits, topk)  # (C'',) positions into C'
                if len(keep) < aux_logits.shape[1]:  # gather the kept classes only
                    if inference:
                        x = x.gather(keep, spans(j, len(keep)), storage(len(keep)))
                    else:  # channels_last
                        x = x.permute(0, 1, 3, 4, 2)[:, keep].permute(0, 1, 4, 2, 3)
                    active = keep if active is None else active[keep]
            side = self._side_cost(j, guides[j], cost, ready, active)
            out_head = self.head if j == 2 else None
            if inference:
                later = None if j == 2 else spans(j + 1, x.num_classes)
                out_dtype = storage(x.num_classes)
                x = stage.infer(
                    x,
                    guides[j],
                    side,
                    pool=pool,
                    out_spans=later,
                    out_dtype=out_dtype,
                    head=out_head,
                )
            else:
                x = stage(x, guides[j], side, pool=pool, chunk=stage_part(j), head=out_head)
        logits = scatter_classes(x, active, num_classes, cfg.reject_logit)  # (B, C, S/4, S/4)
        return DPSegOutput(logits=logits, aux=aux, kept=active)

    # --- steps ----------------------------------------------------------------------------------
    def _decode_each_image(
        self, features: ImageFeatures, prompts: PromptSet, *, topk: int, chunk: int
    ) -> DPSegOutput:
        """Early rejection per image: B one-image decodes, outputs stacked; `kept` is the union."""
        outs = [
            self.decode(features.select(slice(b, b + 1)), prompts, topk=topk, chunk=chunk)
            for b in range(features.dense.shape[0])
        ]
        kept = None
        if all(o.kept is not None for o in outs):
            kept = torch.unique(torch.cat([o.kept for o in outs]))  # sorted union
        return DPSegOutput(
            logits=torch.cat([o.logits for o in outs]),
            aux=[torch.cat(level) for level in zip(*(o.aux for o in outs))],
            kept=kept,
        )

    def _prepare(self, prompts: PromptSet) -> _Prompts:
        """Check the prompts against the model; group visual features into prototypes."""
        cfg = self.config
        check_encoder(self.encoder_identity, prompts.encoder, what="prompt bank")
        c, t, d = prompts.text.shape
        if t != cfg.num_templates or d != self.image_encoder.embed_dim:
            raise PromptError(
                f"prompts have {t} templates of width {d}; this model expects "
                f"{cfg.num_templates} of width {self.image_encoder.embed_dim}: build the bank "
                f"with {cfg.num_templates} templates, or the model with num_templates={t}"
            )
        if c == 0:
            raise PromptError("no classes to segment: pass at least one class name")
        mask = prompts.has_visual[:, None, None]  # (C, 1, 1)
        visual = prompts.visual  # (C, T, D); no copy when every class has its visual prompt
        if not bool(mask.all()):
            visual = torch.where(mask, visual, prompts.text)
        prototypes = {}
        if "visual" in cfg.visual_cost:
            groups = self.template_groups.to(prompts.device)  # (P, T)
            for stride in STAGE_STRIDES:  # (C, T, D_s) -> (C, P, D_s), never copied whole
                grouped = torch.matmul(groups, prompts.stage(stride))  # batched over C
                grouped = grouped * mask  # zero without visual prompt
                prototypes[stride] = normalise(grouped)  # once per decode, not per chunk
        return _Prompts(prompts.text, visual, prototypes)

    def _embed(
        self,
        dense: torch.Tensor,
        ready: _Prompts,
        chunk: int,
        layout: tuple[list[slice], torch.dtype] | None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | ClassBlocks]:
        """dense (B, D, h, w) -> (cost (B, C, Tc, h, w) if a stage upsamples it, else None;
        embedded cost (B, C, d_F, h, w)). At inference (`layout` = stage 0's spans and the storage
        dtype) the embedding is returned as ClassBlocks, and the cost volume is made and embedded
        chunk by chunk, so only the embedding is ever held for every class."""
        cfg = self.config
        keep_cost = "upsample" in cfg.visual_cost
        spans = class_spans(len(ready.text), chunk)
        if keep_cost or layout is None or len(spans) == 1:
            cost = prompt_cost(cfg, dense, ready.text, ready.visual)  # (B, C, Tc, h, w)
            x = self.embed(cost)
            return (cost if keep_cost else None), (
                x if layout is None else ClassBlocks.of(x, *layout)
            )
        x = ClassBlocks(*layout)
        for s in spans:
            x.write(s, self.embed(prompt_cost(cfg, dense, ready.text[s], ready.visual[s])))
        return None, x

    def _side_cost(
        self,
        j: int,
        guide: torch.Tensor,
        cost: torch.Tensor,
        ready: _Prompts,
        active: torch.Tensor | None,
    ):
        """The side input of stage j for a class span: visual cost, upsampled cost, or None."""
        mode = self.config.visual_cost[j]
        if mode == "off":
            return lambda span: None
        if mode == "upsample":
            kept = cost if active is None else cost[:, active]  # (B, C', Tc, h, w)
            return lambda span: self.upsampled(kept[:, span], steps=j + 1)
        protos = ready.prototypes[STAGE_STRIDES[j]]
        if active is not None:
            protos = protos[active]  # (C', P, D_j)
        module, image = self.visual_costs[str(j)], normalise(guide, dim=1)  # (B, D_j, H_j, W_j)
        return lambda span: module(image, protos[span])  # (B, c, side, H_j, W_j)
