"""Image generators behind one interface: `generate(prompts, seeds, ...) -> list[PIL.Image]`.

The only diffusers importer in dpseg (imported lazily, so the `procedural` generator never pays
for it). Names: `tiny-sd` (the Stable Diffusion architecture at test size, random weights built from
configs shipped as package data), `procedural` (the shapes world), the catalogue's hub ids
(`sd15`, `sd21`, `sd3`) or any diffusers hub id found in the offline Hugging Face cache, and local
pipeline folders (holding `model_index.json`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Protocol

from PIL import Image

from promptbank import catalog
from promptbank.errors import UnknownModelError, WeightsNotFoundError

CONFIGS = Path(__file__).parent / "data" / "configs"
DEFAULT_SEED = 0


class ImageGenerator(Protocol):
    name: str

    def identity(self) -> dict:
        """JSON-able description of the generator and its weights (goes into bank manifests)."""

    def generate(
        self, prompts: list[str], seeds: list[int], *, resolution: int, steps: int, guidance: float
    ) -> list[Image.Image]:
        """One image per prompt; image i is fully determined by (prompts[i], seeds[i])."""


class DiffusersGenerator:
    """A diffusers text-to-image pipeline with one seeded torch.Generator per image.

    Images are denoised `micro_batch` at a time (default 1): batched kernels round differently
    from unbatched ones, so only a fixed micro-batch keeps every image bit-identical whatever
    batch size the caller uses. Raise it for speed when bit-exact reproducibility is not needed.
    """

    def __init__(self, pipeline, *, name: str, identity: dict, micro_batch: int = 1):
        self.pipeline = pipeline
        self.micro_batch = micro_batch
        self.name = name
        self._identity = {
            **identity,
            "pipeline": type(pipeline).__name__,
            "scheduler": type(pipeline.scheduler).__name__,
        }

    def identity(self) -> dict:
        return dict(self._identity)

    def generate(
        self, prompts: list[str], seeds: list[int], *, resolution: int, steps: int, guidance: float
    ) -> list[Image.Image]:
        import torch

        if len(prompts) != len(seeds):
            raise ValueError(f"got {len(prompts)} prompts but {len(seeds)} seeds")
        device = self.pipeline.device
        images = []
        for start in range(0, len(prompts), self.micro_batch):
            chunk = slice(start, start + self.micro_batch)
            # Latents are drawn on the CPU per image: a seed gives the same image on any device.
            generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds[chunk]]
            latents = self._latents(generators, resolution).to(device, self.pipeline.unet.dtype)
            result = self.pipeline(
                prompt=list(prompts[chunk]),
                height=resolution,
                width=resolution,
                num_inference_steps=steps,
                guidance_scale=guidance,
                latents=latents,
                output_type="pil",
            )
            images.extend(result.images)
        return images

    def _latents(self, generators, resolution: int):
        import torch

        scale = self.pipeline.vae_scale_factor
        channels = self.pipeline.unet.config.in_channels
        side = resolution // scale
        return torch.cat([torch.randn(1, channels, side, side, generator=g) for g in generators])


def _read_config(name: str, part: str) -> dict:
    return json.loads((CONFIGS / name / f"{part}.json").read_text())


def config_digest(name: str, root: Path = CONFIGS) -> str:
    """sha256 (12 hex) of a built-in architecture's config files: part of a random-init
    generator's identity, so a bank drawn by an older architecture is not taken for a new one."""
    digest = hashlib.sha256()
    for path in sorted((root / name).glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def build_sd_pipeline(config: str = "tiny-sd", seed: int = DEFAULT_SEED):
    """A StableDiffusionPipeline with random weights from the configs in data/configs/CONFIG.

    `tiny-sd` is small enough for tests; `sd15` is Stable Diffusion 1.5's architecture at full
    size (about 1.1 B parameters; use it to test the real loaders without downloading weights).
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from promptbank.tokenizer import build_clip_tokenizer

    if not (CONFIGS / config / "unet.json").is_file():
        raise UnknownModelError(f"no Stable Diffusion config {config!r} in {CONFIGS}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(_read_config(config, "unet"))
        vae = AutoencoderKL.from_config(_read_config(config, "vae"))
        text_cfg = {
            k: v for k, v in _read_config(config, "text_encoder").items() if k != "architectures"
        }
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))
    scheduler = PNDMScheduler.from_config(_read_config(config, "scheduler"))
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=build_clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _pipeline_folder(name: str) -> tuple[Path, dict]:
    """Resolve a local folder or a cached hub id to a pipeline folder, never downloading."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise UnknownModelError(
                f"generator folder {path} has no model_index.json; point --generator at a "
                "diffusers pipeline folder (as written by save_pretrained)"
            )
        return path, {"source": str(path.resolve())}
    entry = catalog.GENERATORS.get(name)
    repo = entry.hf_repo if entry else name
    if repo is None or "/" not in repo:
        known = ", ".join(sorted(catalog.GENERATORS))
        raise UnknownModelError(
            f"unknown generator {name!r}: use one of {known}, a diffusers hub id in your "
            "Hugging Face cache, or a local pipeline folder"
        )
    snapshot = catalog.generator_snapshot(repo)
    if snapshot is None:
        raise WeightsNotFoundError(
            f"generator {name!r} not found: looked for {repo}/model_index.json in the Hugging Face "
            f"cache {catalog.hub_cache_dir()}; fetch it on a connected machine with "
            f"`hf download {repo}` and copy the cache here, or pass a local folder"
        )
    return snapshot, {"source": repo, "revision": snapshot.name}


def load_generator(name: str, device: str = "cpu", dtype: str | None = None) -> ImageGenerator:
    """Turn a generator name or folder into a ready generator (see the module docstring)."""
    if name == "procedural":
        from promptbank.world.procedural import ProceduralGenerator

        return ProceduralGenerator()
    if name == "tiny-sd":
        pipeline = build_sd_pipeline("tiny-sd").to(device)
        pipeline.set_progress_bar_config(disable=True)
        return DiffusersGenerator(
            pipeline,
            name=name,
            identity={
                "name": name,
                "weights": f"random-init:seed{DEFAULT_SEED}",
                "config": config_digest(name),
            },
        )
    import torch
    from diffusers import DiffusionPipeline

    folder, origin = _pipeline_folder(name)
    index = json.loads((folder / "model_index.json").read_text())
    kwargs = (
        {"safety_checker": None, "requires_safety_checker": False}
        if "safety_checker" in index
        else {}
    )
    torch_dtype = (
        getattr(torch, dtype) if dtype else (torch.float16 if device != "cpu" else torch.float32)
    )
    pipeline = DiffusionPipeline.from_pretrained(
        folder, local_files_only=True, dtype=torch_dtype, **kwargs
    ).to(device)
    pipeline.set_progress_bar_config(disable=True)
    return DiffusersGenerator(
        pipeline, name=name, identity={"name": name, **origin, "dtype": str(torch_dtype)}
    )
