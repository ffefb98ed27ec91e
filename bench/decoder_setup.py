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
    from segmodel import PromptSet, build_model
    from segmodel.model.image_encoder import ImageFeatures

    torch.manual_seed(seed)
    encoder = load_encoder(ENCODERS[preset], random_init=True)
    model = build_model(preset, encoder=encoder, image_size=size, **overrides).eval()
    t = model.config.num_templates
    d4, d8, d16, _ = encoder.stage_dims
    g = torch.Generator().manual_seed(seed)
    prompts = PromptSet.from_arrays(
        [f"c{i}" for i in range(classes)],
        torch.randn(classes, t, encoder.embed_dim, generator=g),
        torch.randn(classes, t, encoder.embed_dim, generator=g),
        torch.rand(classes, t, d4, generator=g),
        torch.rand(classes, t, d8, generator=g),
        torch.rand(classes, t, d16, generator=g),
        encoder=encoder.identity(),
    )
    features = ImageFeatures(
        s4=torch.randn(1, d4, size // 4, size // 4, generator=g),
        s8=torch.randn(1, d8, size // 8, size // 8, generator=g),
        s16=torch.randn(1, d16, size // 16, size // 16, generator=g),
        dense=torch.randn(1, encoder.embed_dim, size // 32, size // 32, generator=g),
    )
    del encoder
    return model, features, prompts
