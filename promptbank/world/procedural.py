"""The `procedural` generator: renders shapes-world classes named in prompts, with no weights.

It has the interface of the diffusion generators: `generate(prompts, seeds, resolution=...)` gives
one image per prompt, image i fully determined by (prompt i, seed i). The class is parsed out of the
filled template ("a bad photo of the red circle." -> "red circle") and the template's words vary
the render: "many"/"one" the count, "small"/"large"/"close-up"/"cropped" size and position,
"blurry"/"low resolution"/"pixelated"/"jpeg corrupted" the sharpness, "dark"/"bright"/"hard to see"
the light, "black and white" the colour, art words ("drawing", "cartoon", ...) the background.
Words only change their own attribute: the same seed keeps the same layout.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from promptbank.errors import VocabularyError
from promptbank.world.shapes import (
    CATALOGUE,
    SHAPES,
    TEXTURES,
    WORLD_VERSION,
    ClassSpec,
    fractal_noise,
    paint_thing,
    render_texture,
)


@dataclass(frozen=True)
class RenderStyle:
    """What the words of a prompt ask of the render (defaults: a plain good photo)."""

    count: tuple[int, int] = (1, 1)  # inclusive range of thing instances
    scale: float = 1.0  # multiplier of thing size and of texture feature size
    cropped: bool = False  # push the subject against a border of the frame
    blur: float = 0.0  # Gaussian blur radius as a fraction of the resolution
    downsample: int = 1  # render detail at resolution / downsample ("low resolution")
    pixelate: int = 0  # if > 0: blocks across the frame, nearest-neighbour ("pixelated")
    jpeg_quality: int = 0  # if > 0: re-encode as JPEG with this quality
    brightness: float = 1.0  # multiplies all pixel values
    contrast: float = 1.0  # scales pixel values around the mean
    grayscale: bool = False  # "black and white"
    plain: bool = False  # a plain paper-like background behind things (art styles)
    outline: bool = False  # only the outline of things, textures faded (drawings, sketches)
    noise: float = 4.0  # standard deviation of pixel noise, 0..255 units


# (pattern, changes) applied in order; later entries override earlier ones for the same field.
_WORD_RULES: tuple[tuple[str, dict], ...] = (
    (r"many", {"count": (4, 7)}),
    (r"one", {"count": (1, 1)}),
    (r"small|tiny|hard to see", {"scale": 0.5}),
    (r"large|big", {"scale": 1.5}),
    (r"close-?up", {"scale": 2.1}),
    (r"cropped", {"cropped": True}),
    (r"blurry|blurred", {"blur": 0.02}),
    (r"low resolution", {"downsample": 5}),
    (r"pixelated", {"pixelate": 16}),
    (r"jpeg", {"jpeg_quality": 6}),
    (r"dark", {"brightness": 0.45}),
    (r"bright", {"brightness": 1.45}),
    (r"hard to see", {"contrast": 0.5}),
    (r"black and white|grayscale|greyscale", {"grayscale": True}),
    (
        r"painting|cartoon|rendering|rendition|video game|art|plastic|toy|plushie|origami|"
        r"sculpture|embroidered|tattoo|graffiti",
        {"plain": True, "noise": 1.5},
    ),
    (r"drawing|sketch|doodle", {"plain": True, "outline": True, "noise": 1.5}),
    (r"clean|good", {"noise": 1.0}),
    (r"dirty|bad", {"noise": 12.0}),
)


def parse_style(words: str) -> RenderStyle:
    """The RenderStyle asked for by the words of a prompt (the class name already removed)."""
    style = RenderStyle()
    text = words.lower()
    for pattern, changes in _WORD_RULES:
        if re.search(rf"(?<![a-z])(?:{pattern})(?![a-z])", text):
            style = replace(style, **changes)
    return style


class ProceduralGenerator:
    """Image generator for the shapes world (things are coloured shapes, stuff are textures).

    classes: the ClassSpecs it can draw (default: the built-in catalogue). Register a new class
    by giving e.g. `ClassSpec("blue star", "thing", "star", (40, 60, 220))` with the built-ins.
    """

    name = "procedural"

    def __init__(self, classes: Iterable[ClassSpec] | None = None, device: str = "cpu") -> None:
        specs = list(CATALOGUE.values() if classes is None else classes)
        for spec in specs:
            forms = SHAPES if spec.kind == "thing" else TEXTURES if spec.kind == "stuff" else None
            if forms is None or spec.form not in forms:
                raise VocabularyError(
                    f"procedural class {spec.name!r} has kind={spec.kind!r} form={spec.form!r}; "
                    f"expected kind 'thing' with a form in {sorted(SHAPES)} or kind 'stuff' with "
                    f"a form in {sorted(TEXTURES)}"
                )
        self.classes: dict[str, ClassSpec] = {s.name: s for s in specs}
        self._custom = classes is not None
        self._stuff = [s for s in specs if s.kind == "stuff"] or list(
            s for s in CATALOGUE.values() if s.kind == "stuff"
        )
        # longest names first, so "brick wall" wins over a class named "brick"
        names = sorted(self.classes, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<![a-z])(" + "|".join(re.escape(n) for n in names) + r")(?:e?s)?(?![a-z])",
            re.IGNORECASE,
        )

    def identity(self) -> dict:
        """JSON-able identity: the world version and, for custom catalogues, every class spec."""
        identity: dict = {"name": self.name, "world": WORLD_VERSION}
        if self._custom:
            identity["classes"] = [
                [s.name, s.kind, s.form, list(s.rgb)] for s in self.classes.values()
            ]
        return identity

    def parse(self, prompt: str) -> tuple[ClassSpec, RenderStyle]:
        """The class named in `prompt` (the longest known name in it) and the style of its words."""
        matches = list(self._pattern.finditer(prompt))
        if not matches:
            raise VocabularyError(
                f"no procedural class named in prompt {prompt!r}; expected one of: "
                f"{', '.join(self.classes)} (use the 'shapes' vocabulary, or register classes "
                f"with ProceduralGenerator(classes=...))"
            )
        best = max(matches, key=lambda m: len(m.group(1)))
        spec = next(s for n, s in self.classes.items() if n.lower() == best.group(1).lower())
        rest = prompt[: best.start()] + " " + prompt[best.end() :]
        return spec, parse_style(rest)

    def generate(
        self,
        prompts: list[str],
        seeds: list[int],
        *,
        resolution: int,
        steps: int = 0,
        guidance: float = 0.0,
    ) -> list[Image.Image]:
        """One RGB image of side `resolution` per prompt. steps and guidance are ignored."""
        if len(prompts) != len(seeds):
            raise ValueError(
                f"got {len(prompts)} prompts but {len(seeds)} seeds; give one seed each"
            )
        if int(resolution) < 16:
            raise ValueError(f"resolution must be at least 16 pixels, got {resolution}")
        parsed = [self.parse(p) for p in prompts]  # fail on a bad prompt before any rendering
        return [
            self.render(spec, style, int(seed), int(resolution))
            for (spec, style), seed in zip(parsed, seeds)
        ]

    def render(self, spec: ClassSpec, style: RenderStyle, seed: int, size: int) -> Image.Image:
        """Render class `spec` in `style`; the layout depends only on (seed, class name)."""
        if seed < 0:
            raise ValueError(f"seeds must be non-negative integers, got {seed}")
        rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode())])
        detail = max(16, size // style.downsample)
        if spec.kind == "stuff":
            image = self._stuff_image(spec, style, rng, detail)
        else:
            image = self._thing_image(spec, style, rng, detail)
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(style.noise)
        image = (image - image.mean()) * style.contrast + image.mean()
        image = np.clip(image * style.brightness + 0.5, 0, 255).astype(np.uint8)
        return _degrade(Image.fromarray(image), style, size)

    def _background(self, rng: np.random.Generator, style: RenderStyle, size: int) -> np.ndarray:
        """A neutral backdrop or a stuff texture, (H, W, 3) float32; plain styles get paper."""
        kind, pick, tone = rng.random(), int(rng.integers(len(self._stuff))), rng.uniform(0.85, 1)
        sub = np.random.default_rng(rng.integers(2**63))
        if style.plain or kind < 0.5:
            paper = np.array([245, 240, 228] if style.plain else [200, 200, 195], np.float32)
            shading = 0.85 + 0.25 * fractal_noise(sub, size, size, size / 2, 2)[..., None]
            return paper * tone * shading
        stuff = self._stuff[pick]
        return render_texture(stuff.form, sub, size, size, size * style.scale**0.5)

    def _thing_image(
        self, spec: ClassSpec, style: RenderStyle, rng: np.random.Generator, size: int
    ) -> np.ndarray:
        image = self._background(rng, style, size)
        lo, hi = style.count
        count = lo + int(rng.random() * (hi - lo + 1))
        base = 0.3 if count == 1 else 0.36 / count**0.5  # radius as a fraction of the side
        for k in range(count):
            radius = size * base * rng.uniform(0.8, 1.15) * style.scale
            spread = (0.3, 0.7) if count == 1 else (0.15, 0.85)
            cx, cy = size * rng.uniform(*spread, size=2)
            edge, offset = int(rng.integers(4)), size * rng.uniform(0.0, 0.08)
            if style.cropped and k == 0:
                cx, cy = [(offset, cy), (size - offset, cy), (cx, offset), (cx, size - offset)][
                    edge
                ]
            angle = rng.uniform(0, 2 * np.pi)
            if style.outline:
                self._draw_outline(image, spec, rng, (cx, cy), radius, angle)
            else:
                paint_thing(image, spec, rng, (cx, cy), radius, angle)
        return image

    @staticmethod
    def _draw_outline(image, spec, rng, center, radius, angle) -> None:
        """Like paint_thing, but only a band along the shape's border (drawings and sketches)."""
        filled = np.zeros_like(image)
        mask = paint_thing(filled, spec, rng, center, radius, angle)
        width = 2 * max(1, image.shape[0] // 64) + 1  # odd filter size, about 3% of the side
        eroded = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MinFilter(width))
        border = mask & (np.asarray(eroded) == 0)
        image[border] = filled[border]

    def _stuff_image(
        self, spec: ClassSpec, style: RenderStyle, rng: np.random.Generator, size: int
    ) -> np.ndarray:
        unit = size * style.scale * (1.5 if style.cropped else 1.0)
        image = render_texture(spec.form, rng, size, size, unit)
        others = [s for s in self._stuff if s.name != spec.name]
        if others and rng.random() < 0.3 and not style.cropped and style.scale <= 1.0:
            other = others[int(rng.integers(len(others)))]
            yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
            wave = rng.uniform(0.02, 0.06) * np.sin(rng.uniform(4, 10) * xx + rng.uniform(0, 7))
            region = yy + wave < rng.uniform(0.1, 0.3)  # a band along the top
            if spec.form == "sky":
                region = yy + wave > rng.uniform(0.7, 0.9)  # the sky keeps the top
            image[region] = render_texture(other.form, rng, size, size, unit)[region]
        if style.outline:
            gray = image.mean(-1, keepdims=True)
            image = 0.45 * np.array([245, 240, 228], np.float32) + 0.55 * gray
        return image


def _degrade(image: Image.Image, style: RenderStyle, size: int) -> Image.Image:
    """Resize to `size` and apply the colour, blur, pixelation and JPEG asked for by the style."""
    image = image.resize((size, size), Image.Resampling.BILINEAR) if image.width != size else image
    if style.grayscale:
        image = ImageOps.grayscale(image).convert("RGB")
    if style.blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(style.blur * size))
    if style.pixelate > 0:
        small = image.resize((style.pixelate, style.pixelate), Image.Resampling.BOX)
        image = small.resize((size, size), Image.Resampling.NEAREST)
    if style.jpeg_quality > 0:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=style.jpeg_quality)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


def preview_sheet(scenes: int = 8, samples: int = 8, size: int = 96) -> Image.Image:
    """A labelled picture of the world: val scenes over their coloured labels, then generator
    samples of every class (one row per class, templates from the ImageNet-80 set)."""
    from importlib.resources import files

    from PIL import ImageDraw

    from promptbank.world.shapes import (
        ALL_CLASSES,
        UNSEEN_CLASSES,
        contact_sheet,
        label_palette,
        render_scene,
    )

    # the first val scenes of ShapesDataset: odd seeds, each with one unseen class in turn
    views = [
        render_scene(2 * i + 1, size, ALL_CLASSES, (UNSEEN_CLASSES[i % 4],)) for i in range(scenes)
    ]
    rows = [[image for image, _ in views], [label_palette()[label] for _, label in views]]
    names = ["val scene", "its label"]
    templates = (
        files("promptbank").joinpath("data/templates/imagenet80.txt").read_text().split("\n")
    )
    generator = ProceduralGenerator()
    for c, name in enumerate(ALL_CLASSES):
        picked = [templates[(c * 7 + 11 * k) % 80] for k in range(samples)]
        prompts = [t.format(name) for t in picked]
        rows.append(generator.generate(prompts, list(range(samples)), resolution=size))
        names.append(name + (" (unseen)" if name in UNSEEN_CLASSES else ""))
    grid = contact_sheet([im for row in rows for im in row], cols=max(scenes, samples))
    margin, step = 120, size + 2
    sheet = Image.new("RGB", (grid.width + margin, grid.height), (255, 255, 255))
    sheet.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(sheet)
    for r, name in enumerate(names):
        draw.text((6, 2 + r * step + size // 2 - 6), name, fill=(0, 0, 0))
    return sheet


if (
    __name__ == "__main__"
):  # python -m promptbank.world.procedural OUT.png: write the preview picture
    import sys

    out = sys.argv[1] if len(sys.argv) > 1 else "shapes_world.png"
    preview_sheet(size=80).save(out, optimize=True)
