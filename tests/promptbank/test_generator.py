"""The generator zoo: tiny Stable Diffusion from configs, saved and reloaded, offline."""

import numpy as np
import pytest

from promptbank.errors import UnknownModelError, WeightsNotFoundError
from promptbank.generator import load_generator
from promptbank.tokenizer import build_clip_tokenizer


def test_offline_tokenizer_matches_open_clip():
    import open_clip

    ours = build_clip_tokenizer()
    theirs = open_clip.get_tokenizer("ViT-B-32")
    for text in ["a photo of a dog.", "T-Rex's café crème brûlée", "a  bad   photo of the {}."]:
        ids = ours(text).input_ids
        ref = theirs([text])[0].tolist()
        assert ids == ref[: len(ids)], text
    assert len(ours) == 49408


@pytest.fixture(scope="module")
def tiny_sd():
    return load_generator("tiny-sd")


def test_same_seed_same_image_whatever_the_batch(tiny_sd):
    kw = dict(resolution=64, steps=2, guidance=7.5)
    batch = tiny_sd.generate(["a photo of a red circle.", "a photo of sky."], [3, 4], **kw)
    alone = tiny_sd.generate(["a photo of sky."], [4], **kw)
    assert batch[0].size == (64, 64)
    assert np.array_equal(np.asarray(batch[1]), np.asarray(alone[0]))
    other = tiny_sd.generate(["a photo of sky."], [5], **kw)
    assert not np.array_equal(np.asarray(other[0]), np.asarray(alone[0]))


def test_saved_pipeline_loads_from_its_folder(tiny_sd, tiny_sd_folder):
    reloaded = load_generator(str(tiny_sd_folder))
    kw = dict(resolution=64, steps=2, guidance=7.5)
    a = tiny_sd.generate(["a photo of sky."], [1], **kw)[0]
    b = reloaded.generate(["a photo of sky."], [1], **kw)[0]
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert reloaded.identity()["source"] == str(tiny_sd_folder.resolve())


def test_cached_hub_id_is_found_offline(empty_hf_cache, tiny_sd_folder):
    import shutil

    repo = "models--stable-diffusion-v1-5--stable-diffusion-v1-5"
    snap = empty_hf_cache / "hub" / repo / "snapshots" / "feedbeef"
    shutil.copytree(tiny_sd_folder, snap)
    (empty_hf_cache / "hub" / repo / "refs").mkdir()
    (empty_hf_cache / "hub" / repo / "refs" / "main").write_text("feedbeef")
    generator = load_generator("sd15")
    assert generator.identity()["revision"] == "feedbeef"
    assert generator.generate(["a photo of sky."], [0], resolution=64, steps=1, guidance=1.0)


def test_missing_hub_pipeline_is_one_line(empty_hf_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        load_generator("sd21")
    assert "stabilityai/stable-diffusion-2-1/model_index.json" in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_generator():
    with pytest.raises(UnknownModelError, match="unknown generator 'dalle'"):
        load_generator("dalle")


def test_tiny_sd_downsamples_as_sd_does_and_its_architecture_is_in_its_identity(tmp_path):
    import json
    import shutil

    from promptbank.generator import CONFIGS, build_sd_pipeline, config_digest

    sd15 = json.loads((CONFIGS / "sd15" / "vae.json").read_text())
    assert build_sd_pipeline("tiny-sd").vae_scale_factor == 2 ** (
        len(sd15["block_out_channels"]) - 1
    )  # 8: latents of a 128 px image are 16 x 16, as SD's are
    assert load_generator("tiny-sd").identity()["config"] == config_digest("tiny-sd")
    shutil.copytree(CONFIGS / "tiny-sd", tmp_path / "tiny-sd")
    assert config_digest("tiny-sd", tmp_path) == config_digest("tiny-sd")
    vae = tmp_path / "tiny-sd" / "vae.json"
    vae.write_text(vae.read_text().replace('"layers_per_block": 1', '"layers_per_block": 2'))
    assert config_digest("tiny-sd", tmp_path) != config_digest("tiny-sd")
