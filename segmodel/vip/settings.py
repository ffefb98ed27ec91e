"""Every VIP hyper-parameter, one frozen dataclass; per-dataset presets live in
`segmodel/data/vip_presets.json` (`VipSettings.preset(name, **overrides)`)."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, fields
from pathlib import Path

from segmodel.errors import ConfigError

PRESETS_FILE = Path(__file__).resolve().parent.parent / "data" / "vip_presets.json"


@dataclass(frozen=True)
class VipSettings:
    # backbone
    dense_mode: str = "auto"  # auto | fcclip (ConvNeXt) | clearclip (ViT) | proxy (both)
    proxy_beta: float = 1.5  # proxy attention: shift S - beta * mean(S) (VIP 1.5, ProxyCLIP 1.2)
    proxy_gamma: float = 0.5  # proxy attention: scale after the shift (VIP 0.5, ProxyCLIP 3.0)
    # text queries
    templates: str = "seg"  # template set in the presets file (seg, city, imagenet80, single)
    renormalize_templates: bool = False  # False = VIP: cosine averaged over templates
    use_aliases: bool = True  # False: only the first name of each class (single-name mode)
    bank_weight: float = 1.0  # bank-seeded: query = norm(norm(text) + w * norm(bank visual))
    # aggregation over aliases
    aggregation: str = "lse"  # lse (VIP soft aggregation) | max (SCLIP) | mean
    saliency: bool = True  # lse: weight aliases by pooled-image saliency (False = equal weights)
    tau: float = 4.0  # lse temperature: (1 / tau) * logsumexp(tau * weighted logits)
    tem: float = 1.0  # saliency temperature: softmax(cosine / tem) within a class
    logit_scale: float = 40.0  # cosine -> logit multiplier before softmax
    # dpseg's per-image prompt update q + alpha v ("evolution"; not in VIP's release, so off)
    evolve_steps: int = 0  # rounds of the update per crop (0 = off, VIP's released pipeline)
    evolve_alpha: float = 0.5  # weight of the visual prototype added to each alias query
    evolve_threshold: float = 0.5  # class probability a location needs to seed its prototype
    evolve_min_fraction: float = 0.01  # fraction of locations a class needs to evolve
    # protocol (MMSeg-style)
    short_side: int | None = 336  # resize the image so its short side is this (None = keep)
    max_long: int = 2048  # ... and its long side at most this
    crop: int = 336  # sliding-window side, in resized pixels
    stride: int = 112  # sliding-window step (<= crop)
    window_batch: int = 4  # windows encoded per forward pass
    background: bool = False  # the vocabulary has a background class (VOC21, COCO-Object, ...)
    bg_index: int = 0  # its label index
    prob_threshold: float = 0.0  # background sets only: max prob below this -> bg_index
    pamr_steps: int = 0  # PAMR refinement iterations (0 = off, the default)
    pamr_dilations: tuple[int, ...] = (8, 16)  # PAMR neighbourhood dilations

    def __post_init__(self):
        checks = [
            (self.aggregation in ("lse", "max", "mean"), "aggregation", "lse, max or mean"),
            (
                self.dense_mode in ("auto", "fcclip", "clearclip", "proxy"),
                "dense_mode",
                "auto, fcclip, clearclip or proxy",
            ),
            (self.tau > 0, "tau", "> 0"),
            (self.tem > 0, "tem", "> 0"),
            (self.logit_scale > 0, "logit_scale", "> 0"),
            (self.evolve_steps >= 0, "evolve_steps", ">= 0"),
            (0 <= self.evolve_threshold <= 1, "evolve_threshold", "in [0, 1]"),
            (0 <= self.evolve_min_fraction <= 1, "evolve_min_fraction", "in [0, 1]"),
            (self.crop > 0 and 0 < self.stride <= self.crop, "stride", "in (0, crop]"),
            (self.short_side is None or self.short_side > 0, "short_side", "> 0 or None"),
            (self.window_batch > 0, "window_batch", "> 0"),
            (0 <= self.prob_threshold < 1, "prob_threshold", "in [0, 1)"),
            (self.pamr_steps >= 0, "pamr_steps", ">= 0"),
            (self.bank_weight >= 0, "bank_weight", ">= 0"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ConfigError(
                    f"VIP setting {name}={getattr(self, name)!r}: expected {expected}"
                )

    def replace(self, **changes) -> VipSettings:
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ConfigError(f"unknown VIP settings {unknown}; known: {setting_names()}")
        if "pamr_dilations" in changes:
            changes["pamr_dilations"] = tuple(changes["pamr_dilations"])
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, name: str | None = None, **overrides) -> VipSettings:
        """Defaults, then the preset's values, then `overrides` (None values are ignored)."""
        base = cls()
        if name:
            base = base.replace(**dataset_preset(name)["settings"])
        return base.replace(**{k: v for k, v in overrides.items() if v is not None})


def setting_names() -> list[str]:
    return [f.name for f in fields(VipSettings)]


@functools.cache
def load_presets() -> dict:
    return json.loads(PRESETS_FILE.read_text(encoding="utf-8"))


def dataset_preset(name: str) -> dict:
    """The preset entry for a dataset: {"vocab": ..., "settings": {...}, "note": ...}."""
    datasets = load_presets()["datasets"]
    key = name.strip().lower().replace("_", "-")
    if key not in datasets:
        raise ConfigError(f"no VIP preset {name!r}; known presets: {', '.join(sorted(datasets))}")
    return datasets[key]


def template_set(name: str) -> list[str]:
    """A template set by name from the presets file, or a text file with one template a line."""
    sets = load_presets()["templates"]
    if name in sets:
        value = sets[name]
        if isinstance(value, str):  # a file shipped with promptbank
            from promptbank.vocab import DATA

            return [t for t in (DATA / value).read_text().splitlines() if t.strip()]
        return list(value)
    path = Path(name).expanduser()
    if path.is_file():
        lines = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        if lines and all("{}" in t for t in lines):
            return lines
    raise ConfigError(
        f"template set {name!r}: expected one of {', '.join(sets)} or a text file with one "
        "template per line, each containing {}"
    )
