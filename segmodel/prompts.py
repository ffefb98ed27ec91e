"""PromptSet: the active vocabulary's prompts as torch tensors, read from a bank.

The model never stores prompts, so a new vocabulary is just a new PromptSet. Classes a bank lacks
can fall back to text only (their text embedding computed with the frozen encoder's text tower;
their visual prompts are then unused: the dual prompt becomes the text prompt, and their visual
cost volumes are zero).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from segmodel.errors import EncoderMismatchError, PromptError

if TYPE_CHECKING:
    from promptbank.encoder import ClipEncoder
    from promptbank.reader import Bank

STAGES = ("visual_s4", "visual_s8", "visual_s16")
FIELDS = ("text", "visual", *STAGES)


def canonical_identity(identity: dict | None) -> dict | None:
    """An encoder identity as plain JSON types (tuples -> lists), so saved and live ones compare."""
    return None if identity is None else json.loads(json.dumps(identity, sort_keys=True))


def describe_encoder(identity: dict | None) -> str:
    """One short human label for an encoder identity: name plus weights."""
    if not identity:
        return "unknown encoder"
    weights = identity.get("weights_sha256", "")[:12] or identity.get("weights") or "?"
    return f"{identity.get('name', '?')} ({weights})"


def check_encoder(model_identity: dict, prompt_identity: dict | None, what: str = "bank") -> None:
    """Raise EncoderMismatchError unless the prompts were made with the model's encoder."""
    if prompt_identity is None:
        return
    if canonical_identity(model_identity) != canonical_identity(prompt_identity):
        raise EncoderMismatchError(
            f"{what} was made with encoder {describe_encoder(prompt_identity)} but the model's "
            f"prompt encoder is {describe_encoder(model_identity)}; rebuild the {what} with "
            f"--encoder {model_identity.get('name')} or use a model trained with that encoder"
        )


@dataclass(frozen=True)
class PromptSet:
    """Prompt tensors for C active classes (T templates each), on one device."""

    classes: list[str]  # C class names, in label order
    text: torch.Tensor  # (C, T, D) text embeddings
    visual: torch.Tensor  # (C, T, D) pooled projected embeddings of the visual prompts
    visual_s4: torch.Tensor  # (C, T, D4) pooled trunk features of the visual prompts, stride 4
    visual_s8: torch.Tensor  # (C, T, D8) same, stride 8
    visual_s16: torch.Tensor  # (C, T, D16) same, stride 16
    has_visual: torch.Tensor  # (C,) bool: False = text-only fallback for this class
    encoder: dict | None = None  # identity of the encoder that made them (None = unchecked)

    def __post_init__(self) -> None:
        c, t, _ = self.text.shape
        for name in ("visual", *STAGES):
            shape = getattr(self, name).shape
            if shape[:2] != (c, t):
                raise PromptError(
                    f"prompt tensor {name} has shape {tuple(shape)}; expected "
                    f"({c}, {t}, ...) like text"
                )
        if len(self.classes) != c or self.has_visual.shape != (c,):
            raise PromptError(
                f"{len(self.classes)} class names and has_visual "
                f"{tuple(self.has_visual.shape)} for {c} prompt rows"
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_templates(self) -> int:
        return int(self.text.shape[1])

    @property
    def device(self) -> torch.device:
        return self.text.device

    def stage(self, stride: int) -> torch.Tensor:
        """visual_s{stride}: (C, T, D_stride)."""
        return getattr(self, f"visual_s{stride}")

    def to(self, device: str | torch.device) -> PromptSet:
        if self.text.device == torch.device(device):
            return self
        moved = {f: getattr(self, f).to(device) for f in (*FIELDS, "has_visual")}
        return replace(self, **moved)

    def select(self, index: list[int] | torch.Tensor) -> PromptSet:
        """The prompts of classes `index` (positions), in that order."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.device)
        picked = {f: getattr(self, f)[index] for f in (*FIELDS, "has_visual")}
        return replace(self, classes=[self.classes[i] for i in index.tolist()], **picked)

    def with_visual(
        self,
        index: list[int],
        visual: torch.Tensor | None,
        stages: dict[int, torch.Tensor],
        mix: float = 1.0,
    ) -> PromptSet:
        """A copy whose classes `index` get new visual prompts for every template.

        visual (n, D) pooled embeddings (None: keep the pooled prompts); stages {4: (n, D4),
        8: (n, D8), 16: (n, D16)} (a missing stride keeps its prompts). mix < 1 blends instead of
        replacing: (1 - mix) * unit(old) + mix * unit(new), template by template.
        """
        idx = torch.as_tensor(index, dtype=torch.long, device=self.device)
        out = {"visual": self.visual, "has_visual": self.has_visual.clone()}
        news = {"visual": visual, **{f"visual_s{s}": pooled for s, pooled in stages.items()}}
        for name, new in news.items():
            if new is None:
                continue
            out[name] = getattr(self, name).clone()  # (C, T, D_name)
            new = new.to(out[name])[:, None, :]  # (n, 1, D_name), broadcast over T
            if mix < 1.0:
                old = F.normalize(out[name][idx], dim=-1)
                new = (1.0 - mix) * old + mix * F.normalize(new, dim=-1)
            out[name][idx] = new
        out["has_visual"][idx] = True
        return replace(self, **out)

    @classmethod
    def from_arrays(
        cls,
        classes: list[str],
        text,
        visual,
        visual_s4,
        visual_s8,
        visual_s16,
        *,
        has_visual=None,
        encoder: dict | None = None,
        device: str | torch.device = "cpu",
    ) -> PromptSet:
        """From numpy arrays or tensors (float32 on `device`)."""

        def tensor(x) -> torch.Tensor:
            return torch.as_tensor(
                np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32
            ).to(device)

        if has_visual is None:
            has_visual = torch.ones(len(classes), dtype=torch.bool)
        return cls(
            list(classes),
            tensor(text),
            tensor(visual),
            tensor(visual_s4),
            tensor(visual_s8),
            tensor(visual_s16),
            torch.as_tensor(has_visual, dtype=torch.bool).to(device),
            encoder,
        )

    @classmethod
    def text_only(
        cls,
        encoder: ClipEncoder,
        classes: list[str],
        templates: int | list[str],
        device: str | torch.device = "cpu",
    ) -> PromptSet:
        """Text prompts for `classes` (the first `templates` ImageNet templates, or a list) and
        no visual prompts: `has_visual` is all False, visual features are zero."""
        from promptbank.vocab import load_templates

        text = text_prompts(encoder, list(classes), load_templates(templates))  # (C, T, D)
        c, t, _ = text.shape
        zeros = [torch.zeros(c, t, d) for d in encoder.stage_dims[:3]]  # (C, T, D_l)
        return cls.from_arrays(
            list(classes),
            text,
            text,
            *zeros,
            has_visual=[False] * c,
            encoder=encoder.identity(),
            device=device,
        )

    @classmethod
    def from_bank(
        cls,
        bank: Bank,
        classes: list[str],
        device: str | torch.device = "cpu",
        *,
        text_encoder: ClipEncoder | None = None,
    ) -> PromptSet:
        """Prompts of `classes` (label order) from `bank`.

        Classes missing from the bank raise `BankError` (with close matches), unless
        `text_encoder` (the bank's encoder) is given: then they fall back to text-only prompts
        made from the bank's templates.
        """
        missing = [c for c in classes if not bank.has(c)]
        if missing and text_encoder is None:
            bank.index(missing[0])  # raises BankError naming the class and close matches
        if text_encoder is not None:
            check_encoder(text_encoder.identity(), bank.encoder, what="bank")
        present = [c for c in classes if bank.has(c)]
        if present:
            selection = bank.select(present)
            arrays = {f: getattr(selection, f) for f in FIELDS}
        else:  # every class falls back to text: widths come from the encoder
            d4, d8, d16 = text_encoder.stage_dims[:3]
            widths = dict(zip(FIELDS, (text_encoder.embed_dim,) * 2 + (d4, d8, d16)))
            arrays = {
                f: np.zeros((0, len(bank.templates), w), np.float32) for f, w in widths.items()
            }
        rows = {c: i for i, c in enumerate(present)}
        out = {}
        for field, array in arrays.items():
            full = np.zeros((len(classes), *array.shape[1:]), dtype=np.float32)  # (C, T, D*)
            for i, c in enumerate(classes):
                if c in rows:
                    full[i] = array[rows[c]]
            out[field] = full
        if missing:
            fallback = text_prompts(text_encoder, missing, bank.templates)  # (m, T, D)
            for c, emb in zip(missing, fallback):
                out["text"][classes.index(c)] = emb.cpu().numpy()
        has_visual = [c in rows for c in classes]
        return cls.from_arrays(
            list(classes), **out, has_visual=has_visual, encoder=bank.encoder, device=device
        )


@torch.no_grad()
def text_prompts(encoder: ClipEncoder, classes: list[str], templates: list[str]) -> torch.Tensor:
    """(C, T, D) L2-normalised text prompts; comma-separated synonyms averaged per template (SED)."""
    from promptbank.vocab import fill

    out = []
    for name in classes:
        synonyms = [s.strip() for s in name.split(", ") if s.strip()] or [name]
        texts = [fill(t, s) for t in templates for s in synonyms]
        emb = torch.nn.functional.normalize(encoder.encode_text(texts), dim=-1)  # (T*S, D)
        emb = emb.view(len(templates), len(synonyms), -1).mean(1)  # (T, D)
        out.append(torch.nn.functional.normalize(emb, dim=-1))
    return torch.stack(out)
