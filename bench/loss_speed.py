"""The training loss against its plain formulation, side by side, and where a demo step's time goes.

    .venv/bin/python bench/loss_speed.py                 # the demo's shapes: B 8, C 9, 128 px
    .venv/bin/python bench/loss_speed.py --classes 171 --size 384 --batch 4

plain = what the paper's code writes: each output `F.interpolate`d to the label size, a one-hot
(B, C, H, W) target, `F.binary_cross_entropy_with_logits`. dpseg = `segmodel.loss.dpseg_loss`
(the upsampling as two matmuls, BCE as softplus(u) - u[label]). Both get the same random logits
(final head at stride 4, auxiliary heads at strides 32, 16, 8) and labels; forward + backward,
best of --repeats, one torch thread. The values and gradients are compared first.

--step: also one training step of the demo's dual model split into forward, loss, backward and
optimiser (the shapes world's random-init `tiny` encoder, frozen, text-only prompts), with each
loss, so the loss's share of a step is seen before and after.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from segmodel.loss import dpseg_loss
from segmodel.model.dpseg import DPSegOutput


def plain_loss(output: DPSegOutput, labels: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """The loss as written in SED's code: interpolate, one-hot target, BCE with logits."""
    num_classes = output.logits.shape[1]
    valid = labels != ignore_index  # (B, H, W)
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    targets = F.one_hot(safe, num_classes).permute(0, 3, 1, 2).float() * valid[:, None]
    total = output.logits.new_zeros(())
    for logits in [output.logits, *output.aux]:
        up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        total = total + F.binary_cross_entropy_with_logits(up, targets)
    return total


def timed(loss_fn, values: list[torch.Tensor], labels: torch.Tensor, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        for v in values:
            v.grad = None
        start = time.perf_counter()
        loss_fn(DPSegOutput(logits=values[0], aux=values[1:], kept=None), labels).backward()
        best = min(best, time.perf_counter() - start)
    return best


def compare_losses(batch: int, classes: int, size: int, repeats: int) -> None:
    torch.manual_seed(0)
    shapes = [size // 4, size // 32, size // 16, size // 8]  # final head, then aux heads
    values = [(torch.randn(batch, classes, s, s) * 3).requires_grad_() for s in shapes]
    labels = torch.randint(0, classes, (batch, size, size))
    labels[:, : size // 16] = 255  # an ignored band
    grads = []
    for fn in (plain_loss, dpseg_loss):
        for v in values:
            v.grad = None
        loss = fn(DPSegOutput(logits=values[0], aux=values[1:], kept=None), labels)
        loss.backward()
        grads.append((float(loss.detach()), [v.grad.clone() for v in values]))
    diff = max(float((a - b).abs().max()) for a, b in zip(grads[0][1], grads[1][1]))
    print(f"loss B {batch}, C {classes}, {size} px: values {grads[0][0]:.6f} / {grads[1][0]:.6f}, "
          f"largest gradient difference {diff:.1e}")  # fmt: skip
    plain = timed(plain_loss, values, labels, repeats)
    fast = timed(dpseg_loss, values, labels, repeats)
    print(f"  forward + backward: dpseg / plain = {fast / plain:.2f}x "
          f"({fast * 1e3:.1f} vs {plain * 1e3:.1f} ms)")  # fmt: skip


def split_step(repeats: int) -> None:
    """One demo-sized training step (dual model, tiny preset, batch 8, 128 px, 9 classes)."""
    from promptbank.encoder import load_encoder
    from segmodel import PromptSet, build_model
    from segmodel.config import preset_config

    torch.manual_seed(0)
    encoder = load_encoder("tiny", random_init=True)
    config = preset_config("tiny", num_templates=8, freeze_encoder=True)
    model = build_model(config, encoder=encoder).train()
    c, t, d = 9, 8, encoder.embed_dim
    d4, d8, d16 = encoder.stage_dims[:3]
    text = torch.nn.functional.normalize(torch.randn(c, t, d), dim=-1).numpy()
    stages = [torch.randn(c, t, k).numpy() for k in (d4, d8, d16)]
    prompts = PromptSet.from_arrays([f"c{i}" for i in range(c)], text, text, *stages,
                                    has_visual=[True] * c, encoder=encoder.identity())  # fmt: skip
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    images = torch.randn(8, 3, 128, 128)
    labels = torch.randint(0, c, (8, 128, 128))
    keys = ("forward", "loss", "backward", "optimiser")
    losses = {"plain": plain_loss, "dpseg": dpseg_loss}
    parts = {name: {k: [] for k in keys} for name in losses}
    for _ in range(repeats + 1):  # interleaved, so both see the same machine; first = warm-up
        for name, fn in losses.items():
            t0 = time.perf_counter()
            out = model(images, prompts)
            t1 = time.perf_counter()
            loss = fn(out, labels)
            t2 = time.perf_counter()
            loss.backward()
            t3 = time.perf_counter()
            optim.step()
            optim.zero_grad(set_to_none=True)
            t4 = time.perf_counter()
            for key, value in zip(keys, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[name][key].append(value)
    for name in losses:
        best = {k: min(v[1:]) * 1e3 for k, v in parts[name].items()}
        print(
            f"demo step with the {name} loss: {sum(best.values()):.0f} ms = "
            + ", ".join(f"{k} {v:.0f}" for k, v in best.items())
            + " (backward includes the loss's backward)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--classes", type=int, default=9)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--step", action="store_true", help="also split a demo training step")
    args = parser.parse_args()
    torch.set_num_threads(1)
    compare_losses(args.batch, args.classes, args.size, args.repeats)
    if args.step:
        split_step(args.repeats)


if __name__ == "__main__":
    main()
