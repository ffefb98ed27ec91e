"""Alias maps and their merge into class maps.

A vocabulary of C classes has A >= C names ("aliases"); `alias_class` (A,) maps each alias to its
class. Every alias gets a logit map; the maps of one class are merged into one class map:

- `lse` (VIP): saliency-aware soft aggregation. Saliency of alias k = cosine of the image's pooled
  feature with the alias query, divided by `tem`; weights w = softmax of saliency within the class
  (they sum to 1 per class); each alias map is multiplied by w_k * |K_c| (mean factor 1, so a
  single-alias class is unchanged) and the class map is the temperature-controlled log-sum-exp
  (1 / tau) * log sum_k exp(tau * w_k |K_c| * logit_k), a smooth maximum.
- `max` (SCLIP): the per-pixel maximum over the class's aliases (no saliency).
- `mean`: the plain average (a baseline).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RULES = ("lse", "max", "mean")


def alias_logits(dense: torch.Tensor, queries: torch.Tensor, scale: float) -> torch.Tensor:
    """Cosine of every location with every alias, times `scale`.

    dense: (B, D, h, w) image embeddings (any norm); queries: (A, D) or (B, A, D) unit queries
    (per-image queries after prompt evolution). Returns (B, A, h, w).
    """
    unit = F.normalize(dense, dim=1)
    if queries.dim() == 2:
        return scale * torch.einsum("bdhw,ad->bahw", unit, queries)
    return scale * torch.einsum("bdhw,bad->bahw", unit, queries)


def saliency(pooled: torch.Tensor, queries: torch.Tensor, tem: float) -> torch.Tensor:
    """Cosine of the image's pooled feature (B, D) with each alias query (A, D), / tem -> (B, A)."""
    return F.normalize(pooled, dim=-1) @ F.normalize(queries, dim=-1).T / tem


def class_reduce(
    values: torch.Tensor, alias_class: torch.Tensor, num_classes: int, how: str
) -> torch.Tensor:
    """Reduce (B, A, ...) over the aliases of each class -> (B, C, ...) with `amax` or `sum`."""
    shape = (values.shape[0], num_classes, *values.shape[2:])
    if how == "sum":
        return values.new_zeros(shape).index_add_(1, alias_class, values)
    index = alias_class.view(1, -1, *([1] * (values.dim() - 2))).expand_as(values)
    start = values.new_full(shape, float("-inf"))
    return start.scatter_reduce_(1, index, values, "amax", include_self=True)


def alias_weights(sal: torch.Tensor, alias_class: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Softmax of saliency (B, A) within each class -> (B, A) weights summing to 1 per class."""
    top = class_reduce(sal, alias_class, num_classes, "amax")  # (B, C)
    e = (sal - top[:, alias_class]).exp()  # (B, A), <= 1
    return e / class_reduce(e, alias_class, num_classes, "sum")[:, alias_class]


def aggregate(
    logits: torch.Tensor,
    alias_class: torch.Tensor,
    num_classes: int,
    *,
    rule: str = "lse",
    sal: torch.Tensor | None = None,
    tau: float = 4.0,
) -> torch.Tensor:
    """Merge alias maps (B, A, h, w) into class maps (B, C, h, w) by `rule` (module docstring).

    sal: (B, A) saliency already divided by tem; None means equal weights. tau: LSE temperature.
    """
    if rule not in RULES:
        raise ValueError(f"unknown aggregation rule {rule!r}; expected one of {RULES}")
    counts = torch.bincount(alias_class, minlength=num_classes).to(logits.dtype)  # (C,)
    if rule == "max":
        return class_reduce(logits, alias_class, num_classes, "amax")
    if rule == "mean":
        return class_reduce(logits, alias_class, num_classes, "sum") / counts.view(1, -1, 1, 1)
    if sal is None:
        factor = logits.new_ones(logits.shape[:2])  # (B, A)
    else:
        factor = alias_weights(sal, alias_class, num_classes) * counts[alias_class]  # (B, A)
    z = tau * factor[:, :, None, None] * logits  # (B, A, h, w)
    top = class_reduce(z, alias_class, num_classes, "amax")  # (B, C, h, w)
    summed = class_reduce((z - top[:, alias_class]).exp(), alias_class, num_classes, "sum")
    return (top + summed.log()) / tau
