"""The decoder's fast paths against straightforward computations written out here.

Each speed-up of issue 15 (channels_last maps, split fuse conv, one-matmul visual costs, q-only
attention with given sums, chunked stage 0, per-image rejection) must give the logits of the plain
computation to 1e-5.
"""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from model_helpers import random_images, random_prompts, tiny_model

from segmodel.config import PRESETS
from segmodel.model.blocks import (
    ClassAttention,
    HDConvBlock,
    cat_channels,
    class_storage,
    per_class,
)
from segmodel.model.cost_volume import VisualCost, normalise, prompt_cost
from segmodel.model.decoder import DecoderStage, class_spans

CLOSE = {"atol": 1e-5, "rtol": 1e-4}


def nchw(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous()


def test_per_class_views_channels_last_storage():
    x = torch.randn(2, 3, 4, 5, 6)
    store = class_storage(2, 3, 4, 5, 6, like=x)
    store.copy_(x)
    flat = per_class(store)
    assert flat.is_contiguous(memory_format=torch.channels_last)
    assert flat.data_ptr() == store.data_ptr()  # a view, no copy
    torch.testing.assert_close(flat, rearrange(x, "b c d h w -> (b c) d h w"), atol=0, rtol=0)
    torch.testing.assert_close(per_class(x[:, 1:]), rearrange(x[:, 1:], "b c d h w -> (b c) d h w"))


def test_cat_channels_equals_torch_cat():
    parts = [torch.randn(3, c, 5, 4).contiguous(memory_format=torch.channels_last) for c in (2, 5)]
    out = cat_channels(parts)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, torch.cat(parts, dim=1))


def test_hd_conv_block_equals_plain_computation():
    torch.manual_seed(0)
    block = HDConvBlock(8, dilations=(1, 2, 4), kernel=3, depthwise=True, mlp_ratio=4,
                        layer_scale=0.5)  # fmt: skip
    x = torch.randn(6, 8, 9, 7)
    y = sum(F.conv2d(x, c.weight, c.bias, padding=c.padding, dilation=c.dilation, groups=8)
            for c in block.convs)  # fmt: skip
    y = block.mlp(block.norm(y.permute(0, 2, 3, 1).contiguous()))
    expected = x + (block.gamma * y).permute(0, 3, 1, 2)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected, **CLOSE)
        torch.testing.assert_close(block(x.contiguous(memory_format=torch.channels_last)),
                                   expected, **CLOSE)  # fmt: skip


def plain_attention(attn: ClassAttention, x: torch.Tensor, pool: int) -> torch.Tensor:
    """SED's linear attention across classes, written out on (B, L, C, ch) tokens."""
    b, c, d, h, w = x.shape
    flat = rearrange(x, "b c d h w -> (b c) d h w")
    if pool > 1:
        flat = F.avg_pool2d(flat, pool, ceil_mode=True)
    hp, wp = flat.shape[-2:]
    tokens = rearrange(flat, "(b c) d h w -> b (h w) c d", b=b)
    q, k, v = attn.qkv(attn.norm1(tokens)).chunk(3, dim=-1)
    q, k, v = (rearrange(t, "b l c (n e) -> b l c n e", n=attn.heads) for t in (q, k, v))
    q, k = F.elu(q) + 1, F.elu(k) + 1
    kv = torch.einsum("blcne,blcnf->blnef", k, v)
    num = torch.einsum("blcne,blnef->blcnf", q, kv)
    den = torch.einsum("blcne,blne->blcn", q, k.sum(dim=2))
    out = rearrange(num / (den[..., None] + 1e-6), "b l c n e -> b l c (n e)")
    t = tokens + attn.proj(out)
    t = t + attn.mlp(attn.norm2(t))
    delta = rearrange(t - tokens, "b (h w) c d -> (b c) d h w", h=hp, w=wp)
    if pool > 1:
        delta = F.interpolate(delta, size=(h, w), mode="bilinear", align_corners=True)
    return x + rearrange(delta, "(b c) d h w -> b c d h w", b=b)


@pytest.mark.parametrize("pool", [1, 2])
def test_class_attention_equals_plain_linear_attention_whole_and_chunked(pool):
    torch.manual_seed(0)
    attn = ClassAttention(8, heads=2, mlp_ratio=4)
    x = torch.randn(2, 5, 8, 6, 5)
    with torch.no_grad():
        expected = plain_attention(attn, x, pool)
        torch.testing.assert_close(attn(x, pool), expected, **CLOSE)
        sums = attn.summarize(x[:, :2], pool) + attn.summarize(x[:, 2:], pool)
        chunked = torch.cat([attn(x[:, :2], pool, sums), attn(x[:, 2:], pool, sums)], dim=1)
    torch.testing.assert_close(chunked, expected, **CLOSE)


def test_visual_cost_equals_einsum():
    torch.manual_seed(0)
    cost = VisualCost(prototypes=3, out_channels=4)
    image, protos = normalise(torch.randn(2, 6, 5, 7), dim=1), normalise(torch.randn(4, 3, 6))
    plain = torch.einsum("bdhw,cpd->bcphw", image, protos)
    expected = cost.proj(rearrange(plain, "b c p h w -> (b c) p h w"))
    with torch.no_grad():
        got = per_class(cost(image, protos))
    torch.testing.assert_close(got, expected, **CLOSE)


@pytest.mark.parametrize("with_side", [True, False])
def test_stage_fuse_with_guidance_once_equals_concat_conv(with_side):
    torch.manual_seed(0)
    cfg = PRESETS["tiny"]
    stage = DecoderStage(cfg, in_channels=16, out_channels=8, guide_in=12, guide_channels=4,
                         side_channels=4 if with_side else 0).eval()  # fmt: skip
    x, guide_map = torch.randn(2, 3, 16, 4, 4), torch.randn(2, 12, 8, 8)
    side = torch.randn(2, 3, 4, 8, 8) if with_side else None
    up = stage.up(rearrange(x, "b c d h w -> (b c) d h w"))
    guide = stage.guide(guide_map)[:, None].expand(-1, 3, -1, -1, -1)
    parts = [up, rearrange(guide, "b c d h w -> (b c) d h w")]
    if side is not None:
        parts.append(rearrange(side, "b c d h w -> (b c) d h w"))
    expected = stage.fuse(torch.cat(parts, dim=1))
    with torch.no_grad():
        got = stage._up_fuse(x, stage.guide_term(guide_map), side)
    torch.testing.assert_close(per_class(got), expected, **CLOSE)


def test_chunked_stage_zero_equals_whole_cost_embedding():
    model = tiny_model().eval()
    features = model.encode(random_images(2))
    prompts = random_prompts(7)
    with torch.no_grad():
        ready = model._prepare(prompts)
        expected = model.embed(prompt_cost(model.config, features.dense, ready.text, ready.visual))
        layout = (class_spans(7, 2), torch.float32)  # stage 0 reads chunks of 2
        cost, chunked = model._embed(features.dense, ready, 3, layout)  # embedded 3 at a time
        assert cost is None  # not kept unless a stage upsamples it
        assert [s.stop for s in chunked.spans] == [2, 4, 6, 7]
        torch.testing.assert_close(chunked.map_cat(lambda block: block), expected, **CLOSE)


def test_rejection_decodes_each_image_as_if_alone():
    model = tiny_model().eval()
    images, prompts = random_images(3), random_prompts(12)
    with torch.no_grad():
        batch = model(images, prompts, topk=1)
        alone = [model(images[i : i + 1], prompts, topk=1) for i in range(3)]
    torch.testing.assert_close(batch.logits, torch.cat([o.logits for o in alone]), **CLOSE)
    kept = [o.kept for o in alone]
    if any(k is None for k in kept):  # an image kept every class
        assert batch.kept is None
    else:
        assert torch.equal(batch.kept, torch.unique(torch.cat(kept)))


def test_pixel_bounded_chunks_equal_one_chunk():
    model = tiny_model(
        chunk_pixels=300, stage_storage="float32"
    ).eval()  # stage 3 (32 x 32 out) takes one class at a time
    images, prompts = random_images(1), random_prompts(5)
    with torch.no_grad():
        whole = model(images, prompts, chunk=0).logits
        bounded = model(images, prompts, chunk=4).logits
    torch.testing.assert_close(bounded, whole, **CLOSE)


@pytest.mark.slow
def test_compiled_decoder_gives_the_same_logits():
    model = tiny_model().eval()
    images, prompts = random_images(1), random_prompts(5)
    with torch.no_grad():
        plain = model(images, prompts).logits
        compiled = model.compile_decoder()(images, prompts).logits
    torch.testing.assert_close(compiled, plain, **CLOSE)


@pytest.mark.parametrize("dilation", [1, 2, 4])
@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("channels_last", [True, False])
def test_dilated_depthwise_gradients_equal_conv2d(dilation, kernel, channels_last):
    from segmodel.model.depthwise import dilated_depthwise

    torch.manual_seed(0)
    x = torch.randn(6, 8, 12, 10)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(8, 1, kernel, kernel), torch.randn(8)
    grad = torch.randn(6, 8, 12, 10)
    results = []
    for conv in (
        lambda a, w, b: F.conv2d(a, w, b, padding=dilation * (kernel // 2), dilation=dilation,
                                 groups=8),
        lambda a, w, b: dilated_depthwise(a, w, b, dilation),
    ):  # fmt: skip
        leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
        out = conv(*leaves)
        out.backward(grad)
        results.append((out.detach(), *(t.grad for t in leaves)))
    for fast, plain in zip(results[1], results[0]):
        torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-4)
