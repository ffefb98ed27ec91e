"""Dataset-level semantic-segmentation metrics from one confusion matrix.

Two protocols read the same accumulated counts:

- ``detectron2``: detectron2's `SemSegEvaluator` after the 2022-07 fix (what SED and CAT-Seg
  report). Ignored GT pixels are dropped together with their predictions; a class with no GT
  pixel anywhere in the dataset is NaN and left out of every mean, even when it was predicted.
- ``mmseg``: MMSegmentation 1.x `IoUMetric`. Ignored GT pixels are dropped with their
  predictions too, but IoU is NaN only when a class is in neither GT nor prediction, so a class
  that was predicted and never present scores IoU 0 and pulls mIoU down. Means are `nanmean`.
  mmseg has no fwIoU; we report one with detectron2's formula over mmseg's areas.

Counts layout: ``matrix[p, g]`` (rows prediction, columns GT) of shape (N+1, N+1), int64.
Row N holds valid-GT pixels whose prediction is outside 0..N-1; column N holds pixels whose GT is
outside 0..N-1 but is not the ignore value ("stray" GT). Ignored GT pixels are only counted in
``ignored``. detectron2 reads ``matrix[:N, :N]`` (and refuses stray GT, which it would mis-bin);
mmseg's histograms count out-of-range predictions as misses of the GT class and predictions on
stray GT as false positives, exactly like `torch.histc(..., min=0, max=N-1)` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from promptbank.errors import DpsegError

PROTOCOLS = ("detectron2", "mmseg")


class MetricError(DpsegError):
    """Inputs the metric cannot score (shape mismatch, bad labels, unknown protocol)."""


class ConfusionMatrix:
    """Accumulates one dataset-level confusion matrix; see the module docstring for the layout.

    Args:
        num_classes: N, the number of evaluated classes (label values 0..N-1).
        ignore_index: GT value whose pixels are dropped with their predictions.
        class_names: optional N names for `per_class`; defaults to "0".."N-1".
        pred_remap: optional lookup table (Q,) int mapping a query index to an evaluated class,
            applied to predictions in 0..Q-1 before counting (VOC-20b: indices >= 20 -> 20,
            see `background_remap`).
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = 255,
        *,
        class_names: Sequence[str] | None = None,
        pred_remap: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        if num_classes < 1:
            raise MetricError(f"num_classes must be >= 1, got {num_classes}")
        if class_names is not None and len(class_names) != num_classes:
            raise MetricError(
                f"class_names has {len(class_names)} names but num_classes is {num_classes}; "
                "pass one name per evaluated class"
            )
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.class_names = (
            list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        )
        self.pred_remap = None if pred_remap is None else np.asarray(pred_remap, dtype=np.int64)
        n1 = self.num_classes + 1
        self.matrix = np.zeros((n1, n1), dtype=np.int64)  # (N+1, N+1) rows pred, cols GT
        self.ignored = 0  # GT pixels equal to ignore_index (dropped)
        self.stray_values: set[int] = set()  # GT values outside 0..N-1 that are not ignore
        self.images = 0  # number of update() calls

    # ------------------------------------------------------------------ accumulation
    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Adds one image. `pred` and `gt` are (H, W) integer label maps of the same shape."""
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        if pred.shape != gt.shape:
            raise MetricError(
                f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}; "
                "resize the prediction to the label size (nearest) before scoring"
            )
        for what, arr in (("prediction", pred), ("ground truth", gt)):
            if not np.issubdtype(arr.dtype, np.integer):
                raise MetricError(f"{what} must be an integer label map, got dtype {arr.dtype}")
        n = self.num_classes
        pred = pred.reshape(-1).astype(np.int64, copy=False)  # (H*W,)
        gt = gt.reshape(-1).astype(np.int64, copy=False)  # (H*W,)
        if self.pred_remap is not None:
            in_table = (pred >= 0) & (pred < len(self.pred_remap))
            pred = np.where(in_table, self.pred_remap[np.where(in_table, pred, 0)], pred)

        keep = gt != self.ignore_index
        kept = int(np.count_nonzero(keep))
        self.ignored += int(gt.size - kept)
        if kept < gt.size:
            pred, gt = pred[keep], gt[keep]
        if kept and (gt.min() < 0 or gt.max() >= n):
            stray = (gt < 0) | (gt >= n)
            self.stray_values.update(int(v) for v in np.unique(gt[stray])[:16])
            gt = np.where(stray, n, gt)
        if kept and (pred.min() < 0 or pred.max() >= n):
            pred = np.where((pred < 0) | (pred >= n), n, pred)
        index = pred * (n + 1)  # (P,) flat cell index: row = prediction ...
        index += gt  # ... column = GT
        self.matrix += np.bincount(index, minlength=(n + 1) ** 2).reshape(n + 1, n + 1)
        self.images += 1

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Adds another accumulator's counts into this one (same classes) and returns self."""
        if other.matrix.shape != self.matrix.shape:
            raise MetricError(
                f"cannot merge a {other.num_classes}-class matrix into a "
                f"{self.num_classes}-class one"
            )
        self.matrix += other.matrix
        self.ignored += other.ignored
        self.stray_values |= other.stray_values
        self.images += other.images
        return self

    def all_reduce(self) -> ConfusionMatrix:
        """Sums the counts over all processes when torch.distributed is initialised; else no-op."""
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self
        device = torch.device("cpu")
        if dist.get_backend() == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        flat = np.concatenate([self.matrix.reshape(-1), [self.ignored, self.images]])
        tensor = torch.from_numpy(flat).to(device)  # (M,) int64
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        flat = tensor.cpu().numpy()
        self.matrix = flat[:-2].reshape(self.matrix.shape).copy()
        self.ignored, self.images = int(flat[-2]), int(flat[-1])
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, sorted(self.stray_values))
        self.stray_values = {v for values in gathered for v in values}
        return self

    # ------------------------------------------------------------------ metrics
    def compute(self, protocol: str = "detectron2") -> dict[str, Any]:
        """Returns {"mIoU", "fwIoU", "mACC", "pACC"} in percent plus "per_class".

        `per_class` maps each class name to {"IoU": float | None, "ACC": float | None} in percent;
        None marks a value the protocol leaves undefined (NaN). Everything is JSON-safe.
        """
        if protocol == "detectron2":
            iou, acc, weights, pacc = self._detectron2()
        elif protocol == "mmseg":
            iou, acc, weights, pacc = self._mmseg()
        else:
            raise MetricError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
        valid_iou = ~np.isnan(iou)
        result = {
            "mIoU": _percent(_mean(iou)),
            "fwIoU": _percent(
                float(np.sum(iou[valid_iou] * weights[valid_iou])) if valid_iou.any() else math.nan
            ),
            "mACC": _percent(_mean(acc)),
            "pACC": _percent(pacc),
            "per_class": {
                name: {"IoU": _percent(float(iou[i])), "ACC": _percent(float(acc[i]))}
                for i, name in enumerate(_unique_names(self.class_names))
            },
        }
        return result

    def _detectron2(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        n = self.num_classes
        if self.matrix[:, n].any():
            values = ", ".join(str(v) for v in sorted(self.stray_values)[:8])
            raise MetricError(
                f"ground truth holds values outside 0..{n - 1} that are not the ignore value "
                f"{self.ignore_index} (e.g. {values}); detectron2 would mis-count them - "
                "pass the right --ignore value or fix the labels"
            )
        core = self.matrix[:n, :n].astype(np.float64)  # (N, N)
        tp = np.diagonal(core).copy()
        gt = core.sum(axis=0)
        pred = core.sum(axis=1)
        union = gt + pred - tp
        acc = np.full(n, np.nan)
        iou = np.full(n, np.nan)
        has_gt = gt > 0
        acc[has_gt] = tp[has_gt] / gt[has_gt]
        ok = has_gt & (union > 0)
        iou[ok] = tp[ok] / union[ok]
        total = gt.sum()
        weights = gt / total if total > 0 else np.zeros(n)
        pacc = float(tp.sum() / total) if total > 0 else math.nan
        return iou, acc, weights, pacc

    def _mmseg(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        n = self.num_classes
        m = self.matrix.astype(np.float64)
        intersect = np.diagonal(m)[:n].copy()
        area_pred = m[:n, :].sum(axis=1)  # includes predictions on stray GT
        area_label = m[:, :n].sum(axis=0)  # includes out-of-range predictions on valid GT
        union = area_pred + area_label - intersect
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = intersect / union  # NaN only where the class is in neither GT nor prediction
            acc = intersect / area_label  # NaN where the class has no GT
        total = area_label.sum()
        weights = area_label / total if total > 0 else np.zeros(n)
        pacc = float(intersect.sum() / total) if total > 0 else math.nan
        return iou, acc, weights, pacc


def background_remap(num_queries: int, background: int) -> np.ndarray:
    """Lookup table sending query indices >= `background` to `background` (VOC-20b rule)."""
    table = np.arange(num_queries, dtype=np.int64)
    table[background:] = background
    return table


def _unique_names(names: Sequence[str]) -> list[str]:
    """Class names usable as dict keys: a repeated name gets its index appended."""
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        out.append(name if name not in seen else f"{name} ({i})")
        seen.add(out[-1])
    return out


def _mean(values: np.ndarray) -> float:
    """nanmean without the all-NaN warning (returns NaN then)."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _percent(value: float) -> float | None:
    """Fraction -> percent; NaN -> None so the result is valid JSON."""
    return None if math.isnan(value) else 100.0 * value
