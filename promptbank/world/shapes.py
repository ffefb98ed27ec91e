"""The shapes world: a procedural world of named classes that runs anywhere with no weights.

Things are coloured shapes ("red circle", ...), stuff are textures ("grass", ...). This module holds
the class catalogue, the renderers (pure numpy + PIL) and scene synthesis with pixel labels. Every
random choice comes from a `numpy.random.Generator`, so a seed fixes the output.

Images are float32 (H, W, 3) in 0..255 while being composed and uint8 when returned; labels are
indices into `ALL_CLASSES`.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

WORLD_VERSION = "shapes-2"  # bump when any renderer changes its output


@dataclass(frozen=True)
class ClassSpec:
    """How one class of the world looks."""

    name: str  # class name as it appears in prompts and vocabularies
    kind: str  # "thing" (a coloured shape) or "stuff" (a texture filling a region)
    form: str  # a key of SHAPES for things, of TEXTURES for stuff
    rgb: tuple[int, int, int] = (
        128,
        128,
        128,
    )  # base colour of a thing (textures choose their own)


CATALOGUE: dict[str, ClassSpec] = {
    spec.name: spec
    for spec in (
        ClassSpec("red circle", "thing", "circle", (215, 35, 35)),
        ClassSpec("green triangle", "thing", "triangle", (40, 200, 70)),
        ClassSpec("blue square", "thing", "square", (35, 60, 215)),
        ClassSpec("yellow star", "thing", "star", (245, 215, 35)),
        ClassSpec("purple ring", "thing", "ring", (140, 50, 190)),
        ClassSpec("orange cross", "thing", "cross", (245, 135, 25)),
        ClassSpec("cyan diamond", "thing", "diamond", (30, 205, 215)),
        ClassSpec("pink heart", "thing", "heart", (245, 110, 175)),
        ClassSpec("grass", "stuff", "grass", (70, 150, 45)),
        ClassSpec("sky", "stuff", "sky", (140, 190, 235)),
        ClassSpec("sand", "stuff", "sand", (215, 188, 135)),
        ClassSpec("water", "stuff", "water", (25, 85, 155)),
        ClassSpec("brick wall", "stuff", "brick", (150, 70, 55)),
    )
}
ALL_CLASSES: tuple[str, ...] = tuple(CATALOGUE)  # label order: label value i is ALL_CLASSES[i]
UNSEEN_CLASSES: tuple[str, ...] = ("yellow star", "cyan diamond", "pink heart", "sand")
SEEN_CLASSES: tuple[str, ...] = tuple(c for c in ALL_CLASSES if c not in UNSEEN_CLASSES)


# ---------------------------------------------------------------- noise helpers


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, each (H, W) float32."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy + 0.5, xx + 0.5


def smooth_noise(
    rng: np.random.Generator, h: int, w: int, cell_y: float, cell_x: float
) -> np.ndarray:
    """Value noise in 0..1 with features about `cell_y` x `cell_x` pixels, (H, W) float32."""
    gh, gw = max(2, round(h / max(cell_y, 0.5)) + 2), max(2, round(w / max(cell_x, 0.5)) + 2)
    coarse = Image.fromarray(rng.random((gh, gw), dtype=np.float32))
    return np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)


def fractal_noise(
    rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 3
) -> np.ndarray:
    """Sum of `octaves` noises halving the feature size, normalised to about 0..1, (H, W)."""
    total = np.zeros((h, w), np.float32)
    for k in range(octaves):
        total += 0.5**k * smooth_noise(rng, h, w, cell / 2**k, cell / 2**k)
    return total / (2.0 - 0.5 ** (octaves - 1))


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _jitter_rgb(rng: np.random.Generator, rgb: Sequence[float], amount: float = 1.0) -> np.ndarray:
    """The colour with its hue, saturation and value moved a little at random, (3,) float32."""
    r, g, b = (c / 255.0 for c in rgb)
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    h = (h + amount * rng.uniform(-0.025, 0.025)) % 1.0
    s = float(np.clip(s * (1 + amount * rng.uniform(-0.15, 0.05)), 0, 1))
    v = float(np.clip(v * (1 + amount * rng.uniform(-0.15, 0.08)), 0, 1))
    return np.array(colorsys.hsv_to_rgb(h, s, v), np.float32) * 255.0


# ---------------------------------------------------------------- stuff textures
# Each texture is f(rng, h, w, unit) -> (H, W, 3) float32 in 0..255, where `unit` is the length in
# pixels that the texture's feature sizes are relative to (the frame side in a scene).


def _grass(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    base = _jitter_rgb(rng, (70, 150, 45))
    blades = smooth_noise(rng, h, w, unit / 9, max(unit / 90, 1.0))  # vertical streaks
    patches = fractal_noise(rng, h, w, unit / 3, 2)
    tone = 0.55 + 0.6 * blades[..., None]
    tint = np.array([1.15, 1.0, 0.7], np.float32) * patches[..., None] + (1 - patches[..., None])
    return base * tone * tint


def _sky(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    yy, xx = _grid(h, w)
    top, bottom = _jitter_rgb(rng, (60, 120, 205), 0.6), _jitter_rgb(rng, (165, 205, 240), 0.6)
    t = np.clip((yy + rng.uniform(-0.15, 0.15) * (xx - w / 2)) / unit, 0, 1)[..., None]
    gradient = top * (1 - t) + bottom * t
    clouds = _smoothstep(rng.uniform(0.5, 0.62), 0.8, fractal_noise(rng, h, w, unit / 2.5, 3))
    white = np.float32(rng.uniform(235, 252))
    return gradient + (white - gradient) * (0.9 * clouds[..., None])


def _sand(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    yy, xx = _grid(h, w)
    base = _jitter_rgb(rng, (215, 188, 135), 0.6)
    angle, period = rng.uniform(0, np.pi), unit / rng.uniform(6, 10)
    phase = (yy * np.cos(angle) + xx * np.sin(angle)) / period
    ripples = np.sin(2 * np.pi * phase + 4 * fractal_noise(rng, h, w, unit / 4, 2))
    speckle = rng.standard_normal((h, w), dtype=np.float32) * 0.07
    grains = np.where(rng.random((h, w), dtype=np.float32) < 0.04, -0.25, 0.0)
    return base * (1 + 0.06 * ripples + speckle + grains)[..., None]


def _water(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    yy, xx = _grid(h, w)
    deep, light = _jitter_rgb(rng, (20, 75, 140), 0.6), _jitter_rgb(rng, (120, 185, 225), 0.6)
    period = unit / rng.uniform(10, 16)
    warp = 5 * fractal_noise(rng, h, w, unit / 3, 2) + xx / unit * rng.uniform(-2, 2)
    waves = 0.5 + 0.5 * np.sin(2 * np.pi * yy / period + warp)  # (H, W) horizontal swell
    body = fractal_noise(rng, h, w, unit / 2, 2)
    mix = (0.25 * body + 0.45 * waves**3)[..., None]
    sparkle = _smoothstep(0.93, 1.0, waves * smooth_noise(rng, h, w, unit / 30, unit / 10))
    return deep * (1 - mix) + light * mix + 90 * sparkle[..., None]


def _brick(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    yy, xx = _grid(h, w)
    bh = unit / rng.uniform(9, 13)  # brick height in pixels
    bw, mortar = bh * rng.uniform(1.9, 2.5), max(1.0, bh * 0.16)
    yy = yy + rng.uniform(0, bh)
    row = np.floor(yy / bh).astype(np.int64)
    xs = xx + rng.uniform(0, bw) + (row % 2) * bw / 2
    col = np.floor(xs / bw).astype(np.int64)
    in_mortar = ((yy % bh) < mortar) | ((xs % bw) < mortar)
    shades = rng.uniform(0.78, 1.12, size=64).astype(np.float32)  # one shade per brick
    shade = shades[(row * 7 + col * 13) % 64]
    brick = _jitter_rgb(rng, (155, 60, 42), 0.7) * shade[..., None]
    grime = 0.85 + 0.3 * fractal_noise(rng, h, w, unit / 6, 2)
    mortar_rgb = _jitter_rgb(rng, (185, 180, 170), 0.3)
    return np.where(in_mortar[..., None], mortar_rgb, brick) * grime[..., None]


TEXTURES: dict[str, Callable[[np.random.Generator, int, int, float], np.ndarray]] = {
    "grass": _grass,
    "sky": _sky,
    "sand": _sand,
    "water": _water,
    "brick": _brick,
}


def render_texture(form: str, rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    """The texture `form` over a whole (H, W) frame, (H, W, 3) float32 in 0..255."""
    return TEXTURES[form](rng, h, w, unit)


# ---------------------------------------------------------------- thing shapes
# Outlines in unit coordinates (radius about 1, y down); rings and circles are drawn as ellipses.


def _star() -> np.ndarray:
    a = -np.pi / 2 + np.arange(10) * np.pi / 5
    r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x, -y - 2.5], 1) / 16.5


_A = 0.32  # half-width of a cross arm
SHAPES: dict[str, np.ndarray | None] = {
    "circle": None,
    "ring": None,
    "triangle": 1.05
    * np.array([[np.cos(a), np.sin(a)] for a in -np.pi / 2 + np.arange(3) * 2 * np.pi / 3]),
    "square": np.array([[-0.78, -0.78], [0.78, -0.78], [0.78, 0.78], [-0.78, 0.78]]),
    "diamond": np.array([[0, -1.0], [0.62, 0], [0, 1.0], [-0.62, 0]]),
    "star": _star(),
    "cross": 0.95
    * np.array(
        [[-_A, -1], [_A, -1], [_A, -_A], [1, -_A], [1, _A], [_A, _A]]
        + [[_A, 1], [-_A, 1], [-_A, _A], [-1, _A], [-1, -_A], [-_A, -_A]]
    ),
    "heart": _heart(),
}


def shape_mask(
    form: str, h: int, w: int, cx: float, cy: float, r: float, angle: float
) -> np.ndarray:
    """Boolean (H, W) mask of shape `form` centred at (cx, cy) px, radius r px, rotated by angle."""
    canvas = Image.new("1", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    outline = SHAPES[form]
    if outline is None:
        rr = 0.88 * r
        draw.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=1)
        if form == "ring":
            ri = 0.5 * r
            draw.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
    else:
        c, s = np.cos(angle), np.sin(angle)
        pts = outline @ np.array([[c, s], [-s, c]]) * r + [cx, cy]
        draw.polygon([tuple(p) for p in pts.tolist()], fill=1)
    return np.asarray(canvas, dtype=bool)


def paint_thing(
    image: np.ndarray,
    spec: ClassSpec,
    rng: np.random.Generator,
    center: tuple[float, float],
    radius: float,
    angle: float,
) -> np.ndarray:
    """Draw one jittered, shaded instance of thing `spec` into `image` (H, W, 3) in place.

    Returns the (H, W) boolean mask of the pixels it covers.
    """
    h, w = image.shape[:2]
    cx, cy = center
    mask = shape_mask(spec.form, h, w, cx, cy, radius, angle)
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return mask
    light = rng.uniform(0, 2 * np.pi)
    along = ((xs - cx) * np.cos(light) + (ys - cy) * np.sin(light)) / max(radius, 1.0)
    shade = 1 + rng.uniform(0.08, 0.2) * along.astype(np.float32)  # (N,) soft directional light
    image[ys, xs] = _jitter_rgb(rng, spec.rgb) * shade[:, None]
    return mask


# ---------------------------------------------------------------- scenes


def _layer_regions(rng: np.random.Generator, size: int, n: int, upright: bool) -> list[np.ndarray]:
    """Boolean (H, W) regions for stuff layers 1..n-1 (layer 0 fills the frame), painted in order."""
    yy, xx = _grid(size, size)
    cuts = np.sort(rng.uniform(0.25, 0.8, size=n - 1))
    regions = []
    for cut in cuts:
        theta = np.pi / 2 + rng.uniform(-0.5, 0.5) if upright else rng.uniform(0, 2 * np.pi)
        along = ((xx - size / 2) * np.cos(theta) + (yy - size / 2) * np.sin(theta)) / size + 0.5
        across = (-(xx - size / 2) * np.sin(theta) + (yy - size / 2) * np.cos(theta)) / size
        wave = rng.uniform(0.02, 0.1) * np.sin(rng.uniform(3, 12) * across + rng.uniform(0, 7))
        regions.append(along + wave > cut)
    return regions


def _pick(
    rng: np.random.Generator, pool: Sequence[str], n: int, required: Sequence[str]
) -> list[str]:
    """n distinct classes from pool, containing `required` (kept in a random position)."""
    rest = [c for c in pool if c not in required]
    chosen = list(required) + [str(c) for c in rng.permutation(rest)[: max(0, n - len(required))]]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def render_scene(
    seed: int,
    size: int = 128,
    classes_allowed: Sequence[str] | None = None,
    required: Sequence[str] = (),
    thing_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One scene: 1-3 stuff regions split by wavy curves, then 1-5 things, light and noise.

    seed fixes everything. classes_allowed limits which classes may appear (default: all; must
    include at least one stuff class); `required` classes (a subset) appear in the scene.
    thing_scale multiplies every thing's radius (12-30 % of the side at 1, so a thing spans one or
    two cells of the 4 x 4 grid that a stride-32 encoder sees at 128 px).
    Returns image (H, W, 3) uint8 and label (H, W) uint8 of indices into ALL_CLASSES.
    """
    allowed = list(ALL_CLASSES if classes_allowed is None else classes_allowed)
    unknown = [c for c in [*allowed, *required] if c not in CATALOGUE]
    if unknown:
        raise ValueError(f"unknown shapes-world classes {unknown}; expected names from ALL_CLASSES")
    stuff_pool = [c for c in allowed if CATALOGUE[c].kind == "stuff"]
    thing_pool = [c for c in allowed if CATALOGUE[c].kind == "thing"]
    if not stuff_pool:
        raise ValueError("classes_allowed has no stuff class; a scene needs a background")
    rng = np.random.default_rng(seed)
    req_stuff = [c for c in required if CATALOGUE[c].kind == "stuff"]
    req_things = [c for c in required if CATALOGUE[c].kind == "thing"]

    n_stuff = max(int(rng.integers(1, 4)), len(req_stuff))
    stuff = _pick(rng, stuff_pool, min(n_stuff, len(stuff_pool)), req_stuff)
    if "sky" in stuff:  # the sky stays on top of an upright landscape
        stuff.remove("sky")
        stuff.insert(0, "sky")
    upright = "sky" in stuff or rng.random() < 0.6
    image = render_texture(CATALOGUE[stuff[0]].form, rng, size, size, size)
    label = np.full((size, size), ALL_CLASSES.index(stuff[0]), np.uint8)
    for name, region in zip(stuff[1:], _layer_regions(rng, size, len(stuff), upright)):
        texture = render_texture(CATALOGUE[name].form, rng, size, size, size)
        image[region] = texture[region]
        label[region] = ALL_CLASSES.index(name)

    things: list[str] = []
    if thing_pool:
        things = [str(c) for c in rng.choice(thing_pool, size=int(rng.integers(1, 6)))]
    things[: len(req_things)] = req_things
    things = [things[i] for i in rng.permutation(len(things))]
    for name in things:
        radius = size * rng.uniform(0.12, 0.3) * thing_scale
        center = (size * rng.uniform(0.08, 0.92), size * rng.uniform(0.08, 0.92))
        mask = paint_thing(image, CATALOGUE[name], rng, center, radius, rng.uniform(0, 2 * np.pi))
        label[mask] = ALL_CLASSES.index(name)
    for name in req_things:  # an occluded required thing is drawn again on top
        if not (label == ALL_CLASSES.index(name)).any():
            mask = paint_thing(image, CATALOGUE[name], rng, (size / 2, size / 2), size * 0.15, 0.0)
            label[mask] = ALL_CLASSES.index(name)

    image *= np.float32(rng.uniform(0.8, 1.2))
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(2, 7))
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), label


def label_palette() -> np.ndarray:
    """(len(ALL_CLASSES), 3) uint8 legend colours: a thing's base colour, a texture's mean."""
    return np.array([CATALOGUE[c].rgb for c in ALL_CLASSES], np.uint8)


def contact_sheet(
    images: Sequence[Image.Image | np.ndarray], cols: int, pad: int = 2
) -> Image.Image:
    """Tile images (PIL or uint8 HWC arrays, resized to the first one's size) in rows of `cols`."""
    tiles = [im if isinstance(im, Image.Image) else Image.fromarray(im) for im in images]
    if not tiles or cols < 1:
        raise ValueError("contact_sheet needs at least one image and cols >= 1")
    w, h = tiles[0].size
    rows = -(-len(tiles) // cols)
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), (255, 255, 255))
    for i, tile in enumerate(tiles):
        tile = tile.convert("RGB").resize((w, h), Image.Resampling.NEAREST)
        sheet.paste(tile, (pad + (i % cols) * (w + pad), pad + (i // cols) * (h + pad)))
    return sheet
