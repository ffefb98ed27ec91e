"""What dpseg knows by name, and whether its weights are on this disk. Torch-free and offline.

Looking a model up never downloads anything: weights come from a path the user gives, or from the
Hugging Face cache (`HF_HOME`, `HF_HUB_CACHE`), which `huggingface_hub` reads without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

OPEN_CLIP_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
# the tiny CLIP pretrained on the shapes world's caption corpus (`dpseg world pretrain-clip`)
TINY_WORLD_WEIGHTS = Path(__file__).parent / "world" / "data" / "tiny-world.safetensors"


@dataclass(frozen=True)
class EncoderEntry:
    name: str  # the name users type
    arch: str  # the open_clip model (architecture) name
    pretrained: str | None  # open_clip pretrained tag; None for built-in random weights
    hf_repo: str | None  # hub repository holding the weights
    embed_dim: int  # D, the joint embedding width
    note: str  # one line for `dpseg models list`


@dataclass(frozen=True)
class GeneratorEntry:
    name: str  # the name users type
    hf_repo: str | None  # hub id of the diffusers pipeline; None for built-ins
    note: str  # one line for `dpseg models list`


ENCODERS: dict[str, EncoderEntry] = {
    e.name: e
    for e in (
        EncoderEntry(
            "tiny",
            "dpseg-tiny-convnext",
            None,
            None,
            64,
            "small ConvNeXt CLIP, random init from a fixed seed (tests, shapes world)",
        ),
        EncoderEntry(
            "tiny-world",
            "dpseg-tiny-convnext",
            None,
            None,
            64,
            "the tiny CLIP pretrained on the shapes world's captioned renders (demo, quickstart)",
        ),
        EncoderEntry(
            "convnext_base_w_320",
            "convnext_base_w_320",
            "laion_aesthetic_s13b_b82k",
            "laion/CLIP-convnext_base_w_320-laion_aesthetic-s13B-b82K",
            640,
            "SED/DPSeg-B image and prompt encoder (LAION)",
        ),
        EncoderEntry(
            "convnext_large_d_320",
            "convnext_large_d_320",
            "laion2b_s29b_b131k_ft_soup",
            "laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup",
            768,
            "SED/DPSeg-L image and prompt encoder (LAION)",
        ),
    )
}

GENERATORS: dict[str, GeneratorEntry] = {
    g.name: g
    for g in (
        GeneratorEntry(
            "tiny-sd", None, "Stable Diffusion architecture, tiny, random weights (tests)"
        ),
        GeneratorEntry("procedural", None, "the shapes world's renderer (no weights, CPU)"),
        GeneratorEntry(
            "sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5", "Stable Diffusion 1.5"
        ),
        GeneratorEntry("sd21", "stabilityai/stable-diffusion-2-1", "Stable Diffusion 2.1"),
        GeneratorEntry(
            "sd3", "stabilityai/stable-diffusion-3-medium-diffusers", "Stable Diffusion 3 medium"
        ),
    )
}


def cached_file(repo_id: str, filenames: tuple[str, ...]) -> Path | None:
    """The first of `filenames` present in the local Hugging Face cache for `repo_id`, or None."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def hub_cache_dir() -> Path:
    """Where the Hugging Face cache lives on this machine (for messages)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def encoder_weights(entry: EncoderEntry) -> Path | None:
    """The cached open_clip checkpoint of a known encoder, or None (built-ins need none)."""
    if entry.hf_repo is None:
        return None
    return cached_file(entry.hf_repo, OPEN_CLIP_WEIGHT_FILES)


def generator_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of a diffusers pipeline (holding model_index.json), or None."""
    index = cached_file(repo_id, ("model_index.json",))
    return index.parent if index else None


def weights_status(kind: str, name: str) -> str:
    """A short status for `dpseg models list`: built-in, present (path) or missing."""
    if kind == "encoder":
        entry = ENCODERS[name]
        if entry.name == "tiny-world":
            found = TINY_WORLD_WEIGHTS.is_file()
            return f"shipped: {TINY_WORLD_WEIGHTS}" if found else "missing"
        if entry.hf_repo is None:
            return "built-in"
        path = encoder_weights(entry)
    else:
        gen = GENERATORS[name]
        if gen.hf_repo is None:
            return "built-in"
        path = generator_snapshot(gen.hf_repo)
    return f"present: {path}" if path else "missing"
