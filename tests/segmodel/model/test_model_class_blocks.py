"""Inference's class blocks: chunks freed once read, half-precision storage between stages.

Float32 blocks must give the logits of one whole chunk to 1e-5; float16 storage must give the same
argmax wherever the float32 decision is not a near tie (closer than float16's rounding can move it).
"""

import pytest
import torch
from model_helpers import random_images, random_prompts, tiny_model

from segmodel.model.class_blocks import ClassBlocks
from segmodel.model.decoder import class_spans

CLOSE = {"atol": 1e-5, "rtol": 1e-4}


def test_blocks_hold_writes_across_block_edges_and_gather_kept_classes():
    x = torch.randn(2, 7, 3, 4, 5)
    blocks = ClassBlocks(class_spans(7, 3), torch.float32)  # blocks 0-3, 3-6, 6-7
    blocks.write(slice(0, 2), x[:, :2])  # writes straddle the blocks
    blocks.write(slice(2, 7), x[:, 2:])
    assert torch.equal(blocks.map_cat(lambda b: b), x)
    keep = torch.tensor([1, 3, 4, 6])
    kept = blocks.gather(keep, class_spans(4, 2), torch.float32)
    assert torch.equal(kept.map_cat(lambda b: b), x[:, keep])
    assert torch.equal(blocks.take(1), x[:, 3:6])
    with pytest.raises(RuntimeError, match="block 1 was freed"):
        blocks.read(1)


def test_half_blocks_store_float16_and_read_back_float32():
    x = torch.randn(1, 5, 2, 3, 3)
    blocks = ClassBlocks.of(x, class_spans(5, 2), torch.float16)
    assert all(b.dtype == torch.float16 for b in blocks.blocks)
    back = blocks.map_cat(lambda b: b)
    assert back.dtype == torch.float32
    torch.testing.assert_close(back, x.half().float(), atol=0, rtol=0)


def test_a_stage_frees_each_input_block_as_it_decodes():
    model = tiny_model().eval()
    features = model.encode(random_images(1))
    prompts = random_prompts(5)
    with torch.no_grad():
        ready = model._prepare(prompts)
        _, x = model._embed(features.dense, ready, 2, (class_spans(5, 2), torch.float32))
        side = model._side_cost(0, features.s16, None, ready, None)
        out = model.stages[0].infer(x, features.s16, side, pool=1, out_spans=class_spans(5, 1))
    assert all(b is None for b in x.blocks)  # every input block freed
    assert len(out) == 5 and out.num_classes == 5


def test_chunked_rejection_equals_rejection_in_one_chunk():
    model = tiny_model(stage_storage="float32").eval()
    images, prompts = random_images(1), random_prompts(12)
    with torch.no_grad():
        whole = model(images, prompts, topk=2, chunk=0)
        chunked = model(images, prompts, topk=2, chunk=3)
    assert torch.equal(whole.kept, chunked.kept)
    torch.testing.assert_close(chunked.logits, whole.logits, **CLOSE)


def test_auto_storage_is_half_only_when_the_vocabulary_takes_several_chunks():
    models = {s: tiny_model(stage_storage=s).eval() for s in ("auto", "float32", "float16")}
    images, prompts = random_images(1), random_prompts(9)
    with torch.no_grad():
        out = {
            (s, c): m(images, prompts, chunk=c).logits for s, m in models.items() for c in (0, 4)
        }
    assert torch.equal(out["auto", 0], out["float32", 0])  # one chunk: float32
    assert torch.equal(out["auto", 4], out["float16", 4])  # several chunks: float16
    assert not torch.equal(out["float16", 4], out["float32", 4])  # half storage did round


@pytest.mark.parametrize("topk", [0, 3])
def test_half_storage_keeps_the_argmax(topk):
    images, prompts = random_images(2), random_prompts(20)
    with torch.no_grad():
        exact = tiny_model(stage_storage="float32").eval()(images, prompts, topk=topk, chunk=4)
        half = tiny_model(stage_storage="float16").eval()(images, prompts, topk=topk, chunk=4)
    if topk:
        assert torch.equal(exact.kept, half.kept)
    error = (half.logits - exact.logits).abs().max().item()
    assert error < 1e-2 * exact.logits.abs().max().item()
    top2 = exact.logits.topk(2, dim=1).values  # (B, 2, h, w)
    clear = (top2[:, 0] - top2[:, 1]) > 2 * error  # decisions float16 cannot flip
    assert clear.float().mean() > 0.75
    assert torch.equal(half.logits.argmax(1)[clear], exact.logits.argmax(1)[clear])
