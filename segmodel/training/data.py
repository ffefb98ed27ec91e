"""The training input pipeline: deterministic per-sample augmentation and a resumable sample order.

Sample number g (0, 1, 2, ... over the whole run) is fully determined by (seed, g): its dataset
item comes from a seeded permutation of epoch g // len(dataset), and its augmentation from a
generator seeded with (seed, g). Resuming at step s therefore just restarts the counter at
s * batch_size: no sampler state, worker count or RNG state is involved, and every process of a
distributed run takes its own slice of each global batch.

Augmentation (SED/detectron2 train mapper): resize the short side, random crop (padding with the
mean colour and the ignore label when the image is smaller), SSD colour jitter, horizontal flip.
Images stay uint8 (B, 3, H, W) until the training step normalises them on the device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

PAD_RGB = (128, 128, 128)  # image padding value (SED pads images with 128, labels with ignore)


@dataclass(frozen=True)
class Augment:
    resize_short: int  # short side after resize (0 = keep)
    max_size: int  # cap on the long side after resize
    crop: int  # square crop side
    color_jitter: bool  # SSD colour jitter
    flip: bool  # horizontal flip with p = 0.5
    ignore_index: int  # label value of padded pixels

    def __call__(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """image uint8 (H, W, 3), label int64 (H, W) -> both cropped to (crop, crop)."""
        image, label = self._resize(image, label)
        image, label = self._crop(image, label, rng)
        if self.color_jitter:
            image = ssd_color_jitter(image, rng)
        if self.flip and rng.random() < 0.5:
            image, label = image[:, ::-1], label[:, ::-1]
        return np.ascontiguousarray(image), np.ascontiguousarray(label)

    def _resize(self, image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = label.shape
        if not self.resize_short:
            return image, label
        scale = self.resize_short / min(h, w)
        if max(h, w) * scale > self.max_size:
            scale = self.max_size / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL (W, H)
        if size == (w, h):
            return image, label
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        lab = Image.fromarray(label.astype(np.int32))  # mode "I"
        label = np.asarray(lab.resize(size, Image.Resampling.NEAREST)).astype(np.int64)
        return image, label

    def _crop(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        c = self.crop
        h, w = label.shape
        if h < c or w < c:  # pad bottom/right like detectron2's size-divisibility padding
            ph, pw = max(c, h), max(c, w)
            padded = np.empty((ph, pw, 3), np.uint8)
            padded[:] = PAD_RGB
            padded[:h, :w] = image
            lab = np.full((ph, pw), self.ignore_index, np.int64)
            lab[:h, :w] = label
            image, label, h, w = padded, lab, ph, pw
        y = int(rng.integers(0, h - c + 1))
        x = int(rng.integers(0, w - c + 1))
        return image[y : y + c, x : x + c], label[y : y + c, x : x + c]


def ssd_color_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SSD photometric distortion: brightness +-32, then contrast x[0.5, 1.5] before or after
    saturation x[0.5, 1.5] and hue +-18 degrees-of-180; each applied with p = 0.5."""
    img = image.astype(np.float32)  # (H, W, 3) 0..255
    if rng.random() < 0.5:
        img = np.clip(img + rng.uniform(-32, 32), 0, 255)
    contrast_first = rng.random() < 0.5
    if contrast_first:
        img = _contrast(img, rng)
    img = _saturation_hue(img, rng)
    if not contrast_first:
        img = _contrast(img, rng)
    return img.round().astype(np.uint8)


def _contrast(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        img = np.clip(img * rng.uniform(0.5, 1.5), 0, 255)
    return img


def _saturation_hue(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    do_sat, do_hue = rng.random() < 0.5, rng.random() < 0.5
    sat = rng.uniform(0.5, 1.5) if do_sat else 1.0
    hue = int(rng.integers(-18, 19)) if do_hue else 0  # OpenCV hue units: 180 per turn
    if not (do_sat or do_hue):
        return img
    hsv = np.asarray(Image.fromarray(img.round().astype(np.uint8)).convert("HSV")).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + round(hue * 256 / 180)) % 256  # PIL hue: 256 per turn
    hsv[..., 1] = np.clip(np.round(hsv[..., 1] * sat), 0, 255)
    h, w = hsv.shape[:2]
    rgb = Image.frombytes("HSV", (w, h), hsv.astype(np.uint8).tobytes()).convert("RGB")
    return np.asarray(rgb).astype(np.float32)


class TrainSamples(torch.utils.data.Dataset):
    """Map-style view indexed by the global sample number g (see the module docstring).

    `label_map` (optional, int64 lookup) renumbers dataset labels into prompt-class indices;
    values it sends to -1 become `ignore_index`.
    """

    def __init__(
        self,
        dataset: Any,
        augment: Augment,
        seed: int,
        label_map: np.ndarray | None = None,
    ) -> None:
        self.dataset = dataset
        self.augment = augment
        self.seed = int(seed)
        self.label_map = label_map
        self._epoch = -1
        self._order: np.ndarray | None = None

    def item_index(self, g: int) -> int:
        n = len(self.dataset)
        epoch = g // n
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, 1, epoch]).permutation(n)
            self._epoch = epoch
        return int(self._order[g % n])

    def __len__(self) -> int:  # not used by the sampler; the run length is the step count
        return len(self.dataset)

    def __getitem__(self, g: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.dataset[self.item_index(g)]
        label = item["label"]
        if self.label_map is not None:
            inside = (label >= 0) & (label < len(self.label_map))
            mapped = self.label_map[np.where(inside, label, 0)]
            label = np.where(inside & (mapped >= 0), mapped, self.augment.ignore_index)
        rng = np.random.default_rng([self.seed, 2, g])
        image, label = self.augment(item["image"], label, rng)
        image_t = torch.from_numpy(image).permute(2, 0, 1).contiguous()  # (3, c, c) uint8
        return image_t, torch.from_numpy(label)  # (c, c) int64


class StepSampler(torch.utils.data.Sampler[int]):
    """Global sample numbers of this process for steps start..steps-1.

    Step s uses samples s*B .. s*B+B-1 (B = total batch); process r of W takes the r-th
    contiguous slice of B/W of them.
    """

    def __init__(self, start_step: int, steps: int, batch_size: int, rank: int = 0, world: int = 1):
        self.start_step, self.steps = int(start_step), int(steps)
        self.batch_size, self.rank, self.world = int(batch_size), int(rank), int(world)
        self.local = self.batch_size // self.world

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start_step, self.steps):
            first = step * self.batch_size + self.rank * self.local
            yield from range(first, first + self.local)

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.local


def prompt_label_map(dataset_classes: Sequence[str], prompt_classes: Sequence[str]) -> np.ndarray:
    """Lookup dataset label -> index in `prompt_classes` (-1 for classes not prompted)."""
    where = {name: i for i, name in enumerate(prompt_classes)}
    return np.array([where.get(name, -1) for name in dataset_classes], dtype=np.int64)
