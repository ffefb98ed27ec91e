"""Pictures of segmentations: colour overlays with a legend, side by side with ground truth, sheets.

    from segmodel.overlay import overlay, side_by_side
    overlay(image, result.labels, result.classes).save("overlay.png")
    side_by_side(image, pred, gt, classes, titles=("image", "truth", "dual I")).save("row.png")

Label maps index `classes`; values outside it (e.g. the ignore label 255) are drawn grey. Colours
are fixed per class name: shapes-world classes keep their legend colour, any other name gets a
colour hashed from its text, so a class looks the same in every picture and every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

IGNORE_RGB = (128, 128, 128)  # pixels whose label is not a class (ignore, out of range)
PAD = 4  # pixels between panels and around legend rows


def class_colors(classes: Sequence[str]) -> np.ndarray:
    """(C, 3) uint8 colour per class name (shapes-world legend colours, else hashed)."""
    from promptbank.world.shapes import CATALOGUE

    out = np.zeros((len(classes), 3), np.uint8)
    for i, name in enumerate(classes):
        spec = CATALOGUE.get(name)
        if spec is not None:
            out[i] = spec.rgb
        else:
            digest = hashlib.sha256(name.encode("utf-8")).digest()
            out[i] = [64 + b % 192 for b in digest[:3]]  # not too dark to read on
    return out


def colorize(labels: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """labels (H, W) ints, colors (C, 3) uint8 -> (H, W, 3) uint8; labels outside 0..C-1 grey."""
    labels = np.asarray(labels)
    out = np.empty((*labels.shape, 3), np.uint8)
    out[:] = IGNORE_RGB
    valid = (labels >= 0) & (labels < len(colors))
    out[valid] = np.asarray(colors, np.uint8)[labels[valid]]
    return out


def pixel_shares(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C,) fraction of the pixels of `labels` (H, W) given to each class."""
    labels = np.asarray(labels).ravel()
    valid = labels[(labels >= 0) & (labels < num_classes)]
    counts = np.bincount(valid, minlength=num_classes)[:num_classes]
    return counts / max(1, labels.size)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow built without FreeType
        return ImageFont.load_default()


def _as_rgb(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return array[..., :3].astype(np.uint8)


def blend(image, labels: np.ndarray, colors: np.ndarray, alpha: float = 0.55) -> Image.Image:
    """The image (H, W, 3) with label colours laid over it at opacity `alpha`, region edges dark.

    Done by PIL in uint8 (no float copies): a 12-megapixel photo costs a few 12 MB planes."""
    rgb = (
        image.convert("RGB") if isinstance(image, Image.Image) else Image.fromarray(_as_rgb(image))
    )
    labels = np.asarray(labels)
    if (rgb.height, rgb.width) != labels.shape:
        raise ValueError(
            f"image is {(rgb.height, rgb.width)} but labels are {labels.shape}: same H, W needed"
        )
    mixed = Image.blend(rgb, _painted(labels, colors), alpha)
    index = labels if labels.dtype == np.uint8 else labels.astype(np.int32)
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= index[:, 1:] != index[:, :-1]
    edge[1:, :] |= index[1:, :] != index[:-1, :]
    dark = mixed.point(lambda v: int(v * 0.35))
    mixed.paste(dark, mask=Image.fromarray(edge.view(np.uint8) * np.uint8(255), "L"))
    return mixed


def _painted(labels: np.ndarray, colors: np.ndarray) -> Image.Image:
    """The label map in class colours (grey outside 0..C-1), via a palette image when C < 256."""
    colors = np.asarray(colors, np.uint8)
    if len(colors) >= 256:
        return Image.fromarray(colorize(labels, colors))
    valid = (labels >= 0) & (labels < len(colors))
    index = np.where(valid, labels, len(colors)).astype(np.uint8)  # (H, W); C = the grey
    palette = np.concatenate([colors, np.array([IGNORE_RGB], np.uint8)])
    painted = Image.frombytes("P", (index.shape[1], index.shape[0]), index.tobytes())
    painted.putpalette(palette.ravel().tolist())
    return painted.convert("RGB")


def legend(
    classes: Sequence[str],
    colors: np.ndarray,
    shares: Sequence[float] | None = None,
    *,
    height: int | None = None,
    font_size: int = 12,
) -> Image.Image:
    """A white panel with one swatch + name (+ pixel share) row per class; `height` pads it."""
    font = _font(font_size)
    row = font_size + PAD
    names = [
        name if shares is None else f"{name}  {100 * share:.1f}%"
        for name, share in zip(classes, shares if shares is not None else classes)
    ]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max([probe.textlength(n, font=font) for n in names] + [40])
    panel = Image.new(
        "RGB",
        (int(width) + row + 3 * PAD, max(height or 0, len(names) * row + 2 * PAD)),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(panel)
    for i, (name, color) in enumerate(zip(names, colors)):
        y = PAD + i * row
        draw.rectangle([PAD, y, PAD + font_size, y + font_size], fill=tuple(int(c) for c in color))
        draw.rectangle([PAD, y, PAD + font_size, y + font_size], outline=(0, 0, 0))
        draw.text((2 * PAD + font_size, y - 1), name, fill=(0, 0, 0), font=font)
    return panel


def hstack(panels: Sequence[Image.Image], pad: int = PAD) -> Image.Image:
    """Panels left to right on white, tops aligned."""
    width = sum(p.width for p in panels) + pad * (len(panels) + 1)
    height = max(p.height for p in panels) + 2 * pad
    out = Image.new("RGB", (width, height), (255, 255, 255))
    x = pad
    for p in panels:
        out.paste(p.convert("RGB"), (x, pad))
        x += p.width + pad
    return out


def vstack(rows: Sequence[Image.Image]) -> Image.Image:
    """Images top to bottom on white, left aligned (a contact sheet of rows)."""
    if not rows:
        raise ValueError("vstack needs at least one image")
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r.convert("RGB"), (0, y))
        y += r.height
    return out


def titled(panel: Image.Image, title: str, font_size: int = 12) -> Image.Image:
    """`panel` with a one-line caption above it."""
    out = Image.new("RGB", (panel.width, panel.height + font_size + PAD), (255, 255, 255))
    ImageDraw.Draw(out).text((1, 0), title, fill=(0, 0, 0), font=_font(font_size))
    out.paste(panel.convert("RGB"), (0, font_size + PAD))
    return out


def overlay(
    image,
    labels: np.ndarray,
    classes: Sequence[str],
    *,
    alpha: float = 0.55,
    only_present: bool = True,
) -> Image.Image:
    """The image with its segmentation laid over it and a legend (name, pixel share) at the right.

    image PIL or (H, W, 3) uint8; labels (H, W) indices into `classes`. The legend lists the
    classes present, largest first (all classes when `only_present` is False).
    """
    colors = class_colors(classes)
    shares = pixel_shares(labels, len(classes))
    order = np.argsort(-shares, kind="stable")
    if only_present:
        order = [i for i in order if shares[i] > 0]
    picture = blend(image, labels, colors, alpha)
    key = legend(
        [classes[i] for i in order],
        colors[list(order)],
        [shares[i] for i in order],
        height=picture.height,
    )
    return hstack([picture, key], pad=0)


def side_by_side(
    image,
    predictions: Sequence[np.ndarray] | np.ndarray,
    truth: np.ndarray | None,
    classes: Sequence[str],
    *,
    titles: Sequence[str] | None = None,
    scale: int = 1,
    alpha: float = 0.7,
) -> Image.Image:
    """One row: the image, the ground truth (if given), then each prediction, and one legend.

    predictions: one (H, W) label map or a list of them (e.g. several models on the same image);
    titles: captions for [image, truth?, *predictions]; scale: integer upscaling (small scenes).
    """
    preds = [predictions] if isinstance(predictions, np.ndarray) else list(predictions)
    maps = ([truth] if truth is not None else []) + preds
    colors = class_colors(classes)
    rgb = _as_rgb(image)
    size = (rgb.shape[1] * scale, rgb.shape[0] * scale)
    panels = [Image.fromarray(rgb).resize(size, Image.Resampling.NEAREST)]
    panels += [blend(rgb, m, colors, alpha).resize(size, Image.Resampling.NEAREST) for m in maps]
    if titles is None:
        titles = ["image"] + (["ground truth"] if truth is not None else [])
        titles += [f"prediction {i + 1}" for i in range(len(preds))]
    if len(titles) != len(panels):
        raise ValueError(f"{len(titles)} titles for {len(panels)} panels (image, truth, preds)")
    shown = sorted({int(v) for m in maps for v in np.unique(m) if 0 <= v < len(classes)})
    panels = [titled(p, t) for p, t in zip(panels, titles)]
    key = legend([classes[i] for i in shown], colors[shown], height=panels[0].height)
    return hstack([*panels, key])
