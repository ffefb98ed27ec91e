"""NoisyGenerator: the Table-5 noise, seeded per image and part of the generator's identity."""

from __future__ import annotations

import numpy as np
import pytest

from promptbank.generator import load_generator
from promptbank.noisy import NoisyGenerator

PROMPTS = ["a photo of a red circle.", "a photo of sand."]


def _pixels(images) -> list[np.ndarray]:
    return [np.asarray(i, dtype=np.float32) for i in images]


def test_noise_mixes_by_fraction_and_is_seeded():
    base = load_generator("procedural")
    clean = _pixels(base.generate(PROMPTS, [3, 4], resolution=64))
    none = _pixels(NoisyGenerator(base, 0.0).generate(PROMPTS, [3, 4], resolution=64))
    assert all(np.array_equal(a, b) for a, b in zip(clean, none))

    half = NoisyGenerator(base, 0.5)
    first = _pixels(half.generate(PROMPTS, [3, 4], resolution=64))
    assert all(
        np.array_equal(a, b)
        for a, b in zip(first, _pixels(half.generate(PROMPTS, [3, 4], resolution=64)))
    )
    # the clean part is still there: the noisy image correlates with the clean one, less so at 80 %
    heavy = _pixels(NoisyGenerator(base, 0.8).generate(PROMPTS, [3, 4], resolution=64))
    for c, h5, h8 in zip(clean, first, heavy):
        r5 = np.corrcoef(c.ravel(), h5.ravel())[0, 1]
        r8 = np.corrcoef(c.ravel(), h8.ravel())[0, 1]
        assert 0.05 < r8 < r5 < 0.99


def test_noise_changes_the_identity_and_checks_its_fraction():
    base = load_generator("procedural")
    assert NoisyGenerator(base, 0.2).identity() != NoisyGenerator(base, 0.5).identity()
    assert NoisyGenerator(base, 0.2).identity()["name"] == base.identity()["name"]
    with pytest.raises(ValueError, match="noise fraction 1.5 is invalid"):
        NoisyGenerator(base, 1.5)
