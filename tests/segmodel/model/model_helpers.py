"""Shared builders for the DPSeg model tests (tiny models, random prompts, real tiny banks)."""

from __future__ import annotations

import functools

import torch

from promptbank.encoder import load_encoder
from segmodel import PromptSet, build_model

torch.set_num_threads(1)  # tiny models: threads only add contention on the shared CPU


@functools.cache
def tiny_encoder():
    return load_encoder("tiny")


def tiny_model(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model("tiny", encoder=tiny_encoder(), **overrides)


def random_prompts(
    num_classes: int,
    *,
    templates: int = 2,
    seed: int = 0,
    encoder=None,
    names: list[str] | None = None,
) -> PromptSet:
    """Random prompts with the widths of `encoder` (tiny by default), tagged with its identity."""
    encoder = encoder or tiny_encoder()
    g = torch.Generator().manual_seed(seed)
    d4, d8, d16, _ = encoder.stage_dims
    shape = (num_classes, templates)
    return PromptSet.from_arrays(
        names or [f"class{i}" for i in range(num_classes)],
        torch.randn(*shape, encoder.embed_dim, generator=g),
        torch.randn(*shape, encoder.embed_dim, generator=g),
        torch.rand(*shape, d4, generator=g),
        torch.rand(*shape, d8, generator=g),
        torch.rand(*shape, d16, generator=g),
        encoder=encoder.identity(),
    )


def random_images(batch: int, size: int = 128, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


SHAPES_CLASSES = ["red circle", "sky", "grass", "blue square"]


@functools.cache
def shapes_bank(root: str):
    """A real tiny bank (procedural generator, tiny encoder, 2 templates) built once per folder."""
    from promptbank.build import build_bank
    from promptbank.reader import open_bank
    from promptbank.vocab import vocabulary_from_names

    vocab = vocabulary_from_names(SHAPES_CLASSES)
    path = build_bank(vocab, root, generator="procedural", encoder="tiny", templates=2,
                      resolution=64, steps=2, device="cpu", progress=False)  # fmt: skip
    return open_bank(path)
