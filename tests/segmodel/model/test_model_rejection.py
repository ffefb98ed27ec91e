"""Category early rejection and class chunking against the full path."""

import torch
from model_helpers import random_images, random_prompts, tiny_model

from segmodel.model.heads import top_k_union


def test_top_k_union():
    logits = torch.zeros(1, 4, 1, 2)
    logits[0, 2, 0, 0] = 5
    logits[0, 0, 0, 1] = 5
    assert top_k_union(logits, 1).tolist() == [0, 2]
    assert top_k_union(logits, 4).tolist() == [0, 1, 2, 3]


def test_rejection_with_k_equal_to_c_is_the_full_path():
    model = tiny_model().eval()
    images, prompts = random_images(2), random_prompts(7)
    with torch.no_grad():
        full = model(images, prompts, topk=0)
        same = model(images, prompts, topk=7)
    assert torch.equal(full.logits, same.logits)
    assert same.kept is None


def test_rejection_keeps_a_subset_and_fills_the_rest():
    model = tiny_model().eval()
    with torch.no_grad():
        out = model(random_images(1), random_prompts(12), topk=1)
    assert out.kept is not None and 0 < len(out.kept) < 12
    rejected = sorted(set(range(12)) - set(out.kept.tolist()))
    assert (out.logits[:, rejected] == model.config.reject_logit).all()
    assert (out.logits[:, out.kept] != model.config.reject_logit).any()


def test_chunked_decoding_equals_one_chunk():
    model = tiny_model(stage_storage="float32").eval()
    images, prompts = random_images(2), random_prompts(9)
    with torch.no_grad():
        whole = model(images, prompts, chunk=0).logits
        chunked = model(images, prompts, chunk=2).logits
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-4)


def test_chunking_is_exact_in_training_mode_with_pooling():
    model = tiny_model(visual_cost=("upsample", "visual", "off")).train()
    images, prompts = random_images(1), random_prompts(5)
    whole = model(images, prompts, chunk=0).logits
    chunked = model(images, prompts, chunk=3).logits
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-4)
