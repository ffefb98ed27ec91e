"""Shared set-up of the decoder benchmarks: a random-weight model and random features and prompts.

The image encoder is never run: `ImageFeatures` are random maps with the trunk's widths at the
model's input side, so the decode is measured alone (it is the same encoder on every side).
"""

from __future__ import annotations

ENCODERS = {"tiny": "tiny", "base": "convnext_base_w_320", "large": "convnext_large_d_320"}
SED_LIKE = {"prompt_mode": "text", "visual_cost": ("upsample",) * 3}  # SED's decoder in dpseg


def decoder_setup(preset: str, size: int, classes: int, *, seed: int = 0, **overrides):
    """(model in eval mode, ImageFeatures (1 image), PromptSet of `classes` random classes)."""
    import torch

    from promptbank.encoder import load_encoder
    from segmodel import build_model
    from segmodel.model.image_encoder import ImageFeatures

    torch.manual_seed(seed)
    encoder = load_encoder(ENCODERS[preset], random_init=True)
    model = build_model(preset, encoder=encoder, image_size=size, **overrides).eval()
    d4, d8, d16, _ = encoder.stage_dims
    g = torch.Generator().manual_seed(seed)
    prompts = random_prompts(encoder, classes, model.config.num_templates, g)
    features = ImageFeatures(
        s4=torch.randn(1, d4, size // 4, size // 4, generator=g),
        s8=torch.randn(1, d8, size // 8, size // 8, generator=g),
        s16=torch.randn(1, d16, size // 16, size // 16, generator=g),
        dense=torch.randn(1, encoder.embed_dim, size // 32, size // 32, generator=g),
    )
    del encoder
    return model, features, prompts


def random_prompts(encoder, classes: int, templates: int, generator):
    """A PromptSet of `classes` random classes x `templates` for `encoder`, drawn from `generator`:
    text and pooled visual embeddings (C, T, D), trunk prototypes (C, T, D4 / D8 / D16)."""
    import torch

    from segmodel import PromptSet

    d4, d8, d16, _ = encoder.stage_dims
    c, t, g = classes, templates, generator
    return PromptSet.from_arrays(
        [f"c{i}" for i in range(c)],
        torch.randn(c, t, encoder.embed_dim, generator=g),
        torch.randn(c, t, encoder.embed_dim, generator=g),
        torch.rand(c, t, d4, generator=g),
        torch.rand(c, t, d8, generator=g),
        torch.rand(c, t, d16, generator=g),
        encoder=encoder.identity(),
    )
