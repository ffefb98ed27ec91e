"""The caption corpus: deterministic, broader than the segmentation vocabulary, held-out pairs absent."""

import numpy as np

from promptbank.world.captions import (
    COLOURS,
    HELD_OUT_PAIRS,
    SHAPE_NAMES,
    CaptionCorpus,
    all_concepts,
    corpus_concepts,
)
from promptbank.world.shapes import ALL_CLASSES, UNSEEN_CLASSES


def test_concept_space_covers_every_class_and_more():
    names = {c.name for c in corpus_concepts()}
    assert len(COLOURS) >= 12 and len(SHAPE_NAMES) >= 8
    assert set(ALL_CLASSES) <= names  # unseen classes too, as ADE's classes are in LAION
    assert set(UNSEEN_CLASSES) <= names
    assert not names & set(HELD_OUT_PAIRS)
    assert len(all_concepts()) == len(names) + len(HELD_OUT_PAIRS)


def test_samples_are_a_pure_function_of_their_seed():
    a, b = CaptionCorpus(), CaptionCorpus()
    for seed in (0, 1, 12345):
        x, y = a.sample(seed, 64), b.sample(seed, 64)
        assert x.caption == y.caption and x.target == y.target
        np.testing.assert_array_equal(x.image, y.image)
    assert a.sample(0, 64).caption != a.sample(1, 64).caption or not np.array_equal(
        a.sample(0, 64).image, a.sample(1, 64).image
    )


def test_held_out_pairs_never_appear_in_captions_or_targets():
    corpus = CaptionCorpus()
    captions, multi = [], 0
    for seed in range(600):
        sample = corpus.sample(seed, 48)
        assert sample.image.shape == (48, 48, 3) and sample.image.dtype == np.uint8
        assert abs(sum(sample.target.values()) - 1) < 1e-6
        assert all(0 <= i < len(corpus.concepts) for i in sample.target)
        captions.append(sample.caption)
        multi += len(sample.target) > 1
    text = " ".join(captions)
    for pair in HELD_OUT_PAIRS:
        colour, form = pair.split(" ", 1)
        for name in SHAPE_NAMES[form]:
            assert f"{colour} {name}" not in text, pair
    for word in ("disc", "brick", "blurry", " and "):
        assert word in text, word
    assert multi > 150  # scenes with several named concepts are a real share of the corpus


def test_scene_fraction_sets_the_share_of_multi_object_scenes():
    singles, scenes, half = CaptionCorpus(0.0), CaptionCorpus(1.0), CaptionCorpus()
    seeds = range(40)
    assert all(len(singles.sample(s, 32).target) == 1 for s in seeds)
    assert all(len(scenes.sample(s, 32).target) >= 2 for s in seeds)
    mixed = sum(len(half.sample(s, 32).target) >= 2 for s in seeds)
    assert 8 <= mixed <= 32  # the default half, give or take the draw
