"""VIP mode: training-free open-vocabulary segmentation (alias expansion and distillation,
visual-guided prompt evolution, saliency-aware aggregation, optional bank-seeded queries).

Importing this package loads torch but not open_clip; `VipSegmenter` does on first use.
"""

from segmodel.vip.settings import VipSettings


def __getattr__(name: str):
    if name == "VipSegmenter":
        from segmodel.vip.segmenter import VipSegmenter

        return VipSegmenter
    if name == "SegmentationResult":
        from segmodel.result import SegmentationResult

        return SegmentationResult
    raise AttributeError(f"module 'segmodel.vip' has no attribute {name!r}")


__all__ = ["SegmentationResult", "VipSegmenter", "VipSettings"]
