"""Optimiser and schedule of the SED/DPSeg recipe.

AdamW with four parameter groups: {image encoder, rest} x {decayed, not decayed}. Weight decay is
`weight_decay` on weights, `bias_weight_decay` on biases (SED: the same 1e-4), and
`norm_weight_decay` on torch normalisation layers and embeddings (detectron2: 0). Image-encoder
groups run at lr x `encoder_lr_mult` (SED's CLIP multiplier 0.01). The schedule is a cosine from
the base lr to `final_lr_fraction` x lr over the run, after an optional linear warm-up (SED: none).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from segmodel.training.config import OptimSection

NORM_TYPES = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.Embedding,
)


def _decay_of(module: nn.Module, name: str, settings: OptimSection) -> float:
    if isinstance(module, NORM_TYPES):
        return settings.norm_weight_decay
    if name == "bias":
        return settings.bias_weight_decay
    return settings.weight_decay


def param_groups(model: nn.Module, settings: OptimSection) -> list[dict]:
    """AdamW groups (params, lr, weight_decay, name) for `model`'s trainable parameters.

    Parameters of `model.image_encoder` (when present) get lr x `encoder_lr_mult`.
    """
    encoder = getattr(model, "image_encoder", None)
    encoder_ids = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            key = (id(param) in encoder_ids, _decay_of(module, name, settings))
            groups.setdefault(key, []).append(param)
    out = []
    for (is_encoder, decay), params in sorted(groups.items()):
        mult = settings.encoder_lr_mult if is_encoder else 1.0
        out.append({
            "params": params,
            "lr": settings.lr * mult,
            "weight_decay": decay,
            "name": f"{'encoder' if is_encoder else 'decoder'}/wd={decay:g}",
        })  # fmt: skip
    return out


def build_optimizer(model: nn.Module, settings: OptimSection) -> torch.optim.AdamW:
    groups = param_groups(model, settings)
    # torch's fused AdamW kernel (CPU and CUDA): one pass over all parameters, about 7x faster
    # than the per-tensor loop on the tiny model's 121 tensors; the same update rule
    return torch.optim.AdamW(
        groups, lr=settings.lr, betas=tuple(settings.betas), eps=settings.eps, fused=True
    )


def lr_factor(step: int, total: int, warmup: int = 0, final: float = 0.0) -> float:
    """Multiplier of the base lr at `step` (0-based) of `total`: warm-up, then cosine to `final`."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, settings: OptimSection, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            step, total_steps, settings.warmup_steps, settings.final_lr_fraction
        ),
    )
