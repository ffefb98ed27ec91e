"""Zero-shot checks of a shapes-world CLIP: does its text tower name what its image tower sees?

    report = zero_shot(load_encoder("tiny-world"))   # {"size 128": {"seen": 0.95, ...}, ...}
    cos = prompt_cosines(load_encoder("tiny-world"))   # (13, 13) pooled visual-prompt cosines

Test images are single-object renders of the procedural generator in random ImageNet-80 template
styles, from seeds no corpus sample or bank uses, scored with "a rendering of a {}." and, as CLIP's
own zero-shot protocol does, with each class's text embedding averaged over the 80 ImageNet
templates (the prompts a bank is built from).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from promptbank.world.captions import HELD_OUT_PAIRS, all_concepts, imagenet_templates
from promptbank.world.procedural import ProceduralGenerator, parse_style
from promptbank.world.shapes import ALL_CLASSES, SEEN_CLASSES, UNSEEN_CLASSES

PROMPT = "a rendering of a {}."
TEST_SEEDS = 900_000_000  # first seed of the test renders


def test_renders(names: list[str], per_class: int, size: int) -> tuple[list[np.ndarray], list[int]]:
    """`per_class` renders of each concept in `names` (random template styles) and their labels."""
    concepts = {c.name: c.spec for c in all_concepts()}
    generator = ProceduralGenerator(list(concepts.values()))
    templates = imagenet_templates()
    images, labels = [], []
    for i, name in enumerate(names):
        rng = np.random.default_rng([TEST_SEEDS, i])
        for k in range(per_class):
            style = parse_style(templates[int(rng.integers(len(templates)))].replace("{}", " "))
            seed = TEST_SEEDS + 1000 * i + k
            images.append(np.asarray(generator.render(concepts[name], style, seed, size)))
            labels.append(i)
    return images, labels


@torch.no_grad()
def _embed_images(encoder, images: list[np.ndarray], size: int) -> torch.Tensor:
    out = []
    for start in range(0, len(images), 128):
        x = encoder.preprocess(images[start : start + 128], size)
        out.append(encoder.clip.encode_image(x).float())
    return F.normalize(torch.cat(out), dim=-1)  # (N, D)


@torch.no_grad()
def class_text(encoder, candidates: list[str], templates: list[str]) -> torch.Tensor:
    """(C, D) unit text embeddings, each the mean of its class's unit embeddings over `templates`."""
    rows = []
    for name in candidates:
        per_template = F.normalize(encoder.encode_text([t.format(name) for t in templates]), dim=-1)
        rows.append(per_template.float().mean(0))  # (D,)
    return F.normalize(torch.stack(rows), dim=-1)


def top1(
    encoder,
    names: list[str],
    candidates: list[str],
    per_class: int,
    size: int,
    templates: list[str] | None = None,
) -> list[float]:
    """Per-name top-1 accuracy of renders of `names` among the text prompts of `candidates`
    ("a rendering of a {}.", or the mean over `templates`)."""
    images, labels = test_renders(names, per_class, size)
    text = class_text(encoder, candidates, templates or [PROMPT])  # (C, D)
    predicted = (_embed_images(encoder, images, size) @ text.T).argmax(1)  # (N,)
    truth = torch.tensor([candidates.index(names[i]) for i in labels])
    hits = (predicted == truth).float().view(len(names), per_class)
    return hits.mean(1).tolist()


def zero_shot(encoder, sizes=(64, 128), per_class: int = 30) -> dict:
    """Top-1 accuracy by group: among the 13 classes, and among all 101 corpus concepts."""
    everything = [c.name for c in all_concepts()]
    report: dict = {}
    for size in sizes:
        classes = list(ALL_CLASSES)
        among13 = dict(zip(classes, top1(encoder, classes, classes, per_class, size)))
        ensemble = dict(
            zip(classes, top1(encoder, classes, classes, per_class, size, imagenet_templates()))
        )
        names = [*ALL_CLASSES, *HELD_OUT_PAIRS]
        among_all = dict(zip(names, top1(encoder, names, everything, per_class, size)))
        report[f"{size}px"] = {
            "among 13 classes": {
                "seen": float(np.mean([among13[c] for c in SEEN_CLASSES])),
                "unseen": float(np.mean([among13[c] for c in UNSEEN_CLASSES])),
                "per_class": among13,
            },
            "among 13 classes, 80-template ensemble": {
                "seen": float(np.mean([ensemble[c] for c in SEEN_CLASSES])),
                "unseen": float(np.mean([ensemble[c] for c in UNSEEN_CLASSES])),
                "per_class": ensemble,
            },
            f"among {len(everything)} concepts": {
                "seen": float(np.mean([among_all[c] for c in SEEN_CLASSES])),
                "unseen": float(np.mean([among_all[c] for c in UNSEEN_CLASSES])),
                "held-out pairs": float(np.mean([among_all[c] for c in HELD_OUT_PAIRS])),
                "per_class": among_all,
            },
        }
    return report


@torch.no_grad()
def prompt_cosines(encoder, templates: int = 8, per_template: int = 2, size: int = 128) -> dict:
    """(13, 13) cosines of the classes' visual prompts as a bank stores them: the pooled
    embedding (`visual`) and the pooled stride-4 trunk map (`visual_s4`), averaged over
    `templates` ImageNet templates x `per_template` renders."""
    generator = ProceduralGenerator()
    chosen = imagenet_templates()[:templates]
    pooled, s4 = [], []
    for c, name in enumerate(ALL_CLASSES):
        prompts = [t.format(name) for t in chosen for _ in range(per_template)]
        seeds = [7_000_000 + 100 * c + k for k in range(len(prompts))]
        images = generator.generate(prompts, seeds, resolution=size)
        maps = encoder.trunk_maps(encoder.preprocess(images, size))
        pooled.append(F.normalize(encoder.pooled_embedding(maps[-1]), dim=-1).mean(0))
        s4.append(maps[0].mean((2, 3)).mean(0))

    def cos(rows: list[torch.Tensor]) -> list[list[float]]:
        x = F.normalize(torch.stack(rows), dim=-1)
        return (x @ x.T).tolist()

    return {"classes": list(ALL_CLASSES), "visual": cos(pooled), "visual_s4": cos(s4)}
