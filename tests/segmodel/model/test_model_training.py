"""Gradients, frozen parts, seeded reproducibility and the BCE loss."""

import pytest
import torch
import torch.nn.functional as F
from model_helpers import random_images, random_prompts, tiny_encoder, tiny_model

from segmodel import dpseg_loss
from segmodel.errors import InputError


def labels_for(batch=2, classes=5, size=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (batch, size, size), generator=g)
    labels[:, :8] = 255  # an ignored band
    return labels


def test_gradients_reach_every_trainable_parameter_and_no_frozen_one():
    model = tiny_model().train()
    prompts = random_prompts(5)
    loss = dpseg_loss(model(random_images(2), prompts), labels_for())
    loss.backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert missing == []
    frozen = tiny_encoder()  # the prompt encoder the model was copied from stays untouched
    assert all(p.grad is None and not p.requires_grad for p in frozen.parameters())


def test_frozen_image_encoder_gets_no_gradient():
    model = tiny_model(freeze_encoder=True).train()
    dpseg_loss(model(random_images(1), random_prompts(3)), labels_for(1, 3)).backward()
    assert model.encoder_parameters() == []
    assert all(p.grad is None for p in model.image_encoder.parameters())
    assert all(p.grad is not None for p in model.decoder_parameters())


def test_aux_heads_do_not_train_the_decoder():
    model = tiny_model().train()
    out = model(random_images(1), random_prompts(3))
    sum(a.sum() for a in out.aux).backward()
    assert model.embed.conv.weight.grad is None
    assert model.stages[0].fuse[0].weight.grad is None
    assert model.aux_heads[1].conv.weight.grad is not None


def test_seeded_runs_are_reproducible():
    def run():
        model = tiny_model(seed=3).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for _ in range(2):
            loss = dpseg_loss(model(random_images(1), random_prompts(4)), labels_for(1, 4))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item(), model.head.conv.weight.detach().clone()

    (la, wa), (lb, wb) = run(), run()
    assert la == lb and torch.equal(wa, wb)


def test_loss_ignores_nothing_but_positives_by_default():
    model = tiny_model().eval()
    with torch.no_grad():
        out = model(random_images(1), random_prompts(3))
        labels = torch.full((1, 128, 128), 255)
        all_ignored = dpseg_loss(out, labels)
        masked = dpseg_loss(out, labels, mask_ignored=True)
    assert all_ignored > 0  # SED: ignored pixels count as "every class negative"
    assert masked == 0


def test_loss_refuses_labels_out_of_range():
    model = tiny_model().eval()
    with torch.no_grad():
        out = model(random_images(1), random_prompts(3))
    with pytest.raises(InputError, match="expected 0..2"):
        dpseg_loss(out, torch.full((1, 64, 64), 7))


def _reference_loss(output, labels, ignore_index=255, mask_ignored=False):
    """The loss as the paper's code writes it: interpolate, one-hot target, BCE with logits."""
    num_classes = output.logits.shape[1]
    valid = labels != ignore_index
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    targets = F.one_hot(safe, num_classes).permute(0, 3, 1, 2).float() * valid[:, None]
    weight = (labels != ignore_index)[:, None].float()
    total = torch.zeros(())
    for logits in [output.logits, *output.aux]:
        up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        per = F.binary_cross_entropy_with_logits(up, targets, reduction="none")
        total = total + ((per * weight).sum() / (weight.sum() * num_classes) if mask_ignored
                         else per.mean())  # fmt: skip
    return total


@pytest.mark.parametrize("mask_ignored", [False, True])
@pytest.mark.parametrize("label_size", [(128, 128), (96, 160), (37, 50)])
def test_loss_and_gradients_equal_interpolate_and_bce(mask_ignored, label_size):
    from segmodel.model.dpseg import DPSegOutput

    torch.manual_seed(0)
    shapes = [(2, 5, 32, 32), (2, 5, 4, 4), (2, 5, 8, 8), (2, 5, 16, 16)]
    values = [(torch.randn(s) * 4).requires_grad_() for s in shapes]
    labels = torch.randint(0, 5, (2, *label_size))
    labels[:, :7] = 255
    grads = []
    for loss_fn in (_reference_loss, dpseg_loss):
        for v in values:
            v.grad = None
        out = DPSegOutput(logits=values[0], aux=values[1:], kept=None)
        loss = loss_fn(out, labels, 255, mask_ignored=mask_ignored)
        loss.backward()
        grads.append((loss.detach(), [v.grad.clone() for v in values]))
    (ref, ref_grads), (fast, fast_grads) = grads
    torch.testing.assert_close(fast, ref, rtol=1e-6, atol=1e-6)
    for a, b in zip(fast_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)


def test_loss_is_float32_under_autocast():
    from segmodel.model.dpseg import DPSegOutput

    torch.manual_seed(0)
    logits = torch.randn(1, 3, 8, 8, requires_grad=True)
    labels = torch.randint(0, 3, (1, 32, 32))
    plain = dpseg_loss(DPSegOutput(logits=logits, aux=[]), labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = dpseg_loss(DPSegOutput(logits=logits, aux=[]), labels)
    mixed.backward()
    assert mixed.dtype == torch.float32 and logits.grad.dtype == torch.float32
    torch.testing.assert_close(mixed, plain)
