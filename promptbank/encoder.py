"""The CLIP encoder zoo: turn a name into a ready open_clip ConvNeXt CLIP. The only open_clip
importer in promptbank (segmodel uses it too, so a bank and a model always share one encoder).

Names: `tiny` (built in, random init from a fixed seed), `tiny-world` (the same architecture
pretrained on the shapes world's captioned renders, shipped in `promptbank/world/data/`), the catalogue's real encoders
(`convnext_base_w_320`, `convnext_large_d_320`), any open_clip `arch` or `arch:pretrained_tag`, and
`local-dir:/path` folders in open_clip's layout. Weights come from `weights=PATH` or the local
Hugging Face cache; nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image
from torch import nn

from promptbank import catalog
from promptbank.errors import UnknownModelError, WeightsNotFoundError

TINY_CONFIG = Path(__file__).parent / "data" / "configs" / "dpseg-tiny-convnext.json"
TINY_TRUNK = "dpseg_convnext_tiny_trunk"
TINY_DEPTHS = (1, 1, 3, 1)  # blocks per ConvNeXt stage
TINY_DIMS = (32, 64, 128, 256)  # channels at strides 4, 8, 16, 32
DEFAULT_SEED = 0  # seed of every random-weight build, so `tiny` is the same model everywhere
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@functools.cache
def register_tiny() -> None:
    """Register the tiny ConvNeXt trunk with timm and its CLIP config with open_clip (once)."""
    from timm.models import build_model_with_cfg, register_model
    from timm.models.convnext import ConvNeXt

    def dpseg_convnext_tiny_trunk(pretrained: bool = False, **kwargs) -> ConvNeXt:
        return build_model_with_cfg(
            ConvNeXt,
            TINY_TRUNK,
            pretrained=False,
            depths=TINY_DEPTHS,
            dims=TINY_DIMS,
            feature_cfg={"out_indices": (0, 1, 2, 3)},
            **kwargs,
        )

    dpseg_convnext_tiny_trunk.__module__ = "timm.models.convnext"
    register_model(dpseg_convnext_tiny_trunk)
    open_clip.add_model_config(TINY_CONFIG)


@dataclass(frozen=True)
class ClipSource:
    """Where a CLIP's architecture and weights come from."""

    name: str  # what the user asked for
    arch: str  # open_clip model name or `local-dir:` path
    pretrained: str | None  # pretrained tag, if any
    weights: Path | None  # checkpoint file to load; None means random init


def _hub_repo(arch: str, tag: str) -> str:
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    repo = (cfg or {}).get("hf_hub", "").rstrip("/")
    if not repo:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise UnknownModelError(
            f"open_clip has no pretrained tag {tag!r} for {arch!r} (known tags: {tags})"
        )
    return repo


def _missing(name: str, repo: str) -> WeightsNotFoundError:
    files = " or ".join(catalog.OPEN_CLIP_WEIGHT_FILES)
    return WeightsNotFoundError(
        f"weights for encoder {name!r} not found: looked for {files} of {repo} in the Hugging Face "
        f"cache {catalog.hub_cache_dir()}; fetch them on a connected machine with "
        f"`hf download {repo} {catalog.OPEN_CLIP_WEIGHT_FILES[0]}` and copy the cache "
        "here, or pass --encoder-weights PATH"
    )


def resolve_clip(
    name: str, weights: str | Path | None = None, random_init: bool = False
) -> ClipSource:
    """Decide architecture and weight file for `name` without building anything."""
    if weights is not None:
        weights = Path(weights).expanduser()
        if not weights.is_file():
            raise WeightsNotFoundError(
                f"encoder weights file {weights} does not exist; pass an open_clip checkpoint "
                "(.safetensors or .bin) to --encoder-weights"
            )
    if name == "tiny":
        register_tiny()
        return ClipSource(name, "dpseg-tiny-convnext", None, weights)
    if name == "tiny-world":
        register_tiny()
        shipped = catalog.TINY_WORLD_WEIGHTS
        if weights is None and not random_init and not shipped.is_file():
            raise WeightsNotFoundError(
                f"weights for encoder 'tiny-world' not found at {shipped}; rebuild them with "
                f"`dpseg world pretrain-clip --out {shipped}` or pass --encoder-weights PATH"
            )
        found = weights or (None if random_init else shipped)
        return ClipSource(name, "dpseg-tiny-convnext", None, found)
    if name.startswith("local-dir:") or Path(name).is_dir():
        folder = Path(name.removeprefix("local-dir:")).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise UnknownModelError(
                f"encoder folder {folder} has no open_clip_config.json; save it in open_clip's "
                "local-dir layout (open_clip_config.json + open_clip_model.safetensors)"
            )
        found = weights or next(
            (folder / f for f in catalog.OPEN_CLIP_WEIGHT_FILES if (folder / f).is_file()), None
        )
        return ClipSource(name, f"local-dir:{folder}", None, found)
    entry = catalog.ENCODERS.get(name)
    arch, _, tag = (entry.arch, "", entry.pretrained) if entry else name.partition(":")
    tag = tag or None
    if arch not in open_clip.list_models():
        known = ", ".join(sorted(catalog.ENCODERS))
        raise UnknownModelError(
            f"unknown encoder {name!r}: not a dpseg name ({known}) nor an open_clip model; "
            "see `dpseg models list` or open_clip.list_models()"
        )
    if weights is not None or random_init:
        return ClipSource(name, arch, tag, weights)
    if tag is None:
        raise WeightsNotFoundError(
            f"encoder {name!r} has no weights: name a pretrained tag ({arch}:TAG) or pass "
            "--encoder-weights PATH"
        )
    repo = _hub_repo(arch, tag)
    cached = catalog.cached_file(repo, catalog.OPEN_CLIP_WEIGHT_FILES)
    if cached is None:
        raise _missing(name, repo)
    return ClipSource(name, arch, tag, cached)


@contextlib.contextmanager
def _quiet_logs():
    """Hide open_clip's and timm's 'randomly initialised' warnings: random init is intended here."""
    root, timm_log = logging.getLogger(), logging.getLogger("timm")
    levels = root.level, timm_log.level
    root.setLevel(logging.ERROR)
    timm_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(levels[0])
        timm_log.setLevel(levels[1])


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_clip(
    name: str = "tiny",
    weights: str | Path | None = None,
    *,
    random_init: bool = False,
    seed: int = DEFAULT_SEED,
    device: str | torch.device = "cpu",
):
    """Build an open_clip model and its tokenizer. Returns (model, tokenizer, identity dict).

    Random init (for `tiny`, or any architecture with `random_init=True`) draws from `seed` inside
    a forked RNG, so it is the same model on every machine and leaves the global RNG alone.
    """
    source = resolve_clip(name, weights, random_init)
    with torch.random.fork_rng(devices=[]), _quiet_logs():
        torch.manual_seed(seed)
        model = open_clip.create_model(source.arch, pretrained=None)
    if source.weights is not None:
        open_clip.load_checkpoint(model, str(source.weights), weights_only=True)
        origin = {"weights_sha256": file_sha256(source.weights)}
    else:
        origin = {"weights": f"random-init:seed{seed}"}
    tokenizer = open_clip.get_tokenizer(source.arch)
    model.to(device).eval()
    identity = {"name": source.name, "arch": source.arch, "pretrained": source.pretrained, **origin}
    return model, tokenizer, identity


@dataclass
class EncodedImage:
    """Everything DPSeg reads from one image batch (NCHW maps, unnormalised embeddings)."""

    pooled: torch.Tensor  # (B, D) projected pooled CLIP embedding
    dense: torch.Tensor  # (B, D, H/32, W/32) projected embedding per location
    s4: torch.Tensor  # (B, D4, H/4, W/4) trunk stage 1
    s8: torch.Tensor  # (B, D8, H/8, W/8) trunk stage 2
    s16: torch.Tensor  # (B, D16, H/16, W/16) trunk stage 3
    s32: torch.Tensor  # (B, D32, H/32, W/32) trunk stage 4


class ClipEncoder(nn.Module):
    """An open_clip ConvNeXt CLIP exposing pooled, dense and multi-scale features and text."""

    def __init__(self, *, clip: nn.Module, tokenizer, identity: dict):
        super().__init__()
        visual = clip.visual
        trunk = getattr(visual, "trunk", None)
        if trunk is None or not hasattr(trunk, "stages") or len(trunk.stages) != 4:
            raise UnknownModelError(
                f"encoder {identity['name']!r} is not a ConvNeXt CLIP (DPSeg needs its 4 stages); "
                "use a convnext_* open_clip model, or VIP mode for ViT backbones"
            )
        self.clip = clip
        self.tokenizer = tokenizer
        self._identity = dict(identity)
        self.name = identity["name"]
        self.stage_dims = tuple(int(s.blocks[-1].mlp.fc2.out_features) for s in trunk.stages)
        with torch.no_grad():
            self.embed_dim = int(visual.head(torch.zeros(1, self.stage_dims[-1])).shape[-1])
        size = visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        cfg = getattr(visual, "preprocess_cfg", {}) or {}
        self.mean = tuple(cfg.get("mean", OPENAI_MEAN))
        self.std = tuple(cfg.get("std", OPENAI_STD))
        self._identity["preprocess"] = {
            "size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def identity(self) -> dict:
        """JSON-able description of this encoder and its weights; equal identities = compatible."""
        return dict(self._identity)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def preprocess(self, images, size: int | None = None) -> torch.Tensor:
        """PIL images or uint8 (H, W, 3) arrays -> (B, 3, size, size) normalised float tensor."""
        size = size or self.image_size
        batch = []
        for image in images:
            if not isinstance(image, Image.Image):
                image = Image.fromarray(np.asarray(image, dtype=np.uint8))
            image = image.convert("RGB").resize((size, size), Image.BICUBIC)
            batch.append(np.asarray(image, dtype=np.float32) / 255.0)
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)  # (B, 3, S, S)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self.device)

    def trunk_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> [s4, s8, s16, s32] trunk maps, NCHW."""
        trunk = self.clip.visual.trunk
        h = trunk.stem(x)
        maps = []
        for stage in trunk.stages:
            h = stage(h)
            maps.append(h)
        maps[-1] = trunk.norm_pre(maps[-1])
        return maps

    def dense_embedding(self, s32: torch.Tensor) -> torch.Tensor:
        """(B, D32, h, w) -> (B, D, h, w): the CLIP head and projection applied per location."""
        visual = self.clip.visual
        normed = visual.trunk.head.norm(s32).permute(0, 2, 3, 1)  # (B, h, w, D32)
        return visual.head(normed).permute(0, 3, 1, 2)  # (B, D, h, w)

    def pooled_embedding(self, s32: torch.Tensor) -> torch.Tensor:
        """(B, D32, h, w) -> (B, D): global pool, head norm, projection (= encode_image)."""
        visual = self.clip.visual
        return visual.head(visual.trunk.head(s32))

    def encode_image(self, x: torch.Tensor) -> EncodedImage:
        s4, s8, s16, s32 = self.trunk_maps(x)
        return EncodedImage(self.pooled_embedding(s32), self.dense_embedding(s32), s4, s8, s16, s32)

    @torch.no_grad()
    def encode_text(self, prompts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Prompts -> (N, D) unnormalised text embeddings (the text tower is never trained)."""
        out = []
        for start in range(0, len(prompts), batch_size):
            tokens = self.tokenizer(prompts[start : start + batch_size]).to(self.device)
            out.append(self.clip.encode_text(tokens).float())
        return torch.cat(out) if out else torch.zeros(0, self.embed_dim, device=self.device)


def load_encoder(
    name: str = "tiny",
    weights: str | Path | None = None,
    *,
    random_init: bool = False,
    seed: int = DEFAULT_SEED,
    device: str | torch.device = "cpu",
) -> ClipEncoder:
    """A frozen, eval-mode ClipEncoder for `name` (see the module docstring for names)."""
    clip, tokenizer, identity = load_clip(
        name, weights, random_init=random_init, seed=seed, device=device
    )
    encoder = ClipEncoder(clip=clip, tokenizer=tokenizer, identity=identity)
    encoder.requires_grad_(False)
    return encoder.eval()


def save_encoder(encoder_or_clip: nn.Module, folder: str | Path, arch: str) -> Path:
    """Write a CLIP in open_clip's local-dir layout (config + safetensors), loadable by name
    `local-dir:FOLDER` or, for the weights file alone, by `weights=FOLDER/open_clip_model.safetensors`."""
    import json

    from safetensors.torch import save_file

    clip = getattr(encoder_or_clip, "clip", encoder_or_clip)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": open_clip.get_model_config(arch), "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.detach().contiguous() for k, v in clip.state_dict().items()}
    target = folder / catalog.OPEN_CLIP_WEIGHT_FILES[0]
    save_file(state, str(target) + ".tmp")
    Path(str(target) + ".tmp").replace(target)
    return target
