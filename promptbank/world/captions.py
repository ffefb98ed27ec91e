"""The caption corpus of the shapes world: captioned renders over a concept space broader than the
segmentation vocabulary, the miniature of the image-caption pairs a real CLIP learns from.

Concepts are every colour x shape pair (12 x 8 things) and the 5 textures, 101 in all. The 13
segmentation classes, the 4 held out of segmentation training among them, are concepts like any
other (ADE's classes are in LAION too). `HELD_OUT_PAIRS` never appear in the corpus: zero-shot on
them measures compositional transfer. Things and textures have synonyms ("disc", "brick"), and
captions use the ImageNet-80 template words that the procedural generator draws ("a blurry ...").

A sample is one of two kinds, both fixed by their seed:
- `single`: one concept drawn by the procedural generator in a template's style, exactly as a bank
  draws its prompt images; the caption is that template filled with a name of the concept.
- `scene`: one or two textures and one to four things of any concepts; the caption names them all
  ("a photo of a red disc and a blue star on sand."), its target weights them by visible area.

Pure numpy + PIL; the CLIP pretraining that reads it is `promptbank.world.pretrain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np

from promptbank.world.procedural import ProceduralGenerator, parse_style
from promptbank.world.shapes import (
    CATALOGUE,
    ClassSpec,
    paint_thing,
    render_texture,
)

CORPUS_VERSION = "captions-1"  # bump when a concept, name, rule or renderer of the corpus changes

COLOURS: dict[str, tuple[int, int, int]] = {
    # the first eight are the segmentation classes' colours (promptbank.world.shapes.CATALOGUE)
    "red": (215, 35, 35),
    "green": (40, 200, 70),
    "blue": (35, 60, 215),
    "yellow": (245, 215, 35),
    "purple": (140, 50, 190),
    "orange": (245, 135, 25),
    "cyan": (30, 205, 215),
    "pink": (245, 110, 175),
    "brown": (125, 75, 35),
    "gray": (125, 125, 125),
    "white": (242, 242, 238),
    "black": (28, 28, 30),
}
SHAPE_NAMES: dict[str, tuple[str, ...]] = {  # form -> its names, the canonical one first
    "circle": ("circle", "disc", "dot"),
    "triangle": ("triangle",),
    "square": ("square", "block"),
    "star": ("star",),
    "ring": ("ring", "donut"),
    "cross": ("cross", "plus sign"),
    "diamond": ("diamond", "rhombus"),
    "heart": ("heart",),
}
TEXTURE_NAMES: dict[str, tuple[str, ...]] = {  # form -> its names; the first is the class name
    "grass": ("grass", "lawn"),
    "sky": ("sky", "clouds"),
    "sand": ("sand", "beach"),
    "water": ("water", "sea"),
    "brick": ("brick wall", "brick", "bricks"),
}
# colour x shape pairs absent from the whole corpus (and from segmentation): compositional transfer
HELD_OUT_PAIRS: tuple[str, ...] = (
    "blue star",
    "red heart",
    "green ring",
    "orange diamond",
    "white cross",
    "brown square",
)
SCENE_FRACTION = 0.5  # share of scene samples; the rest are single-concept renders


@dataclass(frozen=True)
class Concept:
    """One nameable thing of the corpus: a colour x shape pair or a texture."""

    name: str  # canonical name ("red circle", "brick wall")
    spec: ClassSpec  # how the renderers draw it
    names: tuple[str, ...]  # every way a caption may call it, canonical first


def _thing_names(colour: str, form: str) -> tuple[str, ...]:
    return tuple(f"{colour} {word}" for word in SHAPE_NAMES[form])


@cache
def all_concepts() -> tuple[Concept, ...]:
    """The 101 concepts, things (colour-major) then textures; held-out pairs included."""
    things = [
        Concept(f"{c} {form}", ClassSpec(f"{c} {form}", "thing", form, rgb), _thing_names(c, form))
        for c, rgb in COLOURS.items()
        for form in SHAPE_NAMES
    ]
    stuff = [
        Concept(names[0], ClassSpec(names[0], "stuff", form, CATALOGUE_RGB.get(names[0])), names)
        for form, names in TEXTURE_NAMES.items()
    ]
    return tuple(things + stuff)


CATALOGUE_RGB = {name: spec.rgb for name, spec in CATALOGUE.items()}


@cache
def corpus_concepts() -> tuple[Concept, ...]:
    """The concepts the corpus draws and names: all but the held-out pairs."""
    return tuple(c for c in all_concepts() if c.name not in HELD_OUT_PAIRS)


@cache
def imagenet_templates() -> tuple[str, ...]:
    text = files("promptbank").joinpath("data/templates/imagenet80.txt").read_text()
    return tuple(line for line in text.splitlines() if "{}" in line)


@dataclass(frozen=True)
class Sample:
    """One captioned render."""

    image: np.ndarray  # (S, S, 3) uint8
    caption: str  # names every concept in the image
    target: dict[int, float]  # corpus concept index -> share of the caption's mass (sums to 1)


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class CaptionCorpus:
    """Deterministic captioned renders: `sample(seed, size)` is a pure function of its arguments."""

    def __init__(self, scene_fraction: float = SCENE_FRACTION) -> None:
        self.scene_fraction = scene_fraction  # share of scene samples (the rest single concepts)
        self.concepts = corpus_concepts()
        self.index = {c.name: i for i, c in enumerate(self.concepts)}
        self.templates = imagenet_templates()
        self._things = [i for i, c in enumerate(self.concepts) if c.spec.kind == "thing"]
        self._stuff = [i for i, c in enumerate(self.concepts) if c.spec.kind == "stuff"]
        self._generator = ProceduralGenerator([c.spec for c in self.concepts])

    def sample(self, seed: int, size: int = 128) -> Sample:
        rng = np.random.default_rng([seed, 7919])
        if rng.random() < self.scene_fraction:
            return self._scene(rng, size)
        return self._single(rng, size)

    def _single(self, rng: np.random.Generator, size: int) -> Sample:
        i = int(rng.integers(len(self.concepts)))
        concept, template = self.concepts[i], self.templates[int(rng.integers(len(self.templates)))]
        style = parse_style(template.replace("{}", " "))
        image = self._generator.render(concept.spec, style, int(rng.integers(2**31)), size)
        name = concept.names[int(rng.integers(len(concept.names)))]
        return Sample(np.asarray(image), template.format(name), {i: 1.0})

    def _scene(self, rng: np.random.Generator, size: int) -> Sample:
        n_stuff = 1 + int(rng.random() < 0.35)
        stuff = [int(s) for s in rng.choice(self._stuff, size=n_stuff, replace=False)]
        label = np.full((size, size), stuff[0], np.int32)
        image = render_texture(self.concepts[stuff[0]].spec.form, rng, size, size, size)
        if n_stuff == 2:  # the second texture below a wavy near-horizontal line
            yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
            wave = rng.uniform(0.02, 0.08) * np.sin(rng.uniform(3, 10) * xx + rng.uniform(0, 7))
            region = yy + wave > rng.uniform(0.35, 0.7)
            image[region] = render_texture(
                self.concepts[stuff[1]].spec.form, rng, size, size, size
            )[region]
            label[region] = stuff[1]
        things = [int(t) for t in rng.choice(self._things, size=int(rng.integers(1, 5)))]
        for t in things:
            radius = size * rng.uniform(0.12, 0.32)
            center = (size * rng.uniform(0.1, 0.9), size * rng.uniform(0.1, 0.9))
            mask = paint_thing(
                image, self.concepts[t].spec, rng, center, radius, rng.uniform(0, 2 * np.pi)
            )
            label[mask] = t
        image *= np.float32(rng.uniform(0.8, 1.2))
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(2, 7))
        present, counts = np.unique(label, return_counts=True)
        # half the mass by visible area, half shared by every named concept: a small thing the
        # caption names still matters
        target = {
            int(p): 0.5 * float(n) / label.size + 0.5 / len(present)
            for p, n in zip(present, counts)
        }
        return Sample(
            np.clip(image + 0.5, 0, 255).astype(np.uint8),
            self._scene_caption(rng, things, stuff, target),
            target,
        )

    def _scene_caption(self, rng, things: list[int], stuff: list[int], target) -> str:
        def name(i: int) -> str:
            names = self.concepts[i].names
            return names[int(rng.integers(len(names)))]

        visible = list(dict.fromkeys(t for t in things if t in target))
        rng.shuffle(visible)
        ground = [name(i) for i in stuff if i in target]
        template = self.templates[int(rng.integers(len(self.templates)))]
        article = next((a for a in ("a {}", "the {}") if a in template), None)
        if not visible:  # every thing hidden: the caption names the ground
            return template.format(_join(ground))
        if article:  # "a photo of a {}." -> "a photo of a red disc and a blue star"
            caption = template.replace(article, _join([_article(name(i)) for i in visible]))
        else:  # "the nice {}" -> "the nice red disc and blue star"
            caption = template.format(_join([name(i) for i in visible]))
        return caption.rstrip(".") + " on " + _join(ground) + "."
