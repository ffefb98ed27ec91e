"""Visual prompts of lower quality on purpose: any generator's images mixed with Gaussian noise.

The paper's Table 5 measures how much DPSeg depends on the quality of its generated prompts by
mixing Gaussian noise into them (20 / 60 / 80 %). `NoisyGenerator` wraps a generator and does the
same to every image it returns:

    image' = clip((1 - fraction) * image + fraction * noise),  noise ~ N(127.5, 64) per pixel

The noise of image i is drawn from its own seed, so a noisy bank is as reproducible as any other,
and the fraction is part of the generator's identity, so it changes the bank id.

    gen = NoisyGenerator(load_generator("procedural"), 0.6)
    run_build("shapes", "banks/shapes_noise60", generator=gen, ...)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

NOISE_MEAN = 127.5  # grey level the noise is centred on
NOISE_STD = 64.0  # its spread, in grey levels


class NoisyGenerator:
    """`base`'s images, each mixed with a `fraction` of seeded Gaussian noise (0 <= fraction <= 1)."""

    def __init__(self, base, fraction: float):
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"noise fraction {fraction!r} is invalid: expected 0 <= fraction <= 1")
        self.base = base
        self.fraction = float(fraction)
        self.name = f"{base.name}+noise"

    def identity(self) -> dict:
        """The base generator's identity plus the noise recipe."""
        return {
            **self.base.identity(),
            "noise": {"fraction": self.fraction, "mean": NOISE_MEAN, "std": NOISE_STD},
        }

    def generate(self, prompts: list[str], seeds: list[int], **options) -> list[Image.Image]:
        """One image per prompt, as `base.generate(prompts, seeds, **options)`, then noised."""
        images = self.base.generate(prompts, seeds, **options)
        return [self.noised(image, int(seed)) for image, seed in zip(images, seeds)]

    def noised(self, image: Image.Image, seed: int) -> Image.Image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)  # (H, W, 3)
        rng = np.random.default_rng([seed, 0x6E6F697A])  # the item's seed, a stream of its own
        noise = rng.normal(NOISE_MEAN, NOISE_STD, size=pixels.shape).astype(np.float32)
        mixed = (1.0 - self.fraction) * pixels + self.fraction * noise
        return Image.fromarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8), mode="RGB")
