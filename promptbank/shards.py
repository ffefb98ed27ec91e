"""Image shards: webdataset tar files, one sample per generated image (the only webdataset importer).

A sample is `KEY.png` (the image) plus `KEY.json` ({"class", "template", "template_index", "k",
"prompt", "seed"}). Keys are `c{class:05d}_t{template:03d}_k{k:02d}` (indices, never names: a dot
or slash in a name would break webdataset's grouping). Tars are written with mtime 0 and fixed
owner names, so the same samples give the same bytes, through a temporary name that is renamed
into place when complete.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from promptbank.errors import BankError
from promptbank.format import publish
from promptbank.safety import check_member


@dataclass(frozen=True)
class ImageSample:
    """One generated image with its provenance."""

    key: str  # c{class:05d}_t{template:03d}_k{k:02d}
    png: bytes  # the encoded PNG
    meta: dict  # class, template, template_index, k, prompt, seed

    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.png)).convert("RGB")


def sample_key(class_index: int, template_index: int, k: int) -> str:
    return f"c{class_index:05d}_t{template_index:03d}_k{k:02d}"


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


class ImageShardWriter:
    """Writes samples to `<path>.tmp`; `close()` fsyncs and renames it to `path`."""

    def __init__(self, path: str | Path):
        import webdataset as wds

        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._file = open(self.tmp, "wb")
        self._tar = wds.TarWriter(
            self._file, user="dpseg", group="dpseg", mode=0o444, encoder=False, mtime=0.0
        )
        self.count = 0

    def write(self, sample: ImageSample) -> None:
        meta = json.dumps(sample.meta, sort_keys=True, ensure_ascii=False).encode("utf-8")
        self._tar.write({"__key__": sample.key, "png": sample.png, "json": meta})
        self.count += 1

    def close(self) -> Path:
        self._tar.close()  # closes the file object too
        if not self._file.closed:
            self._file.close()
        publish(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._tar.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def read_samples(path: str | Path) -> Iterator[ImageSample]:
    """Samples of an image shard in file order (plain tarfile; BankError if damaged)."""
    path = Path(path)
    current: dict = {}
    key = None
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                check_member(member.name, member.isfile(), path)
                stem, _, ext = member.name.partition(".")
                if stem != key and current:
                    yield _sample(key, current, path)
                    current = {}
                key = stem
                current[ext] = tar.extractfile(member).read()
            if current:
                yield _sample(key, current, path)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BankError(f"image shard {path} is damaged ({e}); rebuild the bank") from None


def _sample(key: str, parts: dict, path: Path) -> ImageSample:
    if "png" not in parts or "json" not in parts:
        raise BankError(f"image shard {path}: sample {key} lacks png or json; rebuild the bank")
    try:
        meta = json.loads(parts["json"].decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict):
        raise BankError(f"image shard {path}: sample {key} has damaged JSON; rebuild the bank")
    return ImageSample(key=key, png=parts["png"], meta=meta)
