"""segmodel: the DPSeg model, training, inference I and II, VIP mode and evaluation.

Reads prompt banks only through `promptbank.reader`; never imports the image generator. The public
names below are imported lazily, so `import segmodel` stays cheap (no torch until first use):

    from segmodel import build_model, Segmenter, PromptSet, dpseg_loss, save_model, load_model
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DPSegConfig": "segmodel.config",
    "PRESETS": "segmodel.config",
    "build_model": "segmodel.config",
    "DPSeg": "segmodel.model.dpseg",
    "DPSegOutput": "segmodel.model.dpseg",
    "ImageFeatures": "segmodel.model.image_encoder",
    "RefineSettings": "segmodel.model.refine",
    "PromptSet": "segmodel.prompts",
    "dpseg_loss": "segmodel.loss",
    "save_model": "segmodel.checkpoint",
    "load_model": "segmodel.checkpoint",
    "Segmenter": "segmodel.segmenter",
    "SegmentationResult": "segmodel.result",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'segmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
