"""Training DPSeg: TOML configs, the SED/DPSeg optimiser recipe, a resumable accelerate loop.

from segmodel.training import load_config, train
result = train(load_config("configs/shapes_tiny.toml", ["run.steps=50"]))
"""

from segmodel.training.config import TrainConfig, build_config, load_config, parse_override
from segmodel.training.trainer import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "build_config", "load_config", "parse_override", "train"]
