"""Ordinary photographs in, outputs at the photo's own size out.

    photo = read_photo("IMG_0042.jpg")            # upright (EXIF), RGB, any mode or size
    result = segmenter.segment(photo.working, ["sky", "tree"])
    labels = photo.full_size(result.labels, 2)    # (H, W) at the photo's own size

The model looks at `working`, a copy whose long side is at most `max_side` (it resizes its input
to a few hundred pixels anyway); the label map is then scaled back to the photo by nearest
neighbour, so a 12-megapixel photo costs a 12-megapixel uint8 map, not a float map per class.
Reading never raises anything but PhotoRefused (a DpsegError), with one line saying why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from segmodel.errors import InputError

MIN_SIDE = 16  # smaller images are refused: nothing to segment at 1/4 resolution
MAX_SIDE = 2048  # the model's copy of a larger photo is downscaled to this long side


class PhotoRefused(InputError):
    """One image file that cannot be segmented (a batch goes on with the others)."""


@dataclass
class Photo:
    """A photograph ready to segment."""

    image: Image.Image  # RGB at the photo's own size, EXIF orientation applied
    working: Image.Image  # RGB, long side <= max_side: what the model is given
    stored_size: tuple[int, int]  # (W, H) as stored in the file (before EXIF rotation)
    notes: list[str] = field(default_factory=list)  # what was converted, for the user

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) of the outputs: the photo as a viewer shows it."""
        return self.image.size

    def full_size(self, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """labels (h, w) at the working size -> (H, W) at the photo's size, uint8 for up to 256
        classes, else uint16 (so it saves as an 8- or 16-bit PNG)."""
        dtype = np.uint8 if num_classes <= 256 else np.uint16
        small = np.ascontiguousarray(labels, dtype=dtype)
        if small.shape == (self.image.height, self.image.width):
            return small
        mode = "L" if dtype == np.uint8 else "I;16"
        up = Image.fromarray(small, mode).resize(self.image.size, Image.Resampling.NEAREST)
        return np.asarray(up, dtype=dtype)


def read_photo(source: str | Path, max_side: int = MAX_SIDE) -> Photo:
    """Open an image file as an upright RGB Photo (see the module docstring).

    EXIF orientation is applied; CMYK, grayscale, palette, 16-bit and float images are converted;
    transparency is composited on white. Unreadable and tiny images raise PhotoRefused."""
    image = _open(Path(source))
    stored = image.size
    notes: list[str] = []
    orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation tag; 1 = upright
    if orientation not in (0, 1):
        image = ImageOps.exif_transpose(image)
        notes.append(f"EXIF orientation {orientation} applied")
    image = _to_rgb(image, notes)
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise PhotoRefused(f"is {w}x{h} pixels; expected at least {MIN_SIDE} on each side")
    working = image
    if max(w, h) > max_side:
        scale = max_side / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        working = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        notes.append(f"segmented at {size[0]}x{size[1]}, outputs at {w}x{h}")
    return Photo(image, working, stored, notes)


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise PhotoRefused("no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()
    except Image.DecompressionBombError as error:
        raise PhotoRefused(f"too large to decode safely ({error}); downscale it first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise PhotoRefused(f"not a readable image ({type(error).__name__}: {error})") from None
    return image


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """Any PIL mode -> RGB, noting each conversion a user may want to know about."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray((array / top * 255).clip(0, 255).astype(np.uint8), "L")
        notes.append(f"{'16-bit' if top > 255 else image.mode} values scaled to 8 bits")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
        notes.append("alpha composited on white")
    elif image.mode == "CMYK":
        notes.append("CMYK converted to RGB")
    elif image.mode in ("L", "1"):
        notes.append("grayscale converted to RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
