"""Training settings: frozen dataclasses, loaded from TOML with `--set section.key=value` overrides.

A TOML file has the sections [model], [prompts], [data], [optim], [run] and [eval], one per
dataclass below; every key is optional (the defaults are the tiny shapes-world run). The resolved config is
written back as TOML beside every checkpoint, so `dpseg train <that file>` repeats the run.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmodel.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def read_toml(text: str) -> dict[str, Any]:
    """Parses TOML text (tomllib, or tomli on Python 3.10)."""
    return tomllib.loads(text)


@dataclass(frozen=True)
class ModelSection:
    preset: str = "tiny"  # DPSeg preset: tiny | base | large
    encoder_weights: str = ""  # CLIP weights file for the encoder ("" = the catalogue's default)
    random_init: bool = False  # start the image encoder from random weights (no CLIP weights)
    overrides: dict[str, Any] = field(default_factory=dict)  # DPSegConfig fields to change


@dataclass(frozen=True)
class PromptSection:
    bank: str = ""  # prompt bank folder; "" = text-only prompts from the frozen encoder
    templates: int = 0  # text-only prompts: first N ImageNet templates (0 = model num_templates)
    classes: str = "all"  # prompted classes: "all" of the dataset, or "seen" (shapes world)


@dataclass(frozen=True)
class DataSection:
    dataset: str = "shapes"  # open_dataset name (coco-stuff171, folder, shapes, ...)
    root: str = ""  # datasets root ("" for the shapes world)
    split: str = "train"  # dataset split
    options: dict[str, Any] = field(default_factory=dict)  # extra dataset kwargs (shapes: size)
    resize_short: int = 128  # resize so the short side is this (0 = keep), SED 768
    max_size: int = 2666  # cap of the long side after the resize (detectron2 default)
    crop: int = 128  # square random-crop side (a multiple of 32), SED 768
    color_jitter: bool = True  # SSD colour jitter (brightness, contrast, saturation, hue)
    flip: bool = True  # random horizontal flip, p = 0.5
    workers: int = 2  # DataLoader worker processes (0 = load in the main process)


@dataclass(frozen=True)
class OptimSection:
    lr: float = 2e-4  # base learning rate (AdamW), SED 2e-4
    weight_decay: float = 1e-4  # on weights, SED 1e-4
    norm_weight_decay: float = 0.0  # on normalisation layers and embeddings (detectron2 0)
    bias_weight_decay: float = 1e-4  # on biases (SED/detectron2: same as weight_decay)
    encoder_lr_mult: float = 0.01  # image-encoder lr multiplier: 0.01 for CLIP, 1.0 random init
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas (torch defaults)
    eps: float = 1e-8  # AdamW eps (torch default)
    clip_grad_norm: float = 0.01  # global L2 gradient-norm clip (0 = off), SED 0.01
    warmup_steps: int = 0  # linear warm-up steps before the cosine (SED 0)
    final_lr_fraction: float = 0.0  # cosine ends at lr * this (SED 0)
    aux_weight: float = 1.0  # weight of each auxiliary-head loss (SED 1)
    mask_ignored: bool = False  # drop ignored pixels from the loss (SED keeps them as negatives)


@dataclass(frozen=True)
class RunSection:
    out: str = "runs/shapes_tiny"  # output folder: checkpoints, logs, resolved config
    steps: int = 300  # optimiser steps in total
    batch_size: int = 8  # total batch over all processes (SED 4)
    seed: int = 0  # seeds data order, augmentation and model init
    checkpoint_every: int = 100  # save a checkpoint every N steps (and always at the end)
    keep_checkpoints: int = 2  # how many step checkpoints to keep (0 = all)
    log_every: int = 10  # JSONL log / progress refresh every N steps
    precision: str = "no"  # no | bf16 | fp16 (accelerate mixed precision)
    device: str = "auto"  # auto | cpu | cuda (accelerate picks the process's device)
    tensorboard: bool = True  # also log to TensorBoard when it is installed


@dataclass(frozen=True)
class EvalSection:
    every: int = 0  # evaluate every N steps and at the end (0 = never); needs prompts.bank
    dataset: str = ""  # open_dataset name ("" = data.dataset)
    root: str = ""  # its root ("" = data.root)
    split: str = "val"  # its split
    options: dict[str, Any] = field(default_factory=dict)  # dataset kwargs (empty = data.options)
    limit: int = 0  # images per evaluation (0 = all)
    inference: int = 1  # DPSeg inference mode, 1 or 2
    protocol: str = "detectron2"  # detectron2 | mmseg


SECTIONS = {
    "model": ModelSection,
    "prompts": PromptSection,
    "data": DataSection,
    "optim": OptimSection,
    "run": RunSection,
    "eval": EvalSection,
}


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    prompts: PromptSection = field(default_factory=PromptSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)
    eval: EvalSection = field(default_factory=EvalSection)

    def __post_init__(self) -> None:
        def bad(key: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(f"training setting {key}={value!r} is invalid: expected {expected}")

        if self.data.crop <= 0 or self.data.crop % 32:
            raise bad("data.crop", self.data.crop, "a positive multiple of 32")
        if self.run.steps < 1:
            raise bad("run.steps", self.run.steps, "at least 1")
        if self.run.batch_size < 1:
            raise bad("run.batch_size", self.run.batch_size, "at least 1")
        if self.run.precision not in ("no", "bf16", "fp16"):
            raise bad("run.precision", self.run.precision, "no | bf16 | fp16")
        if self.prompts.classes not in ("all", "seen"):
            raise bad("prompts.classes", self.prompts.classes, "all | seen")
        if self.eval.every and not self.prompts.bank:
            raise bad("eval.every", self.eval.every, "0 unless prompts.bank is set (evaluation "
                      "segments with the bank's prompts)")  # fmt: skip
        if self.eval.inference not in (1, 2):
            raise bad("eval.inference", self.eval.inference, "1 or 2")
        if self.run.checkpoint_every < 1 or self.run.log_every < 1:
            raise bad("run.checkpoint_every/log_every", self.run.checkpoint_every, "at least 1")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def to_toml(self) -> str:
        """The resolved config as TOML (loadable by `load_config`)."""
        lines = ["# resolved dpseg training config (written by dpseg train)"]
        for name, values in self.to_dict().items():
            lines.append(f"\n[{name}]")
            tables = {}
            for key, value in values.items():
                if isinstance(value, dict):
                    tables[key] = value
                else:
                    lines.append(f"{key} = {_toml_value(value)}")
            for key, table in tables.items():
                lines.append(f"\n[{name}.{key}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


def parse_override(text: str) -> tuple[str, str, Any]:
    """'section.key=value' -> (section, key, value); the value is read as TOML, else a string."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. optim.lr=1e-4")
    path, raw = text.split("=", 1)
    parts = path.strip().split(".")
    if len(parts) < 2 or parts[0] not in SECTIONS:
        raise ConfigError(
            f"--set {text!r}: the key must start with a section ({', '.join(SECTIONS)}), "
            "e.g. run.steps=100"
        )
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words: paths, names
    return parts[0], ".".join(parts[1:]), value


def build_config(data: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """A TrainConfig from nested dicts (TOML-shaped) plus `section.key=value` overrides."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown config sections {unknown}; known: {', '.join(SECTIONS)}")
    for text in overrides:
        section, key, value = parse_override(text)
        table = data.setdefault(section, {})
        head, _, rest = key.partition(".")
        if rest:  # a key of a table field, e.g. model.overrides.topk
            table.setdefault(head, {})
            table[head] = {**table[head], rest: value}
        else:
            table[key] = value
    sections = {}
    for name, cls in SECTIONS.items():
        values = data.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"config section [{name}] must be a table of settings")
        known = {f.name: f for f in dataclasses.fields(cls)}
        bad = sorted(set(values) - set(known))
        if bad:
            raise ConfigError(f"unknown settings {bad} in [{name}]; known: {sorted(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        for key, value in values.items():
            _check_type(name, key, value, known[key].type)
        sections[name] = cls(**values)
    return TrainConfig(**sections)


_EXAMPLES = {"int": "an integer, e.g. 100", "float": "a number, e.g. 1e-4",
             "bool": "true or false", "str": 'a string, e.g. "runs/x"'}  # fmt: skip


def _check_type(section: str, key: str, value: Any, annotation: str) -> None:
    """ConfigError when `value` does not have the field's type (annotations are strings here)."""
    kind = str(annotation).split("[", 1)[0]
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "dict": isinstance(value, dict),
        "tuple": isinstance(value, tuple)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value),
    }.get(kind, True)
    if not ok:
        expected = _EXAMPLES.get(kind, f"a {kind}")
        raise ConfigError(
            f"training setting {section}.{key}={value!r} is invalid: expected {expected} "
            f"(fix the config file or the --set value)"
        )


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Reads a TOML training config (a path, or a name of a config shipped in configs/)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"training config {path} does not exist; see configs/*.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"training config {path} is not valid TOML: {err}") from None
    return build_config(data, overrides)
