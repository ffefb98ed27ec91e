"""The model behind `dpseg app`: loaded once, then segments any photo with any class names.

DPSeg (a checkpoint file or run folder, prompted from its bank) or training-free VIP; both answer
`segment(image, classes, inference) -> SegmentationResult`. No torch at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from segmodel.result import SegmentationResult


@dataclass
class WarmModel:
    """A loaded model and how to call it."""

    segment: Callable[[Image.Image, list[str], int], SegmentationResult]  # (image, classes, I/II)
    description: str  # one line for the page, e.g. "DPSeg runs/demo/dual, bank runs/demo/bank"
    two_passes: bool  # whether inference II exists (DPSeg) or not (VIP)
    bank_classes: list[str]  # the prompt bank's classes (empty without a bank)


def load_warm_model(
    method: str,
    checkpoint: Path | None,
    bank: Path | None,
    vip: dict,
    device: str,
    encoder_weights: Path | None = None,
) -> WarmModel:
    """Load the model named on the command line once (errors are DpsegErrors, one line each)."""
    from segmodel.evaluation import _pick_device

    device = _pick_device(device)
    if method == "vip":
        return _vip(bank, vip, device)
    return _dpseg(checkpoint, bank, device, encoder_weights)


def _dpseg(checkpoint: Path, bank: Path | None, device: str, weights: Path | None) -> WarmModel:
    from promptbank.reader import open_bank
    from segmodel.checkpoint import load_model, model_file, prompt_bank_for
    from segmodel.segmenter import Segmenter

    checkpoint = model_file(checkpoint)
    bank = prompt_bank_for(checkpoint, bank)
    seg = Segmenter(load_model(checkpoint, device), open_bank(bank) if bank else None, device,
                    encoder_weights=weights)  # fmt: skip
    if seg.bank is None:
        _ = seg.encoder  # text prompts only: load the prompt encoder now, not on the first click

    def segment(image, classes: list[str], inference: int):
        return seg.segment(image, classes, inference=inference)

    where = f", bank {seg.bank.root}" if seg.bank is not None else ", text prompts"
    return WarmModel(
        segment,
        f"DPSeg {checkpoint}{where} on {device}",
        two_passes=True,
        bank_classes=list(seg.bank.classes) if seg.bank is not None else [],
    )


def _vip(bank: Path | None, vip: dict, device: str) -> WarmModel:
    from promptbank.reader import open_bank
    from segmodel.vip import VipSegmenter, VipSettings

    settings = VipSettings.preset(vip["preset"], **vip["overrides"])
    opened = open_bank(bank) if bank else None
    seg = VipSegmenter(vip["backbone"], vip["weights"], device=device, bank=opened,
                       settings=settings)  # fmt: skip

    def segment(image, classes: list[str], inference: int):
        return seg.segment(image, classes, return_probs=False)

    return WarmModel(
        segment,
        f"VIP (training-free) on {vip['backbone']} on {device}",
        two_passes=False,
        bank_classes=list(opened.classes) if opened is not None else [],
    )
