"""The result of segmenting one image (VIP's own; the shared `segmodel.result` was not there yet)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SegmentationResult:
    """One image's segmentation, at the image's size."""

    labels: np.ndarray  # (H, W) int64 indices into `classes`
    classes: list[str]  # C class names, label order
    scores: np.ndarray  # (H, W) float32 probability of the chosen label
    probs: np.ndarray | None  # (C, H, W) float32 class probabilities, or None if not asked for
