"""ADE-847's size rule and the two resizes it uses, in numpy (no OpenCV needed).

The peers shrink every validation image whose short side exceeds 512 with OpenCV: the image with
`INTER_LINEAR` on uint8, the label with `INTER_NEAREST`. These functions follow OpenCV's documented
conventions: nearest takes source index floor(x * src / dst); bilinear samples at
(x + 0.5) * src / dst - 0.5 with edge clamping, 11-bit fixed-point weights and OpenCV's rounding,
and an exact 2x reduction averages 2x2 blocks (OpenCV switches to its area mode there).
"""

from __future__ import annotations

import numpy as np

MAX_SHORT_SIDE = 512
_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS
_COEF_SCALE = 1 << _COEF_BITS


def shrunk_size(height: int, width: int, max_size: int = MAX_SHORT_SIDE) -> tuple[int, int] | None:
    """(height, width) with the short side `max_size` when it exceeds it, else None."""
    if width >= height > max_size:
        return max_size, round(width / float(height) * max_size)
    if height >= width > max_size:
        return round(height / float(width) * max_size), max_size
    return None


def resize_nearest(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) -> (h, w) = `size`, nearest neighbour: source index floor(x * W / w)."""
    rows = _nearest_index(label.shape[0], size[0])
    cols = _nearest_index(label.shape[1], size[1])
    return label[rows[:, None], cols[None, :]]


def resize_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W[, C]) -> (h, w[, C]), bilinear with half-pixel centres, as OpenCV's INTER_LINEAR."""
    src_h, src_w = image.shape[:2]
    if src_h == 2 * size[0] and src_w == 2 * size[1]:
        return _halve(image)
    rows, row_w = _linear_taps(src_h, size[0])  # (h, 2) indices, (h, 2) weights
    cols, col_w = _linear_taps(src_w, size[1])
    pixels = image.astype(np.int32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    col_w = col_w[None, :, :, None]
    horizontal = pixels[:, cols[:, 0]] * col_w[:, :, 0] + pixels[:, cols[:, 1]] * col_w[:, :, 1]
    top = horizontal[rows[:, 0]] >> 4  # (h, w, C), as OpenCV's vector path
    bottom = horizontal[rows[:, 1]] >> 4
    out = ((top * row_w[:, 0, None, None]) >> 16) + ((bottom * row_w[:, 1, None, None]) >> 16)
    out = np.clip((out + 2) >> 2, 0, 255).astype(np.uint8)
    return out[:, :, 0] if image.ndim == 2 else out


def _nearest_index(src: int, dst: int) -> np.ndarray:
    step = 1.0 / (dst / src)  # float64, as OpenCV computes it
    return np.minimum(np.floor(np.arange(dst) * step).astype(np.int64), src - 1)


def _linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (dst, 2) and fixed-point weights (dst, 2) of each output row or column."""
    scale = 1.0 / (dst / src)
    pos = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(pos).astype(np.int64)
    frac = (pos - first).astype(np.float32)
    low = first < 0
    frac[low], first[low] = 0, 0
    high = first >= src - 1
    frac[high], first[high] = 0, src - 1
    weights = np.stack([np.float32(1) - frac, frac], axis=1) * np.float32(_COEF_SCALE)
    taps = np.stack([first, np.minimum(first + 1, src - 1)], axis=1)
    return taps, np.rint(weights).astype(np.int32)


def _halve(image: np.ndarray) -> np.ndarray:
    """Exact 2x reduction: the rounded mean of each 2x2 block."""
    pixels = image.astype(np.int32)
    total = pixels[0::2, 0::2] + pixels[1::2, 0::2] + pixels[0::2, 1::2] + pixels[1::2, 1::2]
    return ((total + 2) >> 2).astype(np.uint8)
