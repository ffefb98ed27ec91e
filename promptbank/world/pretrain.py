"""Contrastive pretraining of the tiny CLIP on the caption corpus: the shapes world's LAION.

Both towers of the tiny open_clip ConvNeXt CLIP (`tiny`, random init from its fixed seed) learn
from captioned renders (`promptbank.world.captions`). Each step's loss has two InfoNCE terms with
one learnable temperature (open_clip's `logit_scale`):
- concepts: every corpus concept's name under one random template is a class; each image's target
  is the share of each concept in it (a single render: one concept; a scene: its named concepts,
  weighted half by area). Symmetric: images over concepts and concepts over the batch's images.
- captions: each image against the batch's captions, which name all its objects (CLIP's own loss).

Images come from a pool rendered once at `render_size` and are shown at a side drawn per step from
`sizes`, flipped at random: the bank encodes 128 px renders, the model sees 128 px scenes, and a
CLIP that only saw one size does not transfer to another. Everything is drawn from `seed`, so a
recipe gives the same weights on a machine with the same torch and thread count.

    result = pretrain(PretrainRecipe(), out=Path("tiny-world.safetensors"))
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from promptbank.encoder import OPENAI_MEAN, OPENAI_STD, TINY_CONFIG, file_sha256, load_clip
from promptbank.progress import Progress, say
from promptbank.world.captions import CORPUS_VERSION, SCENE_FRACTION, CaptionCorpus
from promptbank.world.shapes import WORLD_VERSION


@dataclass(frozen=True)
class PretrainRecipe:
    """Everything that decides the pretrained weights (recorded beside them)."""

    seed: int = 0  # draws the pool, the batches, sizes, flips and templates
    steps: int = 3600  # optimiser steps
    batch_size: int = 128  # images per step
    pool: int = 30_000  # captioned renders drawn once (seeds seed * 10^7 + i)
    render_size: int = 128  # side the pool is rendered at
    sizes: tuple[int, ...] = (64, 96, 128, 128)  # input side per step, drawn uniformly
    lr: float = 1e-3  # AdamW peak learning rate (linear warm-up, cosine decay)
    warmup: int = 100  # warm-up steps
    weight_decay: float = 0.1  # on weight matrices; none on norms, biases, embeddings, scale
    caption_weight: float = 1.0  # weight of the caption term beside the concept term
    scene_fraction: float = SCENE_FRACTION  # share of multi-object scenes in the pool (the rest
    # single concepts drawn as a bank draws its prompt images)
    threads: int = 2  # torch threads (results are reproducible for a fixed count)
    init: str = ""  # start from this encoder's weights (e.g. tiny-world, or a .safetensors file
    # of the tiny architecture: a longer run in two legs); "" = the tiny random init


@dataclass
class Pool:
    images: torch.Tensor  # (N, S, S, 3) uint8
    targets: torch.Tensor  # (N, Q) float32, rows sum to 1; Q corpus concepts
    captions: list[str]  # (N,)


def _render_chunk(
    args: tuple[int, int, int, float],
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    first, count, size, scene_fraction = args
    corpus = CaptionCorpus(scene_fraction)
    images = np.empty((count, size, size, 3), np.uint8)
    targets = np.zeros((count, len(corpus.concepts)), np.float32)
    captions = []
    for k in range(count):
        sample = corpus.sample(first + k, size)
        images[k] = sample.image
        for q, share in sample.target.items():
            targets[k, q] = share
        captions.append(sample.caption)
    return images, targets, captions


def render_pool(recipe: PretrainRecipe, workers: int = 2, progress: bool = True) -> Pool:
    """The recipe's captioned renders, drawn in `workers` processes (same result for any count)."""
    base, chunk = recipe.seed * 10_000_000, 1000
    jobs = [
        (base + start, min(chunk, recipe.pool - start), recipe.render_size, recipe.scene_fraction)
        for start in range(0, recipe.pool, chunk)
    ]
    bar = Progress(recipe.pool, "renders", prefix="caption corpus", enabled=progress)
    parts = []
    with get_context("fork" if "fork" in get_all_start_methods() else "spawn").Pool(
        max(1, workers)
    ) as pool:
        for part in pool.imap(_render_chunk, jobs):
            parts.append(part)
            bar.advance(len(part[2]))
    bar.close()
    return Pool(
        torch.from_numpy(np.concatenate([p[0] for p in parts])),
        torch.from_numpy(np.concatenate([p[1] for p in parts])),
        [c for p in parts for c in p[2]],
    )


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, plain = [], []
    for name, p in model.named_parameters():
        is_matrix = p.ndim >= 2 and "embedding" not in name and "positional" not in name
        (decay if is_matrix else plain).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _lr_at(step: int, recipe: PretrainRecipe) -> float:
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    t = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return recipe.lr * 0.5 * (1 + np.cos(np.pi * t))


def _soft_nce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of row-wise softmax(logits) against row-normalised targets, rows with mass."""
    mass = targets.sum(1)  # (R,)
    keep = mass > 0
    probs = targets[keep] / mass[keep, None]
    return -(probs * logits[keep].log_softmax(1)).sum(1).mean()


class ClipPretrainer:
    """One training run: `run()` returns the trained open_clip model (train mode off)."""

    def __init__(self, recipe: PretrainRecipe, pool: Pool, progress: bool = True) -> None:
        self.recipe, self.pool, self.progress = recipe, pool, progress
        self.corpus = CaptionCorpus()
        # random init from the fixed seed, or a checkpoint to go on from (recipe.init)
        init = recipe.init or "tiny"
        name, weights = ("tiny-world", init) if init.endswith(".safetensors") else (init, None)
        self.clip, self.tokenizer, self.init = load_clip(name, weights)
        self.clip.float()  # a shipped fp16 checkpoint trains in float32
        self.clip.train()
        self.clip.requires_grad_(True)
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.clip, recipe.weight_decay), lr=recipe.lr, betas=(0.9, 0.98)
        )
        self.rng = torch.Generator().manual_seed(recipe.seed)
        cfg = getattr(self.clip.visual, "preprocess_cfg", None) or {}
        mean, std = cfg.get("mean", OPENAI_MEAN), cfg.get("std", OPENAI_STD)
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def _draw(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.rng))

    def batch_images(self, index: torch.Tensor, size: int) -> torch.Tensor:
        """Pool rows -> (B, 3, size, size) normalised, half of them flipped left-right."""
        x = self.pool.images[index].permute(0, 3, 1, 2).float() / 255.0  # (B, 3, S, S)
        flip = torch.rand(len(index), generator=self.rng) < 0.5
        x[flip] = x[flip].flip(-1)
        if size != x.shape[-1]:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std

    def concept_prompts(self) -> list[str]:
        """Every corpus concept under one random template, each by a random one of its names."""
        template = self.corpus.templates[self._draw(len(self.corpus.templates))]
        return [template.format(c.names[self._draw(len(c.names))]) for c in self.corpus.concepts]

    def step(self, step: int) -> float:
        recipe = self.recipe
        index = torch.randint(len(self.pool.captions), (recipe.batch_size,), generator=self.rng)
        size = recipe.sizes[self._draw(len(recipe.sizes))]
        images = self.batch_images(index, size)  # (B, 3, s, s)
        targets = self.pool.targets[index]  # (B, Q)
        texts = self.concept_prompts() + [self.pool.captions[i] for i in index.tolist()]
        text = F.normalize(self.clip.encode_text(self.tokenizer(texts)), dim=-1)  # (Q + B, D)
        image = F.normalize(self.clip.encode_image(images), dim=-1)  # (B, D)
        scale = self.clip.logit_scale.exp().clamp(max=100.0)
        q = targets.shape[1]
        concept_logits = scale * image @ text[:q].T  # (B, Q)
        concept = 0.5 * (
            _soft_nce(concept_logits, targets) + _soft_nce(concept_logits.T, targets.T)
        )
        caption_logits = scale * image @ text[q:].T  # (B, B)
        labels = torch.arange(len(index))
        caption = 0.5 * (
            F.cross_entropy(caption_logits, labels) + F.cross_entropy(caption_logits.T, labels)
        )
        loss = concept + recipe.caption_weight * caption
        for group in self.optimizer.param_groups:
            group["lr"] = _lr_at(step, recipe)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.clip.parameters(), 1.0)
        self.optimizer.step()
        with torch.no_grad():
            self.clip.logit_scale.clamp_(0, np.log(100.0))
        return loss.item()

    def run(self) -> tuple[torch.nn.Module, list[float]]:
        bar = Progress(self.recipe.steps, "steps", prefix="pretrain tiny CLIP", enabled=False)
        losses: list[float] = []
        start = time.perf_counter()
        for step in range(self.recipe.steps):
            losses.append(self.step(step))
            bar.advance()
            if self.progress and (step + 1) % 50 == 0 or step + 1 == self.recipe.steps:
                rate = (step + 1) / (time.perf_counter() - start)
                eta = (self.recipe.steps - step - 1) / rate
                say(
                    f"pretrain tiny CLIP: step {step + 1}/{self.recipe.steps}, "
                    f"loss {np.mean(losses[-50:]):.3f}, "
                    f"temperature {1 / float(self.clip.logit_scale.exp()):.4f}, "
                    f"{rate:.2f} steps/s, ETA {eta / 60:.1f} min",
                    self.progress,
                )
        self.clip.eval()
        self.clip.requires_grad_(False)
        return self.clip, losses


def save_checkpoint(clip: torch.nn.Module, out: Path, record: dict) -> dict:
    """Write the open_clip state dict in fp16 safetensors (tmp + rename) and its recipe JSON
    beside it (`OUT.json`); returns the record with the file's sha256."""
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().half().contiguous() for k, v in clip.state_dict().items()}
    tmp = out.with_name(out.name + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "dpseg": "tiny-world"})
    os.replace(tmp, out)
    record = {**record, "file": out.name, "sha256": file_sha256(out), "bytes": out.stat().st_size}
    meta = out.with_name(out.stem + ".json")
    meta.with_name(meta.name + ".tmp").write_text(json.dumps(record, indent=2) + "\n")
    os.replace(meta.with_name(meta.name + ".tmp"), meta)
    return record


def pretrain(recipe: PretrainRecipe, out: Path, *, workers: int = 2, progress: bool = True) -> dict:
    """Render the pool, train, save OUT (+ OUT.json); returns the record written beside it."""
    torch.set_num_threads(recipe.threads)
    started = time.perf_counter()
    say(f"caption corpus: {recipe.pool} renders at {recipe.render_size} px", progress)
    pool = render_pool(recipe, workers=workers, progress=progress)
    rendered = time.perf_counter()
    trainer = ClipPretrainer(recipe, pool, progress=progress)
    clip, losses = trainer.run()
    init = "tiny random init, seed 0"
    if recipe.init:
        init = f"{recipe.init} (sha256 {trainer.init.get('weights_sha256', '?')})"
    record = {
        "encoder": "tiny-world",
        "arch": "dpseg-tiny-convnext",
        "arch_config": json.loads(TINY_CONFIG.read_text()),
        "init": init,
        "recipe": dataclasses.asdict(recipe),
        "corpus": CORPUS_VERSION,
        "world": WORLD_VERSION,
        "torch": torch.__version__,
        "final_loss": float(np.mean(losses[-50:])),
        "temperature": 1 / float(clip.logit_scale.exp()),
        "seconds": {
            "render": round(rendered - started),
            "train": round(time.perf_counter() - rendered),
        },
    }
    return save_checkpoint(clip, out, record)
