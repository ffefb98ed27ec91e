"""The build plan: recipe, bank id, work items, shards, and which process builds which shard.

Everything here is a pure function of the command's inputs, so every process of a partitioned
build (and every resumed run) computes the same plan without talking to the others.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from promptbank.device import resolve_device
from promptbank.errors import SettingError
from promptbank.format import POOLED_DATASETS, SEED_POLICY, STRIDES, bank_id, item_seed
from promptbank.vocab import Vocabulary, fill

IMAGES_PER_SHARD = 256  # default target: classes per shard = max(1, 256 // (T * K))
PNG_BYTES_PER_PIXEL = 1.6  # rough size of a generated PNG per pixel (RGB, photo-like content)


@dataclass(frozen=True)
class Item:
    """One image to generate."""

    class_index: int  # position of the class in the vocabulary
    template_index: int  # position of the template
    k: int  # image number within the template, 0..K-1
    prompt: str  # the template filled with the class's first name
    seed: int  # item_seed(recipe seed, class, template, k)


@dataclass(frozen=True)
class Plan:
    """What a build produces: the recipe, its id, and the classes grouped into shards."""

    recipe: dict  # everything that made the bank except the classes (hashed into bank_id)
    bank_id: str  # format.bank_id(recipe)
    vocab: Vocabulary  # the classes to build, in label order
    templates: list[str]  # prompt templates (also in the recipe)
    images_per_template: int  # K
    seed: int  # the recipe's base seed
    shards: list[list[int]] = field(default_factory=list)  # class indices per shard, in order

    @property
    def num_images(self) -> int:
        return len(self.vocab) * len(self.templates) * self.images_per_template

    def items(self, class_index: int) -> list[Item]:
        """The images of one class, template-major then k (the order they are stored in)."""
        name = self.vocab.classes[class_index]
        gen_name = self.vocab.aliases[class_index][0]
        return [
            Item(
                class_index, t, k, fill(template, gen_name), item_seed(self.seed, name, template, k)
            )
            for t, template in enumerate(self.templates)
            for k in range(self.images_per_template)
        ]

    def state(self) -> dict:
        """What a resumed run must agree with (stored as the build's plan.json)."""
        return {
            "bank_id": self.bank_id,
            "classes": [
                {"name": n, "aliases": a} for n, a in zip(self.vocab.classes, self.vocab.aliases)
            ],
            "shards": self.shards,
        }


def make_recipe(
    *,
    generator: dict,
    encoder: dict,
    templates: list[str],
    images_per_template: int,
    resolution: int,
    steps: int,
    guidance: float,
    seed: int,
    stage_maps: bool,
    encode_size: int,
) -> dict:
    """The recipe dict (JSON-able): generator and encoder identities plus every build setting."""
    return {
        "generator": {**generator, "resolution": resolution, "steps": steps, "guidance": guidance},
        "encoder": encoder,
        "encode_size": encode_size,
        "templates": list(templates),
        "images_per_template": images_per_template,
        "seed": seed,
        "seed_policy": SEED_POLICY,
        "datasets": list(POOLED_DATASETS) + ([f"maps_s{s}" for s in STRIDES] if stage_maps else []),
        "text": "per template: mean over aliases of L2-normalised text embeddings, re-normalised",
        "visual": "per template: mean over K of L2-normalised pooled projected embeddings",
        "visual_stages": "per template: mean over K of globally average-pooled trunk maps",
        "image_format": "png",
    }


def check_settings(images_per_template, resolution, steps, batch_size, seed, guidance) -> None:
    """SettingError naming the first unusable build setting."""
    checks = [
        (images_per_template >= 1, f"--images-per-template {images_per_template}: expected >= 1"),
        (resolution >= 8, f"--resolution {resolution}: expected at least 8 pixels"),
        (steps >= 1, f"--steps {steps}: expected >= 1"),
        (batch_size >= 1, f"--batch-size {batch_size}: expected >= 1"),
        (seed >= 0, f"--seed {seed}: expected a non-negative integer"),
        (math.isfinite(guidance), f"--guidance {guidance}: expected a finite number"),
    ]
    for ok, message in checks:
        if not ok:
            raise SettingError(message)


def make_plan(recipe: dict, vocab: Vocabulary, *, classes_per_shard: int | None = None) -> Plan:
    templates = recipe["templates"]
    k = recipe["images_per_template"]
    if classes_per_shard is None:  # full stage maps are large: one class per shard then
        maps = any(d.startswith("maps_") for d in recipe["datasets"])
        classes_per_shard = 1 if maps else max(1, IMAGES_PER_SHARD // (len(templates) * k))
    if classes_per_shard < 1:
        raise SettingError(f"classes per shard must be at least 1, got {classes_per_shard}")
    n = len(vocab)
    shards = [list(range(i, min(i + classes_per_shard, n))) for i in range(0, n, classes_per_shard)]
    return Plan(
        recipe=recipe,
        bank_id=bank_id(recipe),
        vocab=vocab,
        templates=list(templates),
        images_per_template=k,
        seed=recipe["seed"],
        shards=shards,
    )


def owned_shards(num_shards_total: int, shard_index: int, num_processes: int) -> list[int]:
    """Shards built by process `shard_index` of `num_processes`: a pure function of shard ids."""
    return [j for j in range(num_shards_total) if j % num_processes == shard_index]


def process_slot(shard_index: int | None = None, num_shards: int | None = None) -> tuple[int, int]:
    """(index, count) of this process: from the arguments, else torchrun/accelerate, else srun."""
    if shard_index is not None or num_shards is not None:
        if shard_index is None or num_shards is None:
            raise SettingError("--shard-index and --num-shards go together; give both or neither")
        if num_shards < 1 or not 0 <= shard_index < num_shards:
            raise SettingError(
                f"--shard-index {shard_index} --num-shards {num_shards}: expected "
                "0 <= shard-index < num-shards"
            )
        return shard_index, num_shards
    # SLURM: the step's task count, set by srun; a batch script alone has SLURM_NTASKS (the
    # allocation) and SLURM_PROCID=0 but is one process, which must build everything.
    for rank_var, size_var in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS")):
        rank, size = os.environ.get(rank_var), os.environ.get(size_var)
        if rank is not None and size is not None:
            try:
                r, s = int(rank), int(size)
            except ValueError:
                raise SettingError(
                    f"{rank_var}={rank!r} {size_var}={size!r} are not integers"
                ) from None
            if s < 1 or not 0 <= r < s:
                raise SettingError(f"{rank_var}={r} {size_var}={s}: expected 0 <= rank < size")
            return r, s
    return 0, 1


def process_device(device: str) -> str:
    """`auto` becomes `cuda` when a GPU is present, else `cpu`; `cuda` becomes `cuda:LOCAL_RANK`
    under a launcher, so each process uses its own GPU."""
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        local = os.environ.get("LOCAL_RANK") or os.environ.get("SLURM_LOCALID")
        if local is not None and local.isdigit():
            device = f"cuda:{local}"
    return resolve_device(device)


def estimate_bytes(plan: Plan, dims: dict[str, int], stage_maps: bool) -> dict:
    """Disk estimate: exact feature bytes, approximate image bytes."""
    c, t, k = len(plan.vocab), len(plan.templates), plan.images_per_template
    resolution = plan.recipe["generator"]["resolution"]
    encode_size = plan.recipe["encode_size"]
    pooled = sum(dims[n] for n in POOLED_DATASETS)
    features = c * t * pooled * 2
    if stage_maps:
        per_image = sum(dims[f"visual_s{s}"] * math.ceil(encode_size / s) ** 2 for s in STRIDES)
        features += c * t * k * per_image * 2
    images = int(plan.num_images * resolution * resolution * PNG_BYTES_PER_PIXEL)
    return {"features": features, "images": images, "total": features + images}
