"""Segmenter: a DPSeg model plus a prompt bank, for images and class names.

    seg = Segmenter(load_model("model.safetensors"), open_bank("banks/ade150"))
    result = seg.segment(Image.open("room.jpg"), ["wall", "floor", "bed"], inference=2)
    result.labels                     # (H, W) int64 index into result.classes

Whole-image mode follows SED's test transform: short side to 640, the whole image resized to the
model's square input, sigmoid, probabilities resized back to the image, argmax. Sliding-window
mode averages overlapping square windows instead. Inference II (paper 4.3) decodes a second time
from pass one's image features with visual prompts taken from the image's own regions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from segmodel.errors import InputError, PromptError, SegmodelError
from segmodel.model.dpseg import DPSeg
from segmodel.model.inference import predict
from segmodel.model.refine import RefineSettings
from segmodel.prompts import PromptSet, canonical_identity, check_encoder
from segmodel.result import SegmentationResult

if TYPE_CHECKING:
    from promptbank.encoder import ClipEncoder
    from promptbank.reader import Bank

MODES = ("resize", "slide")


class Segmenter:
    """Segments images with `model` and prompts read from `bank` (None: text-only prompts from
    the frozen encoder's text tower and the first T ImageNet templates, no visual prompts).

    encoder: the frozen prompt encoder (the bank's); loaded from the model's recorded identity on
    first need (inference II, text fallback for classes the bank lacks) when not given.
    encoder_weights: a local weights file for that loading (a model trained on one).
    refine: how inference II builds its prompts (RefineSettings). short_side: SED's test resize.
    """

    def __init__(
        self,
        model: DPSeg,
        bank: Bank | str | Path | None,
        device: str | None = None,
        encoder: ClipEncoder | None = None,
        *,
        refine: RefineSettings | None = None,
        short_side: int = 640,
        batch_size: int = 4,
        class_chunk: int | None = None,
        encoder_weights: str | Path | None = None,
    ):
        if isinstance(bank, (str, Path)):
            from promptbank.reader import open_bank

            bank = open_bank(bank)
        device = torch.device(device) if device else next(model.parameters()).device
        if bank is not None:
            check_encoder(model.encoder_identity, bank.encoder, what=f"bank {bank.root}")
            if len(bank.templates) != model.config.num_templates:
                raise PromptError(
                    f"bank {bank.root} has {len(bank.templates)} templates but the model was "
                    f"built with num_templates={model.config.num_templates}; rebuild the bank "
                    f"with --templates {model.config.num_templates} or use a matching model"
                )
        if encoder is not None:
            check_encoder(model.encoder_identity, encoder.identity(), what="prompt encoder")
            encoder = encoder.to(device)
        self.model = model.to(device).eval()
        self.bank = bank
        self.device = device
        self.refine = refine or RefineSettings()
        self.short_side = short_side
        self.batch_size = batch_size
        self.class_chunk = class_chunk
        self._encoder = encoder
        self.encoder_weights = encoder_weights
        self._cached: tuple[tuple[str, ...], PromptSet] | None = None
        preprocess = model.encoder_identity.get("preprocess", {})
        self._mean = torch.tensor(preprocess.get("mean", (0.5, 0.5, 0.5))).view(3, 1, 1)
        self._std = torch.tensor(preprocess.get("std", (0.5, 0.5, 0.5))).view(3, 1, 1)

    @property
    def size(self) -> int:
        """S, the model's square input side."""
        return self.model.config.image_size

    @property
    def encoder(self) -> ClipEncoder:
        """The frozen prompt encoder, loaded on first use from `encoder_weights` or else from the
        model's encoder identity (the catalogue's weights, the HF cache, or a random-init seed)."""
        if self._encoder is None:
            from promptbank.encoder import load_encoder

            identity = self.model.encoder_identity
            weights = str(identity.get("weights", ""))
            if self.encoder_weights:
                enc = load_encoder(identity["name"], self.encoder_weights)
            elif weights.startswith("random-init:seed"):
                enc = load_encoder(
                    identity["name"],
                    random_init=True,
                    seed=int(weights.removeprefix("random-init:seed")),
                )
            else:
                enc = load_encoder(identity["name"])
            if canonical_identity(enc.identity()) != canonical_identity(identity):
                found = (
                    f"encoder weights {self.encoder_weights}"
                    if self.encoder_weights
                    else f"the prompt encoder found for {identity['name']!r}"
                )
                raise SegmodelError(
                    f"{found} is not the one the model was built with; pass its weights "
                    "(dpseg --encoder-weights FILE, or Segmenter(..., encoder_weights=FILE))"
                )
            self._encoder = enc.to(self.device)
        return self._encoder

    def prompts(self, classes: list[str]) -> PromptSet:
        """The PromptSet of `classes` (cached for repeated calls with the same vocabulary)."""
        key = tuple(classes)
        if self._cached is None or self._cached[0] != key:
            if self.bank is None:
                prompts = PromptSet.text_only(
                    self.encoder, list(classes), self.model.config.num_templates, self.device
                )
            else:
                fallback = self.encoder if any(not self.bank.has(c) for c in classes) else None
                prompts = PromptSet.from_bank(
                    self.bank, list(classes), self.device, text_encoder=fallback
                )
            self._cached = (key, prompts)
        return self._cached[1]

    # --- batched core --------------------------------------------------------------------------
    @torch.no_grad()
    def predict_probs(
        self, images: torch.Tensor, prompts: PromptSet, inference: int = 1, topk: int | None = None
    ) -> torch.Tensor:
        """images (B, 3, S, S) normalised (S a multiple of 32, normally the model's size),
        prompts for C classes -> per-class probabilities (B, C, S/4, S/4) after sigmoid.

        inference: 1 = one pass; 2 = inference II (pass two reuses pass one's image features).
        topk: early-rejection k (None = the model's config, 0 = off).
        """
        return self._predict(images, prompts, inference, topk)[0]

    def _predict(
        self, images: torch.Tensor, prompts: PromptSet, inference: int, topk: int | None
    ) -> tuple[torch.Tensor, list[list[int]]]:
        needs_encoder = inference == 2 and self.refine.source != "features"
        return predict(
            self.model,
            images.to(self.device),
            prompts,
            inference=inference,
            refine=self.refine,
            encoder=self.encoder if needs_encoder else None,
            topk=topk,
            chunk=self.class_chunk,
        )

    # --- images --------------------------------------------------------------------------------
    def _normalise(self, image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
        """PIL image -> (3, h, w) normalised tensor at size (w, h)."""
        pixels = np.asarray(image.resize(size, Image.BILINEAR), dtype=np.float32) / 255.0
        x = torch.from_numpy(pixels).permute(2, 0, 1)  # (3, h, w)
        return (x - self._mean) / self._std

    def _rescaled(self, image: Image.Image, short_side: int) -> Image.Image:
        w, h = image.size
        scale = short_side / min(w, h)
        return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)

    def _resize_probs(
        self, image: Image.Image, prompts: PromptSet, inference: int, topk: int | None
    ) -> tuple[torch.Tensor, list[int]]:
        """Whole-image mode: (C, S/4, S/4) probabilities and the refined class positions."""
        if self.short_side:
            image = self._rescaled(image, self.short_side)
        x = self._normalise(image, (self.size, self.size))[None]  # (1, 3, S, S)
        probs, detected = self._predict(x, prompts, inference, topk)
        return probs[0], detected[0]

    def _slide_probs(
        self,
        image: Image.Image,
        prompts: PromptSet,
        inference: int,
        topk: int | None,
        overlap: float,
    ) -> tuple[torch.Tensor, list[int]]:
        """Sliding windows of S over the image rescaled to short side max(short_side, S)."""
        s = self.size
        w, h = image.size
        scale = max(self.short_side or 0, s) / min(w, h)
        hh, ww = (max(s, round(v * scale / 32) * 32) for v in (h, w))
        x = self._normalise(image, (ww, hh))  # (3, H', W')
        step = max(32, int(s * (1 - overlap)) // 32 * 32)
        ys = sorted({*range(0, hh - s, step), hh - s})
        xs = sorted({*range(0, ww - s, step), ww - s})
        boxes = [(y, x0) for y in ys for x0 in xs]
        total = torch.zeros(prompts.num_classes, hh // 4, ww // 4, device=self.device)
        count = torch.zeros(1, hh // 4, ww // 4, device=self.device)
        refined: set[int] = set()
        for start in range(0, len(boxes), self.batch_size):
            batch = boxes[start : start + self.batch_size]
            windows = torch.stack([x[:, y : y + s, x0 : x0 + s] for y, x0 in batch])
            probs, detected = self._predict(windows, prompts, inference, topk)
            for (y, x0), p, found in zip(batch, probs, detected):
                total[:, y // 4 : (y + s) // 4, x0 // 4 : (x0 + s) // 4] += p
                count[:, y // 4 : (y + s) // 4, x0 // 4 : (x0 + s) // 4] += 1
                refined.update(found)
        return total / count, sorted(refined)

    @torch.no_grad()
    def segment(
        self,
        image,
        classes: list[str],
        inference: int = 1,
        mode: str = "resize",
        topk: int | None = None,
        *,
        return_probs: bool = False,
        overlap: float = 1 / 3,
    ) -> SegmentationResult:
        """Segment one image (PIL image or uint8 (H, W, 3) array) into `classes`.

        inference: 1 or 2 (refined prompts); mode: resize (whole image, SED) | slide (windows
        overlapping by `overlap`); topk: early-rejection k (None = model config, 0 = off).
        """
        if mode not in MODES:
            raise InputError(f"mode={mode!r}; expected one of {', '.join(MODES)}")
        if isinstance(classes, str) or not classes:
            raise InputError(f"classes={classes!r}; expected a non-empty list of class names")
        image = _as_pil(image)
        prompts = self.prompts(list(classes))
        if mode == "resize":
            probs, refined = self._resize_probs(image, prompts, inference, topk)
        else:
            probs, refined = self._slide_probs(image, prompts, inference, topk, overlap)
        labels, full = _labels_at(probs, (image.height, image.width), return_probs)
        scores = probs.flatten(1).amax(1)  # (C,)
        return SegmentationResult(
            labels=labels.cpu().numpy().astype(np.int64),
            classes=list(classes),
            scores=scores.float().cpu().numpy(),
            probs=None if full is None else full.cpu().numpy(),
            refined=[classes[i] for i in refined],
        )


def _as_pil(image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise InputError(
            f"image is {type(image).__name__} {array.dtype} {array.shape}; expected "
            "a PIL image or a uint8 (H, W, 3) array"
        )
    return Image.fromarray(array).convert("RGB")


UPSAMPLE_ELEMENTS = 1 << 24  # at most this many floats (64 MB) upsampled at once


def _labels_at(
    probs: torch.Tensor, size: tuple[int, int], keep: bool, chunk: int = 32
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """probs (C, h, w) -> labels (H, W) by argmax after bilinear resizing, a chunk of classes at
    a time (bounded memory: fewer classes per chunk for large images); also the resized
    (C, H, W) probabilities if `keep`."""
    chunk = max(1, min(chunk, UPSAMPLE_ELEMENTS // max(1, size[0] * size[1])))
    best = torch.full(size, -1.0, device=probs.device)
    labels = torch.zeros(size, dtype=torch.long, device=probs.device)
    kept = []
    for start in range(0, probs.shape[0], chunk):
        up = F.interpolate(
            probs[None, start : start + chunk], size=size, mode="bilinear", align_corners=False
        )[0]  # (c, H, W)
        value, index = up.max(dim=0)
        better = value > best
        best = torch.where(better, value, best)
        labels = torch.where(better, index + start, labels)
        if keep:
            kept.append(up)
    return labels, (torch.cat(kept) if keep else None)
