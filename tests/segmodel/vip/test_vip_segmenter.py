import numpy as np
import pytest

from promptbank.vocab import DATA
from segmodel.errors import ConfigError, InputError
from segmodel.vip import VipSegmenter, VipSettings
from segmodel.vip.segmenter import add_background, as_vocabulary
from segmodel.vip.settings import load_presets, template_set

SMALL = {"short_side": 96, "crop": 64, "stride": 32, "templates": "single"}


@pytest.fixture(scope="module")
def tiny():
    from segmodel.vip.backbones import load_backbone

    return load_backbone("tiny")  # shared: segmenters only read it


@pytest.fixture(scope="module")
def image():
    return (np.random.default_rng(0).random((70, 110, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("backbone", ["tiny", "tiny-vit"])
def test_segment_labels_at_image_size(image, backbone):
    seg = VipSegmenter(backbone, device="cpu", **SMALL)
    result = seg.segment(image, ["sky", "grass, lawn, meadow", "red circle"])
    assert result.classes == ["sky", "grass", "red circle"]
    assert result.labels.shape == (70, 110) and result.labels.dtype == np.int64
    assert 0 <= result.labels.min() and result.labels.max() < 3
    assert result.probs.shape == (3, 70, 110)
    assert np.allclose(result.probs.sum(axis=0), 1.0, atol=1e-4)
    assert np.allclose(result.probs.max(axis=(1, 2)), result.scores)


def test_aliases_vs_single_names(image, tiny):
    lines = ["sky, blue sky", "grass, lawn, meadow", "red circle"]
    full = VipSegmenter(tiny, device="cpu", **SMALL)
    single = VipSegmenter(tiny, device="cpu", use_aliases=False, **SMALL)
    vocab = as_vocabulary(lines)
    assert len(full.queries(vocab).names) == 6
    assert single.queries(vocab).names == ["sky", "grass", "red circle"]
    a, b = full.segment(image, lines), single.segment(image, lines)
    assert a.labels.shape == b.labels.shape
    assert not np.allclose(a.probs, b.probs)


@pytest.mark.parametrize("rule", ["lse", "max", "mean"])
def test_rules_and_evolution_settings_run(image, tiny, rule):
    seg = VipSegmenter(
        tiny,
        device="cpu",
        aggregation=rule,
        evolve_steps=2,
        pamr_steps=2,
        pamr_dilations=(1, 2),
        **SMALL,
    )
    assert seg.segment(image, "shapes", return_probs=False).probs is None


def test_background_threshold_only_with_background(image, tiny):
    bg = VipSegmenter(tiny, device="cpu", background=True, prob_threshold=0.99, **SMALL)
    labels = bg.segment(image, add_background(bg_vocab := _vocab(["cat", "dog"]))).labels
    assert (labels == 0).all()  # nothing is 99% sure: everything falls back to background
    assert bg_vocab.classes == ["cat", "dog"]
    nobg = VipSegmenter(tiny, device="cpu", background=False, prob_threshold=0.99, **SMALL)
    labels = nobg.segment(image, ["cat", "dog", "tree"]).labels
    assert labels.max() < 3  # no 255 abstention on datasets without background


def _vocab(lines):
    return as_vocabulary(lines)


def test_presets_are_complete():
    presets = load_presets()
    for name, entry in presets["datasets"].items():
        settings = VipSettings.preset(name)
        assert (DATA / "vocab" / entry["vocab"]).is_file(), name
        assert (DATA / "vocab" / entry["alias_vocab"]).is_file(), name
        assert template_set(settings.templates)
        if not settings.background:
            assert settings.prob_threshold == 0.0, name
    assert len(template_set("imagenet80")) == 80
    assert VipSettings.preset("voc21", tau=7.0).tau == 7.0


def test_bad_settings_and_inputs(image, tiny):
    with pytest.raises(ConfigError, match="stride"):
        VipSettings(crop=64, stride=65)
    with pytest.raises(ConfigError, match="unknown VIP settings"):
        VipSettings().replace(taus=1.0)
    with pytest.raises(ConfigError, match="no VIP preset"):
        VipSettings.preset("nope")
    seg = VipSegmenter(tiny, device="cpu", **SMALL)
    with pytest.raises(InputError, match="uint8"):
        seg.segment(image.astype(np.float32), ["a", "b"])


@pytest.fixture(scope="module")
def shapes_bank(tmp_path_factory):
    from promptbank.build import build_bank
    from promptbank.vocab import vocabulary_from_names

    vocab = vocabulary_from_names(["red circle", "grass", "sky"], "three")
    out = tmp_path_factory.mktemp("bank") / "three"
    return build_bank(
        vocab,
        out,
        generator="procedural",
        encoder="tiny",
        templates=2,
        resolution=48,
        steps=2,
        device="cpu",
        progress=False,
    )


def test_bank_seeded_queries(image, tiny, shapes_bank):
    from promptbank.errors import BankError
    from segmodel.errors import EncoderMismatchError
    from segmodel.vip.aliases import bank_images

    classes = ["grass", "red circle", "sky"]
    text = VipSegmenter(tiny, device="cpu", **SMALL)
    dual = VipSegmenter(tiny, device="cpu", bank=shapes_bank, **SMALL)
    vocab = as_vocabulary(classes)
    qt, qd = text.queries(vocab).queries, dual.queries(vocab).queries
    assert qt.shape == qd.shape and not np.allclose(qt.numpy(), qd.numpy())
    assert np.allclose(np.linalg.norm(qd.numpy(), axis=1), 1.0, atol=1e-5)
    off = VipSegmenter(tiny, device="cpu", bank=shapes_bank, bank_weight=0.0, **SMALL)
    assert np.allclose(off.queries(vocab).queries.numpy(), qt.numpy())
    result = dual.segment(image, classes)
    assert result.labels.shape == image.shape[:2] and result.classes == classes
    with pytest.raises(BankError, match="not in bank"):
        dual.segment(image, ["water"])
    with pytest.raises(EncoderMismatchError, match="tiny-vit"):
        VipSegmenter("tiny-vit", device="cpu", bank=shapes_bank)
    assert {c for c, _ in bank_images(shapes_bank, classes, 1)} == {0, 1, 2}


def test_preset_vocabularies_align():
    from segmodel.vip.segmenter import preset_vocabulary

    for name in load_presets()["datasets"]:
        full, single = preset_vocabulary(name), preset_vocabulary(name, aliases=False)
        assert len(full.classes) == len(single.classes), name
        assert len({c.lower() for c in full.classes}) == len(full.classes), name
        settings = VipSettings.preset(name)
        if settings.background:
            assert full.classes[settings.bg_index].lower().startswith(("background", "clutter")), (
                name
            )
    assert len(preset_vocabulary("voc21").aliases[0]) > 20  # the stuff-word background line


class ColourBackbone:
    """A minimal DenseBackbone (what a dino.txt port provides): mean colour per 8x8 patch as
    the dense map, and text embeddings that name a colour channel."""

    name, embed_dim, stride = "colour", 3, 8
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

    def identity(self):
        return {"name": self.name}

    def encode_dense(self, x):
        import torch.nn.functional as F

        from segmodel.vip.backbones import DenseFeatures

        dense = F.avg_pool2d(x, self.stride) + 4.0  # (B, 3, h, w), positive after the shift
        return DenseFeatures(dense, dense.mean(dim=(2, 3)), dense)

    def encode_text(self, prompts):
        import torch

        channel = {"red": 0, "green": 1, "blue": 2}
        return torch.stack(
            [torch.eye(3)[next(v for k, v in channel.items() if k in p)] for p in prompts]
        )


def test_custom_backbone_plugs_in():
    from segmodel.vip.backbones import DenseBackbone

    backbone = ColourBackbone()
    assert isinstance(backbone, DenseBackbone)
    image = np.zeros((64, 96, 3), dtype=np.uint8)
    image[:, :32, 0] = 255  # red | green | blue thirds
    image[:, 32:64, 1] = 255
    image[:, 64:, 2] = 255
    seg = VipSegmenter(
        backbone,
        device="cpu",
        short_side=None,
        crop=32,
        stride=16,
        templates="single",
        evolve_steps=1,
    )
    labels = seg.segment(image, ["red", "green", "blue"]).labels
    assert labels.shape == (64, 96)
    assert (labels[:, 4:28] == 0).all() and (labels[:, 36:60] == 1).all()
    assert (labels[:, 68:92] == 2).all()


def test_package_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, segmodel.vip, segmodel.vip.aliases, segmodel.vip.wordnet; "
        "print('torch' in sys.modules, 'open_clip' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
