"""Gradients, frozen parts, seeded reproducibility and the BCE loss."""

import pytest
import torch
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
