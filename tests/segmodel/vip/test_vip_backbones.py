import pytest
import torch

from promptbank.errors import UnknownModelError, WeightsNotFoundError
from segmodel.vip.backbones import DenseBackbone, load_backbone, propagate, proxy_affinity


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny")


@pytest.fixture(scope="module")
def tiny_vit():
    return load_backbone("tiny-vit")


@pytest.mark.parametrize("size", [(64, 64), (96, 160), (128, 32)])
def test_convnext_dense_grid_follows_input(tiny, size):
    feats = tiny.encode_dense(torch.randn(2, 3, *size))
    grid = (size[0] // 32, size[1] // 32)
    assert isinstance(tiny, DenseBackbone)
    assert feats.dense.shape == (2, tiny.embed_dim, *grid)
    assert feats.pooled.shape == (2, tiny.embed_dim)
    assert feats.proxy.shape[-2:] == grid
    assert torch.isfinite(feats.dense).all()


@pytest.mark.parametrize("mode", ["proxy", "clearclip"])
@pytest.mark.parametrize("size", [(64, 64), (48, 112)])
def test_vit_dense_grid_follows_input(size, mode):
    vit = load_backbone("tiny-vit", mode=mode)
    feats = vit.encode_dense(torch.randn(2, 3, *size))
    grid = (size[0] // vit.stride, size[1] // vit.stride)
    assert feats.dense.shape == (2, vit.embed_dim, *grid)
    assert feats.pooled.shape == (2, vit.embed_dim)
    assert torch.isfinite(feats.dense).all()


def test_vit_position_embedding_native_and_resized(tiny_vit):
    native = tiny_vit.clip.visual.grid_size
    assert tiny_vit._position(*native) is tiny_vit.clip.visual.positional_embedding
    assert tiny_vit._position(3, 5).shape == (
        1 + 15,
        tiny_vit.clip.visual.positional_embedding.shape[1],
    )


def test_modes_differ_and_are_deterministic():
    x = torch.randn(1, 3, 64, 64)
    proxy = load_backbone("tiny-vit", mode="proxy").encode_dense(x).dense
    clear = load_backbone("tiny-vit", mode="clearclip").encode_dense(x).dense
    again = load_backbone("tiny-vit", mode="proxy").encode_dense(x).dense
    assert torch.equal(proxy, again)
    assert not torch.allclose(proxy, clear)


def test_proxy_attention_keeps_shapes_and_rows():
    feats = torch.randn(2, 16, 5, 7)
    aff = proxy_affinity(feats, beta=1.5, gamma=0.5)
    assert aff.shape == (2, 35, 35)
    assert torch.allclose(aff.sum(dim=-1), torch.ones(2, 35), atol=1e-5)
    flat = proxy_affinity(torch.ones(1, 4, 3, 3), beta=1.5, gamma=0.5)  # all rows <= 0: self kept
    assert torch.isfinite(flat).all() and torch.allclose(flat, torch.eye(9)[None])
    maps = torch.randn(2, 3, 5, 7)
    assert propagate(maps, aff).shape == maps.shape


def test_text_embeddings(tiny, tiny_vit):
    for bb in (tiny, tiny_vit):
        assert bb.encode_text(["a photo of a cat.", "grass"]).shape == (2, bb.embed_dim)


def test_wrong_mode_and_missing_dinotxt():
    with pytest.raises(UnknownModelError, match="needs a ViT"):
        load_backbone("tiny", mode="clearclip")
    with pytest.raises(UnknownModelError, match="needs a ConvNeXt"):
        load_backbone("tiny-vit", mode="fcclip")
    with pytest.raises(UnknownModelError, match="unknown dense mode"):
        load_backbone("tiny", mode="nope")
    with pytest.raises(WeightsNotFoundError, match="dino.txt weights not found"):
        load_backbone("dinotxt", weights="/nonexistent/dinotxt.pth")


@pytest.mark.slow
@pytest.mark.parametrize("name,stride", [("ViT-B-16", 16), ("convnext_base_w_320", 32)])
def test_real_architectures_random_weights(name, stride):
    from segmodel.vip import VipSegmenter

    bb = load_backbone(name, random_init=True)
    feats = bb.encode_dense(torch.randn(1, 3, 336, 448))
    assert feats.dense.shape == (1, bb.embed_dim, 336 // stride, 448 // stride)
    assert torch.isfinite(feats.dense).all()
    seg = VipSegmenter(bb, device="cpu", templates="single", short_side=336)
    image = (torch.rand(300, 420, 3) * 255).byte().numpy()
    result = seg.segment(image, ["sky", "grass, lawn", "person, people, man, woman"])
    assert result.labels.shape == (300, 420) and result.labels.max() < 3
