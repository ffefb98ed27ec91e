"""`VipSegmenter`: training-free open-vocabulary segmentation of one image at a time.

    seg = VipSegmenter("tiny")                       # or "ViT-B-16", weights=PATH
    result = seg.segment(image, ["sky", "grass, lawn", "red circle"])
    result.labels                                    # (H, W) int64 indices into result.classes

Steps per image: text queries per alias (cached per vocabulary; optionally blended with a bank's
visual prompts), resize, sliding windows; per window: dense features, alias maps, saliency,
aggregation into class maps, visual-guided prompt evolution (re-score with evolved queries);
average windows, resize to the image, optional PAMR, softmax, labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from promptbank.vocab import Vocabulary, load_vocabulary, vocabulary_from_names
from segmodel.errors import EncoderMismatchError, InputError
from segmodel.result import SegmentationResult
from segmodel.vip import aggregation, evolution, protocol
from segmodel.vip.backbones import DenseBackbone, DenseFeatures, load_backbone
from segmodel.vip.settings import VipSettings, dataset_preset, load_presets, template_set

IDENTITY_KEYS = ("name", "arch", "pretrained", "weights", "weights_sha256")


@dataclass
class Queries:
    """Text (or dual) queries of one vocabulary."""

    classes: list[str]  # C class names
    names: list[str]  # A alias names
    alias_class: torch.Tensor  # (A,) int64 class of each alias
    queries: torch.Tensor  # (A, D) template-averaged alias embeddings (norm <= 1)


def as_vocabulary(classes_or_vocab) -> Vocabulary:
    """A Vocabulary, a built-in vocabulary name or file path, or a list of lines
    ("name, alias, ...") -> Vocabulary."""
    if isinstance(classes_or_vocab, Vocabulary):
        return classes_or_vocab
    if isinstance(classes_or_vocab, (str, Path)):
        return load_vocabulary(classes_or_vocab)
    return vocabulary_from_names(list(classes_or_vocab))


def add_background(vocab: Vocabulary) -> Vocabulary:
    """Prepend a `background` class whose aliases are the protocol's stuff words (label 0)."""
    words = load_presets()["background_aliases"]
    line = ", ".join(["background", *words])
    return vocabulary_from_names([line] + [", ".join(a) for a in vocab.aliases], vocab.name)


def preset_vocabulary(name: str, aliases: bool = True) -> Vocabulary:
    """A dataset preset's class file (VIP's alias file, or the single-name one), in label order.

    A background line spelt as stuff words (VOC21, COCO-Object) is named `background`; a repeated
    first name (VIP's ADE-150 file has two `shower` lines) becomes `shower (2)`, its aliases kept.
    """
    from promptbank.vocab import DATA

    entry = dataset_preset(name)
    path = DATA / "vocab" / entry["alias_vocab" if aliases else "vocab"]
    lines = [
        [n.strip() for n in raw.split(",") if n.strip()]
        for raw in path.read_text(encoding="utf-8").splitlines()
        if raw.strip()
    ]
    settings = VipSettings.preset(name)
    if settings.background and lines[settings.bg_index][0].lower() != "background":
        lines[settings.bg_index].insert(0, "background")
    classes: list[str] = []
    for names in lines:
        key, k = names[0], 2
        while key.lower() in {c.lower() for c in classes}:
            key, k = f"{names[0]} ({k})", k + 1
        classes.append(key)
    return Vocabulary(name=name, classes=classes, aliases=lines)


def image_tensor(image) -> torch.Tensor:
    """PIL image or uint8 (H, W, 3) array -> (1, 3, H, W) float in [0, 1]."""
    if isinstance(image, Image.Image):
        array = np.asarray(image.convert("RGB"))
    else:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise InputError(
                f"image: expected a PIL image or a uint8 (H, W, 3) array, got {array.dtype} "
                f"{tuple(array.shape)}; convert with PIL.Image.open(path).convert('RGB')"
            )
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float() / 255.0


class VipSegmenter:
    """Training-free segmenter (VIP mode). `backbone` is a name for `load_backbone` or a built
    `DenseBackbone`; `bank` a bank directory (or opened Bank) for bank-seeded queries; keyword
    settings override `settings` (see `VipSettings`)."""

    def __init__(
        self,
        backbone: str | DenseBackbone = "tiny",
        weights: str | Path | None = None,
        device: str | torch.device | None = None,
        bank=None,
        *,
        random_init: bool = False,
        settings: VipSettings | None = None,
        **overrides,
    ):
        self.settings = (settings or VipSettings()).replace(**overrides)
        s = self.settings
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if isinstance(backbone, str):
            backbone = load_backbone(
                backbone,
                weights,
                mode=s.dense_mode,
                beta=s.proxy_beta,
                gamma=s.proxy_gamma,
                random_init=random_init,
                device=self.device,
            )
        self.backbone = backbone
        self.bank = self._open_bank(bank) if bank is not None else None
        self._cache: dict[tuple, Queries] = {}

    def _open_bank(self, bank):
        from promptbank.reader import open_bank

        bank = open_bank(bank) if isinstance(bank, (str, Path)) else bank
        mine, theirs = self.backbone.identity(), dict(bank.encoder)
        keys = [k for k in IDENTITY_KEYS if k in mine or k in theirs]
        if any(mine.get(k) != theirs.get(k) for k in keys):
            raise EncoderMismatchError(
                f"bank {bank.root} was encoded with {theirs.get('name')!r} "
                f"({theirs.get('weights_sha256') or theirs.get('weights')}) but the VIP backbone "
                f"is {mine.get('name')!r} ({mine.get('weights_sha256') or mine.get('weights')}); "
                "use the bank's encoder as --backbone or a bank built with this one"
            )
        return bank

    # ------------------------------------------------------------------ text side
    def queries(self, vocab: Vocabulary) -> Queries:
        """Alias queries for a vocabulary (cached): template-averaged, bank-blended if any."""
        s = self.settings
        per_class = [a if s.use_aliases else a[:1] for a in vocab.aliases]
        key = (
            tuple(vocab.classes),
            tuple(map(tuple, per_class)),
            s.templates,
            s.renormalize_templates,
            s.bank_weight,
        )
        if key in self._cache:
            return self._cache[key]
        templates = template_set(s.templates)
        names = [n for aliases in per_class for n in aliases]
        alias_class = torch.tensor([c for c, a in enumerate(per_class) for _ in a])
        prompts = [t.replace("{}", n) for n in names for t in templates]
        emb = F.normalize(self.backbone.encode_text(prompts).float(), dim=-1)
        q = emb.view(len(names), len(templates), -1).mean(dim=1)  # (A, D)
        if s.renormalize_templates:
            q = F.normalize(q, dim=-1)
        if self.bank is not None and s.bank_weight > 0:
            visual = torch.from_numpy(self.bank.select(vocab.classes).visual).to(q.device)
            visual = F.normalize(visual.mean(dim=1), dim=-1)  # (C, D)
            q = F.normalize(F.normalize(q, dim=-1) + s.bank_weight * visual[alias_class], dim=-1)
        out = Queries(list(vocab.classes), names, alias_class.to(self.device), q.to(self.device))
        self._cache[key] = out
        return out

    # ------------------------------------------------------------------ image side
    def window_logits(self, x: torch.Tensor, q: Queries) -> torch.Tensor:
        """(n, 3, h, w) normalised windows (multiples of the stride) -> (n, C, h/s, w/s) logits."""
        return self.head_logits(self.backbone.encode_dense(x), q)

    def head_logits(self, feats: DenseFeatures, q: Queries) -> torch.Tensor:
        """Dense features of n windows -> (n, C, h', w') class logits: alias maps, saliency,
        aggregation and prompt evolution (everything VIP adds after the backbone)."""
        s = self.settings
        dense = feats.dense.float()  # (n, D, h', w')
        num_classes = len(q.classes)
        sal = None
        if s.aggregation == "lse" and s.saliency:
            sal = aggregation.saliency(feats.pooled.float(), q.queries, s.tem)  # (n, A)
        alias = aggregation.alias_logits(dense, q.queries, s.logit_scale)  # (n, A, h', w')
        merged = aggregation.aggregate(
            alias, q.alias_class, num_classes, rule=s.aggregation, sal=sal, tau=s.tau
        )
        for _ in range(s.evolve_steps):
            ev = evolution.evolve(
                dense,
                q.queries,
                q.alias_class,
                merged,
                alpha=s.evolve_alpha,
                threshold=s.evolve_threshold,
                min_fraction=s.evolve_min_fraction,
            )
            alias = aggregation.alias_logits(dense, ev.queries, s.logit_scale)
            alias = alias + s.logit_scale * ev.bias[:, :, None, None]
            merged = aggregation.aggregate(
                alias, q.alias_class, num_classes, rule=s.aggregation, sal=sal, tau=s.tau
            )
        return merged

    @torch.no_grad()
    def logits(self, image, classes_or_vocab) -> tuple[torch.Tensor, Queries, torch.Tensor]:
        """-> (class logits (C, H, W) at the image size, queries, raw image (1, 3, H, W))."""
        s = self.settings
        q = self.queries(as_vocabulary(classes_or_vocab))
        raw = image_tensor(image).to(self.device)  # (1, 3, H, W)
        h, w = raw.shape[-2:]
        size = protocol.resized_shape(h, w, s.short_side, s.max_long)
        x = (
            raw
            if size == (h, w)
            else F.interpolate(raw, size=size, mode="bilinear", align_corners=False, antialias=True)
        )
        mean = torch.tensor(self.backbone.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.backbone.std, device=x.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        out = protocol.slide(
            x,
            lambda c: self.window_logits(c, q),
            len(q.classes),
            s.crop,
            s.stride,
            s.window_batch,
            multiple=self.backbone.stride,
        )  # (1, C, h', w')
        if out.shape[-2:] != (h, w):
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out[0], q, raw

    def segment(self, image, classes_or_vocab, *, return_probs: bool = True) -> SegmentationResult:
        """Segment one image with a vocabulary (see `as_vocabulary`) -> SegmentationResult."""
        s = self.settings
        logits, q, raw = self.logits(image, classes_or_vocab)
        probs = logits.softmax(dim=0)  # (C, H, W)
        if s.pamr_steps:
            probs = protocol.pamr(raw, probs[None], s.pamr_steps, s.pamr_dilations)[0]
        labels = protocol.labels_from_probs(
            probs, background=s.background, bg_index=s.bg_index, prob_threshold=s.prob_threshold
        )
        scores = probs.flatten(1).amax(dim=1)  # (C,) best probability of each class
        return SegmentationResult(
            labels=labels.cpu().numpy(),
            classes=q.classes,
            scores=scores.cpu().numpy().astype(np.float32),
            probs=probs.cpu().numpy().astype(np.float32) if return_probs else None,
        )
