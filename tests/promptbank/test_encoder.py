"""The encoder zoo on the tiny ConvNeXt CLIP: features, determinism, the real loaders, errors."""

import pytest
import torch

from promptbank.encoder import load_encoder, save_encoder
from promptbank.errors import UnknownModelError, WeightsNotFoundError


def test_tiny_features_have_the_documented_shapes(tiny_encoder):
    x = torch.randn(2, 3, 128, 96)
    out = tiny_encoder.encode_image(x)
    d = tiny_encoder.embed_dim
    c4, c8, c16, _ = tiny_encoder.stage_dims
    assert out.pooled.shape == (2, d)
    assert out.dense.shape == (2, d, 4, 3)
    assert out.s4.shape == (2, c4, 32, 24)
    assert out.s8.shape == (2, c8, 16, 12)
    assert out.s16.shape == (2, c16, 8, 6)
    assert torch.isfinite(out.dense).all()


def test_pooled_embedding_equals_open_clip_encode_image(tiny_encoder):
    x = torch.randn(2, 3, 128, 128)
    ours = tiny_encoder.encode_image(x).pooled
    theirs = tiny_encoder.clip.encode_image(x)
    torch.testing.assert_close(ours, theirs)


def test_dense_map_mean_tracks_pooled_embedding(tiny_encoder):
    # The projection is linear, so the per-location map averages to nearly the pooled embedding.
    x = torch.randn(1, 3, 128, 128)
    out = tiny_encoder.encode_image(x)
    cos = torch.nn.functional.cosine_similarity(out.dense.mean((2, 3)), out.pooled)
    assert cos.item() > 0.9


def test_text_embeddings_differ_per_prompt(tiny_encoder):
    emb = tiny_encoder.encode_text(["a photo of a red circle.", "a photo of sky."])
    assert emb.shape == (2, tiny_encoder.embed_dim)
    assert not torch.allclose(emb[0], emb[1])


def test_tiny_is_the_same_model_every_time():
    a, b = load_encoder("tiny"), load_encoder("tiny")
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    assert a.identity() == b.identity()


def test_preprocess_accepts_pil_and_arrays(tiny_encoder):
    import numpy as np
    from PIL import Image

    array = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype("uint8")
    batch = tiny_encoder.preprocess([Image.fromarray(array), array], size=64)
    assert batch.shape == (2, 3, 64, 64)
    torch.testing.assert_close(batch[0], batch[1])


def test_saved_weights_load_back_through_the_user_loader(tmp_path, tiny_encoder):
    path = save_encoder(tiny_encoder, tmp_path / "enc", arch="dpseg-tiny-convnext")
    by_file = load_encoder("tiny", weights=path)
    by_folder = load_encoder(f"local-dir:{tmp_path / 'enc'}")
    x = torch.randn(1, 3, 64, 64)
    ref = tiny_encoder.encode_image(x).dense
    torch.testing.assert_close(by_file.encode_image(x).dense, ref)
    torch.testing.assert_close(by_folder.encode_image(x).dense, ref)
    assert "weights_sha256" in by_file.identity()
    assert by_file.identity() != tiny_encoder.identity()


def test_missing_real_weights_name_file_place_and_fix(empty_hf_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        load_encoder("convnext_base_w_320")
    message = str(info.value)
    assert "open_clip_model.safetensors" in message
    assert str(empty_hf_cache) in message
    assert "hf download laion/CLIP-convnext_base_w_320" in message
    assert "--encoder-weights" in message and "\n" not in message


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="nope.safetensors does not exist"):
        load_encoder("tiny", weights=tmp_path / "nope.safetensors")


def test_unknown_encoder(tmp_path):
    with pytest.raises(UnknownModelError, match="unknown encoder 'resnet-9000'"):
        load_encoder("resnet-9000")


def test_real_weights_found_in_the_offline_cache(empty_hf_cache, tiny_encoder):
    """A checkpoint placed in the HF cache layout is found by name, with no network."""
    from huggingface_hub import constants

    repo = "models--laion--CLIP-convnext_base_w_320-laion_aesthetic-s13B-b82K"
    snap = empty_hf_cache / "hub" / repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (empty_hf_cache / "hub" / repo / "refs").mkdir()
    (empty_hf_cache / "hub" / repo / "refs" / "main").write_text("0123abcd")
    (snap / "open_clip_model.safetensors").write_bytes(b"placeholder")
    from promptbank import catalog

    assert constants.HF_HUB_CACHE.startswith(str(empty_hf_cache))
    found = catalog.encoder_weights(catalog.ENCODERS["convnext_base_w_320"])
    assert found is not None and found.name == "open_clip_model.safetensors"
