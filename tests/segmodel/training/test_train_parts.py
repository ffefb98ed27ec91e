"""Config loading and overrides, optimiser groups and schedule, the augmentation pipeline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from segmodel.errors import ConfigError
from segmodel.training import build_config, load_config, parse_override
from segmodel.training.config import OptimSection
from segmodel.training.data import Augment, StepSampler, TrainSamples, ssd_color_jitter
from segmodel.training.optim import build_optimizer, lr_factor, param_groups

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def test_toml_load_overrides_and_resolved_round_trip(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[run]\nsteps = 5\nout = "x"\n[optim]\nbetas = [0.8, 0.9]\n[data.options]\nsize = 64\n'
    )
    cfg = load_config(path, ["optim.lr=1e-3", "run.out=runs/a b", "data.options.length=7",
                             "model.overrides.topk=4", "data.flip=false"])  # fmt: skip
    assert cfg.run.steps == 5 and cfg.optim.lr == 1e-3 and cfg.run.out == "runs/a b"
    assert cfg.optim.betas == (0.8, 0.9) and cfg.data.flip is False
    assert cfg.data.options == {"size": 64, "length": 7} and cfg.model.overrides == {"topk": 4}
    again = tmp_path / "resolved.toml"
    again.write_text(cfg.to_toml())
    assert load_config(again) == cfg


def test_config_errors_name_the_setting(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown settings \['stepz'\] in \[run\]"):
        build_config({"run": {"stepz": 3}})
    with pytest.raises(ConfigError, match="unknown config sections"):
        build_config({"trainer": {}})
    with pytest.raises(ConfigError, match="data.crop=100"):
        build_config({"data": {"crop": 100}})
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("steps")
    with pytest.raises(ConfigError, match="must start with a section"):
        parse_override("steps=3")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    assert parse_override("run.out=some/path") == ("run", "out", "some/path")


def test_shipped_configs_load():
    for name in ("shapes_tiny", "dpseg_convnext_b", "dpseg_convnext_l"):
        cfg = load_config(CONFIGS / f"{name}.toml")
        assert cfg.run.steps > 0
    b = load_config(CONFIGS / "dpseg_convnext_b.toml")
    assert (b.optim.lr, b.optim.weight_decay, b.optim.encoder_lr_mult) == (2e-4, 1e-4, 0.01)
    assert (b.optim.clip_grad_norm, b.run.steps, b.run.batch_size) == (0.01, 80000, 4)
    assert (b.data.dataset, b.data.crop, b.data.resize_short) == ("coco-stuff171", 768, 768)


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_encoder = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm(4))
        self.head = nn.Linear(4, 2)
        self.norm = nn.GroupNorm(1, 4)


def test_param_groups_follow_the_recipe():
    settings = OptimSection(lr=2e-4, weight_decay=1e-4, bias_weight_decay=1e-4,
                            norm_weight_decay=0.0, encoder_lr_mult=0.01)  # fmt: skip
    model = _Toy()
    groups = {g["name"]: g for g in param_groups(model, settings)}
    conv, ln = model.image_encoder[0], model.image_encoder[1]
    enc_decay = {id(p) for p in groups["encoder/wd=0.0001"]["params"]}
    assert enc_decay == {id(conv.weight), id(conv.bias)}
    assert {id(p) for p in groups["encoder/wd=0"]["params"]} == {id(ln.weight), id(ln.bias)}
    assert groups["encoder/wd=0"]["lr"] == pytest.approx(2e-6)
    assert {id(p) for p in groups["decoder/wd=0"]["params"]} == {
        id(model.norm.weight), id(model.norm.bias)}  # fmt: skip
    assert groups["decoder/wd=0.0001"]["lr"] == pytest.approx(2e-4)
    total = sum(len(g["params"]) for g in groups.values())
    assert total == len(list(model.parameters()))
    assert isinstance(build_optimizer(model, settings), torch.optim.AdamW)


def test_cosine_schedule_to_zero():
    assert lr_factor(0, 100) == pytest.approx(1.0)
    assert lr_factor(50, 100) == pytest.approx(0.5)
    assert lr_factor(100, 100) == pytest.approx(0.0)
    assert lr_factor(25, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(4, 100, warmup=10) == pytest.approx(0.5)
    assert lr_factor(100, 100, final=0.1) == pytest.approx(0.1)


def test_augment_resizes_crops_pads_and_is_deterministic():
    aug = Augment(resize_short=32, max_size=100, crop=32, color_jitter=True, flip=True,
                  ignore_index=255)  # fmt: skip
    image = np.random.default_rng(0).integers(0, 256, (20, 40, 3), dtype=np.uint8)
    label = np.tile(np.arange(40), (20, 1)).astype(np.int64)
    a = aug(image, label, np.random.default_rng(3))
    b = aug(image, label, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == (32, 32, 3) and a[0].dtype == np.uint8 and a[1].shape == (32, 32)
    small = Augment(0, 100, 32, False, False, 255)
    img, lab = small(image[:10, :10], label[:10, :10], np.random.default_rng(0))
    assert lab.shape == (32, 32) and (lab[10:] == 255).all() and (lab[:10, :10] < 10).all()


def test_ssd_color_jitter_changes_colours_within_range():
    image = np.full((8, 8, 3), 100, np.uint8)
    image[:, :4, 0] = 200
    outs = [ssd_color_jitter(image, np.random.default_rng(s)) for s in range(8)]
    assert all(o.dtype == np.uint8 and o.shape == image.shape for o in outs)
    assert any(not np.array_equal(o, image) for o in outs)


def test_step_sampler_slices_global_batches_per_process():
    whole = list(StepSampler(2, 4, batch_size=4))
    assert whole == [8, 9, 10, 11, 12, 13, 14, 15]
    r0 = list(StepSampler(2, 4, batch_size=4, rank=0, world=2))
    r1 = list(StepSampler(2, 4, batch_size=4, rank=1, world=2))
    assert r0 == [8, 9, 12, 13] and r1 == [10, 11, 14, 15] and len(StepSampler(2, 4, 4)) == 8


class _Items:
    classes = ["a", "b", "c"]
    ignore_index = 255

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"image": np.full((4, 4, 3), i * 10, np.uint8),
                "label": np.full((4, 4), i % 3, np.int64), "name": str(i)}  # fmt: skip


def test_train_samples_visit_each_item_once_per_epoch_and_remap_labels():
    aug = Augment(0, 100, 4, False, False, 255)
    samples = TrainSamples(_Items(), aug, seed=1, label_map=np.array([0, -1, 1]))
    firsts = sorted(samples.item_index(g) for g in range(5))
    assert firsts == [0, 1, 2, 3, 4]
    assert [samples.item_index(g) for g in range(5, 10)] != [
        samples.item_index(g) for g in range(5)
    ]
    for g in range(5):
        image, label = samples[g]
        i = samples.item_index(g)
        assert image.shape == (3, 4, 4) and image.dtype == torch.uint8
        assert int(label[0, 0]) == {0: 0, 1: 255, 2: 1}[i % 3]
