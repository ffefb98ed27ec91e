"""Prompt/encoder compatibility, checkpoints, and the lazy package surface."""

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from model_helpers import random_images, random_prompts, tiny_model

from segmodel import load_model, save_model
from segmodel.errors import CheckpointError, EncoderMismatchError


def test_prompts_from_another_encoder_are_refused_naming_both():
    model = tiny_model().eval()
    other = dict(model.encoder_identity, name="convnext_base_w_320", weights_sha256="ab" * 32)
    prompts = replace(random_prompts(2), encoder=other)
    with pytest.raises(EncoderMismatchError, match="convnext_base_w_320.*tiny") as err:
        model(random_images(1), prompts)
    assert "\n" not in str(err.value)


def test_identity_survives_json_round_trip():
    model = tiny_model().eval()
    prompts = replace(random_prompts(2), encoder=json.loads(json.dumps(model.encoder_identity)))
    with torch.no_grad():
        model(random_images(1), prompts)


def test_vocabulary_changes_between_calls():
    model = tiny_model().eval()
    with torch.no_grad():
        a = model(random_images(1), random_prompts(3)).logits
        b = model(random_images(1), random_prompts(6)).logits
    assert a.shape[1] == 3 and b.shape[1] == 6


def test_text_only_fallback_rows_use_the_text_prompt():
    model = tiny_model(visual_cost=("off",) * 3).eval()
    prompts = random_prompts(3)
    fallback = replace(prompts, has_visual=torch.tensor([True, False, True]))
    swapped = replace(fallback, visual=prompts.visual.clone())
    swapped.visual[1] = prompts.text[1]  # what the fallback must use for class 1
    with torch.no_grad():
        images = random_images(1)
        torch.testing.assert_close(
            model(images, fallback).logits,
            model(images, replace(swapped, has_visual=prompts.has_visual)).logits,
        )


def test_save_load_round_trip(tmp_path):
    model = tiny_model(fusion="concat", visual_cost=("visual", "upsample", "off")).eval()
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.config == model.config
    assert loaded.encoder_identity == model.encoder_identity
    images, prompts = random_images(1), random_prompts(4)
    with torch.no_grad():
        assert torch.equal(model(images, prompts).logits, loaded(images, prompts).logits)
    assert not list(tmp_path.glob("*.tmp"))


def test_load_refuses_other_files(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "none.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not a dpseg model"):
        load_model(tmp_path / "plain.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model(tmp_path / "junk.safetensors")


def test_import_segmodel_is_cheap():
    code = (
        "import sys, segmodel; assert 'torch' not in sys.modules, 'torch'; "
        "segmodel.build_model; assert 'diffusers' not in sys.modules, 'diffusers'; "
        "assert 'webdataset' not in sys.modules, 'webdataset'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
