"""VIP mode: training-free open-vocabulary segmentation (alias expansion and distillation,
visual-guided prompt evolution, saliency-aware aggregation, optional bank-seeded queries).

Importing this package loads neither torch nor open_clip; `VipSegmenter` and
`preset_vocabulary` load them on first use. See docs/vip.md.
"""

from segmodel.vip.settings import VipSettings

_LAZY = {
    "VipSegmenter": "segmodel.vip.segmenter",
    "preset_vocabulary": "segmodel.vip.segmenter",
    "SegmentationResult": "segmodel.result",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'segmodel.vip' has no attribute {name!r}")


__all__ = ["SegmentationResult", "VipSegmenter", "VipSettings", "preset_vocabulary"]
