"""Segmenter: whole-image and sliding modes, inference II, fallbacks and refusals."""

import numpy as np
import pytest
import torch
from model_helpers import SHAPES_CLASSES, random_prompts, shapes_bank, tiny_model
from PIL import Image

from promptbank.encoder import load_encoder
from segmodel import RefineSettings, Segmenter, build_model
from segmodel.errors import EncoderMismatchError, InputError, PromptError
from segmodel.model.refine import refine_prompts


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    return shapes_bank(str(tmp_path_factory.mktemp("bank") / "shapes"))


@pytest.fixture(scope="module")
def segmenter(bank):
    return Segmenter(tiny_model(), bank)


def photo(h=90, w=150, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode", ["resize", "slide"])
def test_segment_returns_labels_at_image_size(segmenter, mode):
    result = segmenter.segment(
        Image.fromarray(photo()), SHAPES_CLASSES[:3], mode=mode, return_probs=True
    )
    assert result.labels.shape == (90, 150) and result.labels.dtype == np.int64
    assert result.classes == SHAPES_CLASSES[:3]
    assert result.scores.shape == (3,) and result.probs.shape == (3, 90, 150)
    assert set(np.unique(result.labels)) <= {0, 1, 2}
    np.testing.assert_array_equal(result.labels, result.probs.argmax(0))


def test_segment_accepts_arrays_and_refuses_junk(segmenter):
    assert segmenter.segment(photo(), ["sky", "grass"]).labels.shape == (90, 150)
    with pytest.raises(InputError, match="uint8"):
        segmenter.segment(np.zeros((4, 4, 3), np.float32), ["sky"])
    with pytest.raises(InputError, match="mode"):
        segmenter.segment(photo(), ["sky"], mode="tiles")


def test_predict_probs_shape(segmenter, bank):
    prompts = segmenter.prompts(SHAPES_CLASSES)
    for inference in (1, 2):
        probs = segmenter.predict_probs(torch.randn(2, 3, 128, 128), prompts, inference=inference)
        assert probs.shape == (2, 4, 32, 32)
        assert float(probs.min()) >= 0 and float(probs.max()) <= 1


@pytest.mark.parametrize("source", ["features", "crops"])
def test_inference_two_runs_the_image_encoder_once(bank, source):
    segmenter = Segmenter(tiny_model(), bank, refine=RefineSettings(source=source))
    calls = []
    hook = segmenter.model.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        result = segmenter.segment(photo(), SHAPES_CLASSES, inference=2)
    finally:
        hook.remove()
    assert len(calls) == 1  # pass two decodes pass one's image features
    assert result.refined and set(result.refined) <= set(SHAPES_CLASSES)


@pytest.mark.parametrize("source", ["crops", "region", "features"])
def test_refinement_replaces_only_detected_classes(source):
    model = tiny_model().eval()
    encoder = load_encoder("tiny")
    prompts = random_prompts(3)
    probs = torch.zeros(3, 32, 32)
    probs[0, :, :16] = 0.9  # class 0 wins the left half, class 2 the right half
    probs[2, :, 16:] = 0.8
    image = torch.randn(3, 128, 128)
    with torch.no_grad():
        features = model.encode(image[None])
        refined, detected = refine_prompts(
            RefineSettings(source=source, replaces="all"), prompts, image, probs, encoder, features
        )
        pooled_only, _ = refine_prompts(
            RefineSettings(source=source), prompts, image, probs, encoder, features
        )
    assert detected == [0, 2]
    for name in ("visual", "visual_s4", "visual_s8", "visual_s16"):
        old, new = getattr(prompts, name), getattr(refined, name)
        assert torch.equal(old[1], new[1])  # undetected class keeps the bank's prompts
        assert not torch.equal(old[0], new[0]) and not torch.equal(old[2], new[2])
        assert torch.equal(new[0, 0], new[0, 1])  # one crop replaces every template
        # the default refines the dual prompt only: the decoder keeps the bank's prototypes
        kept = getattr(pooled_only, name)
        assert torch.equal(kept[0], new[0]) if name == "visual" else torch.equal(kept, old)
    assert torch.equal(refined.text, prompts.text)


def test_missing_class_falls_back_to_text(segmenter):
    result = segmenter.segment(photo(), ["sky", "a purple elephant"])
    assert result.classes == ["sky", "a purple elephant"]
    prompts = segmenter.prompts(["sky", "a purple elephant"])
    assert prompts.has_visual.tolist() == [True, False]
    assert float(prompts.text[1].norm(dim=-1).min()) > 0.99


def test_bank_from_another_encoder_is_refused(bank):
    other = load_encoder("tiny", seed=1)
    model = build_model("tiny", encoder=other)
    with pytest.raises(EncoderMismatchError, match=r"tiny \(random-init:seed0\).*seed1"):
        Segmenter(model, bank)


def test_bank_with_other_template_count_is_refused(bank):
    with pytest.raises(PromptError, match="num_templates=3"):
        Segmenter(tiny_model(num_templates=3), bank)


def test_redecode_detected_keeps_pass_one_for_the_others():
    from segmodel.model.inference import predict

    model = tiny_model().eval()
    prompts = random_prompts(6)
    images = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(5))
    one, _ = predict(model, images, prompts, inference=1)
    refine = RefineSettings(source="features", redecode="detected")
    two, detected = predict(model, images, prompts, inference=2, refine=refine)
    for b, found in enumerate(detected):
        others = [c for c in range(6) if c not in found]
        assert found and torch.equal(two[b, others], one[b, others])
        assert not torch.equal(two[b, found], one[b, found])


def test_without_a_bank_prompts_are_text_only():
    segmenter = Segmenter(tiny_model(), None)
    prompts = segmenter.prompts(["sky", "grass"])
    assert prompts.has_visual.tolist() == [False, False]
    assert prompts.num_templates == 2
    assert segmenter.segment(photo(), ["sky", "grass"]).labels.shape == (90, 150)


def test_segment_with_early_rejection(segmenter):
    full = segmenter.segment(photo(), SHAPES_CLASSES, return_probs=True)
    same = segmenter.segment(photo(), SHAPES_CLASSES, topk=len(SHAPES_CLASSES), return_probs=True)
    np.testing.assert_array_equal(full.labels, same.labels)
    fast = segmenter.segment(photo(), SHAPES_CLASSES, topk=1)
    assert fast.labels.shape == full.labels.shape and fast.scores.shape == (4,)
