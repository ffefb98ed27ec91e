"""Training DPSeg: TOML configs, the SED/DPSeg optimiser recipe, a resumable accelerate loop.

    from segmodel.training import load_config, train
    result = train(load_config("configs/shapes_tiny.toml", ["run.steps=50"]))

`train` and `TrainResult` are imported on first use: reading a config does not import torch.
"""

from __future__ import annotations

from segmodel.training.config import TrainConfig, build_config, load_config, parse_override

__all__ = ["TrainConfig", "TrainResult", "build_config", "load_config", "parse_override", "train"]


def __getattr__(name: str):
    if name in ("train", "TrainResult"):
        from segmodel.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'segmodel.training' has no attribute {name!r}")
