"""Semantic-guided prompt refinement (paper 4.3, inference II): visual prompts from the image itself.

Classes detected in pass one (present in its argmax) get visual prompts made from their own
region; undetected classes keep the bank's prompts. The paper replaces every visual prompt of a
detected class (`replaces="all"`, preset `paper`); dpseg's default replaces only the pooled prompt
of the dual-prompt cost volume and keeps the bank's multi-scale prototypes in the decoder's visual
cost volumes (`replaces="pooled"`), because on the shapes world region prototypes there flood the
detected classes over the image (`dpseg ablate refinement`, docs/ablations.md). Three sources:

- `crops` (the paper's way): the bounding box of each class region, background masked to the mean
  colour, resized to `crop_size`, one frozen-encoder pass per crop (batched);
- `region`: one frozen-encoder pass over the whole image, features averaged inside each region;
- `features`: no extra pass; pass one's own (fine-tuned) features averaged inside each region.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from promptbank.encoder import ClipEncoder
from segmodel.errors import ConfigError
from segmodel.model.image_encoder import ImageFeatures
from segmodel.prompts import PromptSet

SOURCES = ("crops", "region", "features")
STRIDES = (4, 8, 16)


@dataclass(frozen=True)
class RefineSettings:
    """How inference II builds its image-specific visual prompts."""

    source: str = "features"  # features (no extra pass; measured best, docs/performance.md) |
    # crops (the paper: one frozen-encoder pass per crop) | region (one frozen pass, pooled)
    crop_size: int | None = None  # crop side for the frozen encoder; None = the model input size
    mask_background: bool = True  # crops: pixels outside the class region set to the mean colour
    min_area: float = 0.0  # fraction of pass-one pixels a class needs to count as detected
    redecode: str = "all"  # all | detected: pass two decodes only detected classes (others keep
    # their pass-one logits)
    replaces: str = "pooled"  # which visual prompts the regions replace: pooled (the dual prompt
    # only; dpseg's default, docs/ablations.md) | all (the paper) | stages (the decoder's only)
    mix: float = 1.0  # weight of the region prompt: 1 replaces (the paper), < 1 blends with the
    # bank's: (1 - mix) * unit(bank) + mix * unit(region)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(
                f"refine source {self.source!r} is invalid: expected {' | '.join(SOURCES)}"
            )
        if self.redecode not in ("all", "detected"):
            raise ConfigError(f"refine redecode {self.redecode!r} is invalid: all | detected")
        if self.replaces not in ("all", "pooled", "stages"):
            raise ConfigError(
                f"refine replaces {self.replaces!r} is invalid: all | pooled | stages"
            )
        if not 0.0 < self.mix <= 1.0:
            raise ConfigError(f"refine mix {self.mix!r} is invalid: expected 0 < mix <= 1")
        if self.crop_size is not None and (self.crop_size < 32 or self.crop_size % 32):
            raise ConfigError(f"refine crop_size {self.crop_size} is invalid: a multiple of 32")


REFINE_PRESETS: dict[str, RefineSettings] = {
    # the paper: each detected region cropped, masked, encoded by the frozen prompt encoder, and
    # every visual prompt of its class replaced
    "paper": RefineSettings(source="crops", replaces="all"),
    # one frozen pass, features pooled per region
    "region": RefineSettings(source="region", replaces="all"),
    # pass one's features pooled per region
    "features": RefineSettings(source="features", replaces="all"),
    # dpseg: pass one's features refine the dual-prompt cost volume only; the decoder's visual cost
    # volumes keep the bank's prototypes (docs/ablations.md, refinement)
    "features-pooled": RefineSettings(source="features", replaces="pooled"),
}


def refine_preset(name: str | None) -> RefineSettings:
    """The inference-II settings called `name` (None: the defaults, = features-pooled)."""
    if name is None:
        return RefineSettings()
    if name not in REFINE_PRESETS:
        raise ConfigError(f"--refine {name!r} is unknown: expected {' | '.join(REFINE_PRESETS)}")
    return REFINE_PRESETS[name]


def detected_classes(probs: torch.Tensor, min_area: float = 0.0) -> tuple[list[int], torch.Tensor]:
    """probs (C, h, w) of one image -> (detected class positions, argmax labels (h, w))."""
    labels = probs.argmax(dim=0)  # (h, w)
    counts = torch.bincount(labels.flatten(), minlength=probs.shape[0])  # (C,)
    need = max(1.0, min_area * labels.numel())
    return [int(c) for c in torch.nonzero(counts >= need).flatten()], labels


def _masked_mean(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """maps (1, D, h, w), masks (n, H, W) bool -> (n, D) mean inside each mask (area-resized)."""
    weights = F.interpolate(masks[:, None].float(), size=maps.shape[-2:], mode="area")[:, 0]
    weights = weights / weights.flatten(1).sum(1).clamp(min=1e-6)[:, None, None]  # (n, h, w)
    return torch.einsum("dhw,nhw->nd", maps[0], weights)


def _crops(
    image: torch.Tensor, masks: torch.Tensor, size: int, mask_background: bool
) -> torch.Tensor:
    """image (3, S, S) normalised, masks (n, S, S) -> (n, 3, size, size) region crops."""
    crops = []
    for mask in masks:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        crop = image[:, y0:y1, x0:x1]
        if mask_background:
            crop = crop * mask[y0:y1, x0:x1]  # zero = the mean colour after normalisation
        crops.append(
            F.interpolate(
                crop[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
            )[0]
        )
    return torch.stack(crops)  # (n, 3, size, size)


@torch.no_grad()
def region_prompts(
    settings: RefineSettings,
    image: torch.Tensor,
    masks: torch.Tensor,
    encoder: ClipEncoder | None,
    features: ImageFeatures | None,
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Visual prompts for n regions of one image.

    image (3, S, S) normalised; masks (n, S, S) bool; encoder: the frozen prompt encoder (crops,
    region); features: pass one's features of this image (features). Returns pooled (n, D) and
    {stride: (n, D_stride)} pooled trunk features for strides 4, 8, 16.
    """
    if settings.source == "crops":
        size = settings.crop_size or image.shape[-1]
        enc = encoder.encode_image(_crops(image, masks, size, settings.mask_background))
        stages = {s: getattr(enc, f"s{s}").mean(dim=(2, 3)) for s in STRIDES}  # (n, D_s)
        return enc.pooled, stages
    if settings.source == "region":
        size = settings.crop_size or image.shape[-1]
        x = (
            image[None]
            if size == image.shape[-1]
            else F.interpolate(
                image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
            )
        )
        s4, s8, s16, s32 = encoder.trunk_maps(x)
        stages = {
            4: _masked_mean(s4, masks),
            8: _masked_mean(s8, masks),
            16: _masked_mean(s16, masks),
        }
        pooled = encoder.pooled_embedding(_masked_mean(s32, masks)[:, :, None, None])  # (n, D)
        return pooled, stages
    stages = {s: _masked_mean(getattr(features, f"s{s}"), masks) for s in STRIDES}
    return _masked_mean(features.dense, masks), stages


def refine_prompts(
    settings: RefineSettings,
    prompts: PromptSet,
    image: torch.Tensor,
    probs: torch.Tensor,
    encoder: ClipEncoder | None,
    features: ImageFeatures | None,
) -> tuple[PromptSet, list[int]]:
    """Pass-one probabilities (C, h, w) of one image -> (refined prompts, detected positions)."""
    detected, labels = detected_classes(probs, settings.min_area)
    if not detected:
        return prompts, []
    full = F.interpolate(labels[None, None].float(), size=image.shape[-2:], mode="nearest")[0, 0]
    masks = torch.stack([full == c for c in detected])  # (n, S, S), none empty
    pooled, stages = region_prompts(settings, image, masks, encoder, features)
    if settings.replaces == "stages":
        pooled = None
    elif settings.replaces == "pooled":
        stages = {}
    return prompts.with_visual(detected, pooled, stages, settings.mix), detected
