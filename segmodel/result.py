"""What `Segmenter.segment` returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SegmentationResult:
    """One image's segmentation over the requested classes, at the image's own size."""

    labels: np.ndarray  # (H, W) int64: index into `classes` per pixel
    classes: list[str]  # C class names, in the order asked for
    scores: np.ndarray  # (C,) float32: highest probability the class reaches anywhere
    probs: np.ndarray | None = None  # (C, H, W) float32 per-class probabilities, if asked for
    refined: list[str] = field(default_factory=list)  # classes whose prompts inference II refined

    def present(self) -> list[str]:
        """Names of the classes that label at least one pixel, most pixels first."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes))
        order = np.argsort(-counts, kind="stable")
        return [self.classes[i] for i in order if counts[i] > 0]

    def mask(self, name: str) -> np.ndarray:
        """(H, W) bool mask of one class."""
        return self.labels == self.classes.index(name)
