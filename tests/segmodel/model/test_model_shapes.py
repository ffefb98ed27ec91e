"""Output shapes of DPSeg for the tiny preset, every ablation switch, and the real base size."""

import pytest
import torch
from model_helpers import random_images, random_prompts, tiny_model

from segmodel import build_model
from segmodel.config import PRESETS, preset_config
from segmodel.errors import ConfigError, InputError, PromptError


@pytest.mark.parametrize("training", [True, False])
def test_tiny_output_shapes(training):
    model = tiny_model().train(training)
    out = model(random_images(2), random_prompts(5))
    assert out.logits.shape == (2, 5, 32, 32)
    assert [a.shape for a in out.aux] == [(2, 5, 4, 4), (2, 5, 8, 8), (2, 5, 16, 16)]
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize(
    "overrides",
    [
        {"prompt_mode": "text"},
        {"prompt_mode": "visual"},
        {"fusion": "cost-average"},
        {"fusion": "concat"},
        {"visual_cost": ("off", "off", "off")},
        {"visual_cost": ("upsample", "upsample", "upsample")},
        {"visual_cost": ("visual", "upsample", "off")},
        {"prompt_mode": "text", "visual_cost": ("upsample",) * 3},
        {"hd_depthwise": False, "visual_cost_prototypes": 1, "visual_cost_dims": (4, 4, 4)},
        {"visual_cost_prototypes": 0},  # one prototype per template (the paper)
    ],
)
def test_ablation_switches_give_the_same_shapes(overrides):
    model = tiny_model(**overrides).eval()
    with torch.no_grad():
        out = model(random_images(1), random_prompts(3))
    assert out.logits.shape == (1, 3, 32, 32)
    assert torch.isfinite(out.logits).all()


def test_text_only_model_ignores_visual_prompts():
    model = tiny_model(prompt_mode="text", visual_cost=("upsample",) * 3).eval()
    a, b = random_prompts(3, seed=1), random_prompts(3, seed=2)
    b = type(a)(
        a.classes, a.text, b.visual, b.visual_s4, b.visual_s8, b.visual_s16, a.has_visual, a.encoder
    )
    with torch.no_grad():
        images = random_images(1)
        assert torch.equal(model(images, a).logits, model(images, b).logits)


def test_non_square_input_multiple_of_32():
    model = tiny_model().eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 96, 160), random_prompts(2))
    assert out.logits.shape == (1, 2, 24, 40)


def test_bad_inputs_are_refused():
    model = tiny_model().eval()
    with pytest.raises(InputError, match="multiples of 32"):
        model(torch.randn(1, 3, 100, 128), random_prompts(2))
    with pytest.raises(PromptError, match="num_templates=3"):
        model(random_images(1), random_prompts(2, templates=3))


def test_config_validation():
    with pytest.raises(ConfigError, match="prompt_mode"):
        preset_config("tiny", prompt_mode="both")
    with pytest.raises(ConfigError, match="unknown model settings"):
        preset_config("tiny", colour="red")
    with pytest.raises(ConfigError, match="unknown model preset"):
        preset_config("huge")
    with pytest.raises(ConfigError, match="visual_cost_prototypes"):
        preset_config("tiny", visual_cost_prototypes=5)
    with pytest.raises(ConfigError, match="visual_cost_prototypes"):
        preset_config("tiny", visual_cost_prototypes=-1)
    assert preset_config("tiny", num_templates=6, visual_cost_prototypes=0).prototypes == 6
    assert preset_config("tiny", num_templates=6, visual_cost_prototypes=3).prototypes == 3
    assert PRESETS["base"].decoder_dims == (64, 32, 16)
    assert PRESETS["base"].cost_embed_dim == 128


@pytest.mark.slow
def test_base_architecture_shapes_at_768():
    torch.manual_seed(0)
    model = build_model("base", random_init=True, num_templates=4, visual_cost_prototypes=2).eval()
    enc = model.image_encoder
    assert enc.embed_dim == 640 and enc.stage_dims == (128, 256, 512, 1024)
    from promptbank.encoder import load_encoder

    frozen = load_encoder("convnext_base_w_320", random_init=True)
    prompts = random_prompts(3, templates=4, encoder=frozen)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 768, 768), prompts)
    assert out.logits.shape == (1, 3, 192, 192)
    assert [a.shape[-1] for a in out.aux] == [24, 48, 96]
    assert torch.isfinite(out.logits).all()
