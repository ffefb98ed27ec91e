"""Training DPSeg: TOML configs, the SED/DPSeg optimiser recipe, a resumable accelerate loop.

    from segmodel.training import load_config, train
    result = train(load_config("configs/shapes_tiny.toml", ["run.steps=50"]))

Names are imported lazily: reading a config does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "segmodel.training.config",
    "build_config": "segmodel.training.config",
    "load_config": "segmodel.training.config",
    "parse_override": "segmodel.training.config",
    "TrainResult": "segmodel.training.trainer",
    "train": "segmodel.training.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'segmodel.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
