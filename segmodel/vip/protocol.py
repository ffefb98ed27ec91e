"""The training-free evaluation protocol (MMSegmentation style), backbone-agnostic.

- `resized_shape`: short side to `short_side`, long side at most `max_long`, ratio kept.
- `windows` / `slide`: square windows of side `crop` every `stride` pixels, the last window of
  each axis clamped to the border; per-window logits are summed and divided by the per-pixel
  window count (every pixel is covered at least once).
- `pamr`: pixel-adaptive mask refinement (optional, off by default).
- `labels_from_probs`: argmax, and on datasets with a background class, pixels whose best
  probability is below `prob_threshold` become the background label. There is no "abstain"
  (255) output: on datasets without background the threshold is ignored.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def resized_shape(h: int, w: int, short_side: int | None, max_long: int) -> tuple[int, int]:
    """MMSeg's keep-ratio rescale: scale = min(max_long / long, short_side / short)."""
    if short_side is None:
        return h, w
    scale = min(max_long / max(h, w), short_side / min(h, w))
    return max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))


def window_starts(size: int, crop: int, stride: int) -> list[int]:
    """Start offsets along one axis; the last window is clamped to end at `size`."""
    count = max(size - crop + stride - 1, 0) // stride + 1
    return [max(min(i * stride + crop, size) - crop, 0) for i in range(count)]


def windows(h: int, w: int, crop: int, stride: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of every window over an h x w image (smaller images: one window)."""
    return [
        (y, min(y + crop, h), x, min(x + crop, w))
        for y in window_starts(h, crop, stride)
        for x in window_starts(w, crop, stride)
    ]


def slide(
    image: torch.Tensor,
    fn: Callable[[torch.Tensor], torch.Tensor],
    num_classes: int,
    crop: int,
    stride: int,
    batch: int = 4,
    multiple: int = 1,
) -> torch.Tensor:
    """Average of `fn` over sliding windows.

    image: (1, 3, H, W) normalised. Windows are zero-padded (bottom, right) to a multiple of
    `multiple` and encoded `batch` at a time; fn: (n, 3, h, w) padded windows -> (n, C, h', w')
    logits at any resolution aligned with them (e.g. the backbone's grid). Each window's logits
    are upsampled bilinearly to its padded size one window at a time, cropped, and summed.
    Returns (1, C, H, W).
    """
    _, _, h, w = image.shape
    total = image.new_zeros(1, num_classes, h, w)
    count = image.new_zeros(1, 1, h, w)
    by_size: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
    for box in windows(h, w, crop, stride):
        by_size.setdefault((box[1] - box[0], box[3] - box[2]), []).append(box)
    for (wh, ww), group in by_size.items():
        padded = (wh + (-wh) % multiple, ww + (-ww) % multiple)
        for i in range(0, len(group), batch):
            chunk = group[i : i + batch]
            crops = torch.cat([image[:, :, y0:y1, x0:x1] for y0, y1, x0, x1 in chunk])
            crops = F.pad(crops, (0, padded[1] - ww, 0, padded[0] - wh))  # zero = mean colour
            logits = fn(crops)  # (n, C, h', w')
            for (y0, y1, x0, x1), out in zip(chunk, logits):
                if out.shape[-2:] != padded:
                    out = F.interpolate(
                        out[None], size=padded, mode="bilinear", align_corners=False
                    )[0]
                total[0, :, y0:y1, x0:x1] += out[:, :wh, :ww]
                count[0, :, y0:y1, x0:x1] += 1
    return total / count


def _neighbours(x: torch.Tensor, dilations: tuple[int, ...]) -> torch.Tensor:
    """(B, K, H, W) -> (B, K, 8 * len(dilations), H, W): the 8 neighbours at each dilation."""
    pad = max(dilations)
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    h, w = x.shape[-2:]
    out = []
    for d in dilations:
        for dy in (-d, 0, d):
            for dx in (-d, 0, d):
                if dy or dx:
                    out.append(padded[:, :, pad + dy : pad + dy + h, pad + dx : pad + dx + w])
    return torch.stack(out, dim=2)


def pamr(
    image: torch.Tensor, probs: torch.Tensor, steps: int, dilations: tuple[int, ...] = (8, 16)
) -> torch.Tensor:
    """Pixel-adaptive mask refinement: propagate (B, C, H, W) scores with local colour affinities
    of the (B, 3, H, W) image, `steps` times (Araslanov & Roth, 2020; our implementation)."""
    if steps <= 0:
        return probs
    near = _neighbours(image, dilations)  # (B, 3, P, H, W)
    diff = (near - image[:, :, None]).abs()
    spread = near.std(dim=2, keepdim=True)  # (B, 3, 1, H, W)
    affinity = (-(diff / (1e-8 + 0.1 * spread)).mean(dim=1)).softmax(dim=1)  # (B, P, H, W)
    for _ in range(steps):
        probs = (_neighbours(probs, dilations) * affinity[:, None]).sum(dim=2)
    return probs


def labels_from_probs(
    probs: torch.Tensor, *, background: bool, bg_index: int, prob_threshold: float
) -> torch.Tensor:
    """(C, H, W) probabilities -> (H, W) int64 labels (module docstring for the background rule)."""
    best, labels = probs.max(dim=0)
    if background and prob_threshold > 0:
        labels = torch.where(best < prob_threshold, torch.full_like(labels, bg_index), labels)
    return labels.long()
