"""The page of `dpseg app`: drop a photo, name classes, see the overlay, download the labels.

`answer()` does the work and never raises: a bad image or an empty class list becomes a readable
message on the page. `build_page()` lays it out with gradio (imported here only).
"""

from __future__ import annotations

import html
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from cli.app_model import WarmModel
from promptbank.errors import DpsegError

INFERENCE = {"I (one pass)": 1, "II (prompts refined from the image)": 2}
TYPED = "(type your own)"
BANK = "the bank's classes"


@dataclass
class Answer:
    """What one click shows."""

    overlay: str | None  # path of the overlay PNG: the photo with its segmentation and legend
    legend: str  # HTML: one row per class (colour, name, pixel share), largest first
    labels: str | None  # path of the label PNG (class index per pixel) to download
    message: str  # Markdown: what was done, or what went wrong and how to fix it


def class_names(text: str | None) -> list[str]:
    """'sky, grass\\nred circle' -> ['sky', 'grass', 'red circle'] (commas or new lines)."""
    parts = (text or "").replace("\n", ",").split(",")
    return [p.strip() for p in parts if p.strip()]


def vocabulary_text(choice: str, model: WarmModel) -> str:
    """The class list a vocabulary choice puts in the text box."""
    if choice == BANK:
        return ", ".join(model.bank_classes)
    if choice in (TYPED, None, ""):
        return ""
    from promptbank.vocab import load_vocabulary

    return ", ".join(load_vocabulary(choice).classes)


def answer(
    model: WarmModel, image: str | None, text: str | None, inference: str, out: Path, max_side: int
) -> Answer:
    """Segment the uploaded file `image` into the classes in `text`; never raises."""
    names = class_names(text)
    if not image:
        return Answer(None, "", None, "**Drop an image** (JPEG, PNG, ...) on the left first.")
    if not names:
        return Answer(None, "", None, "**Name at least one class**, e.g. `sky, grass, water`, "
                      "or pick a vocabulary.")  # fmt: skip
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        return Answer(None, "", None, f"**Each class once, please:** {', '.join(twice)} "
                      "is given twice.")  # fmt: skip
    try:
        return _segment(model, Path(image), names, INFERENCE.get(inference, 1), out, max_side)
    except (DpsegError, OSError) as error:
        return Answer(None, "", None, f"**Could not segment this image:** {error}")
    except Exception as error:  # noqa: BLE001 - the page must answer, not show a traceback
        if os.environ.get("DPSEG_DEBUG") == "1":
            traceback.print_exc(file=sys.stderr)
        return Answer(None, "", None, f"**Something went wrong:** {type(error).__name__}: "
                      f"{error} (run with DPSEG_DEBUG=1 for the traceback)")  # fmt: skip


def _segment(model, image: Path, names, inference: int, out: Path, max_side: int) -> Answer:
    import numpy as np
    from PIL import Image

    from segmodel.overlay import class_colors, overlay, pixel_shares
    from segmodel.photo import read_photo

    photo = read_photo(image, max_side)
    result = model.segment(photo.working, names, inference)
    labels = photo.full_size(result.labels, len(names))  # (H, W) at the photo's own size
    shares = pixel_shares(labels, len(names))
    out.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{image.stem[:40]}-labels-", suffix=".png", dir=out)
    os.close(fd)
    Image.fromarray(labels).save(name, format="PNG")
    picture = name.removesuffix(".png").replace("-labels-", "-overlay-") + ".png"
    overlay(photo.image, labels, names).save(picture, format="PNG", compress_level=1)
    order = np.argsort(-shares, kind="stable")
    colors = class_colors(names)
    rows = "".join(
        f'<li data-class="{html.escape(names[i])}"><span class="swatch" style="background:'
        f'rgb{tuple(int(c) for c in colors[i])}"></span>{html.escape(names[i])}'
        f'<span class="share">{100 * shares[i]:.1f}%</span></li>'
        for i in order
    )
    w, h = photo.size
    passes = f", inference {'II' if inference == 2 else 'I'}" if model.two_passes else ""
    notes = f" ({'; '.join(photo.notes)})" if photo.notes else ""
    message = f"Segmented {w}x{h} into {len(names)} classes{passes}{notes}."
    return Answer(picture, f'<ul class="legend">{rows}</ul>', name, message)


def uploaded_path(payload, upload_dir: str) -> str | None:
    """The file an image payload names, only if it lies in gradio's upload folder (a client
    could name any path; only uploads may be read)."""
    path = payload.get("path") if isinstance(payload, dict) else None
    if not path:
        return None
    resolved, root = Path(path).resolve(), Path(upload_dir).resolve()
    return str(resolved) if resolved.is_relative_to(root) else None


CSS = """
.legend { list-style: none; padding: 0; margin: 0; }
.legend li { display: flex; align-items: center; gap: 8px; padding: 2px 0; }
.legend .swatch { width: 14px; height: 14px; border: 1px solid #000; display: inline-block; }
.legend .share { margin-left: auto; font-variant-numeric: tabular-nums; }
"""


def build_page(model: WarmModel, *, out: Path, max_side: int, vocabularies: list[str]):
    """The gradio Blocks of the page (not launched)."""
    import gradio as gr

    choices = [TYPED] + ([BANK] if model.bank_classes else []) + vocabularies
    with gr.Blocks(title="dpseg") as page:
        gr.Markdown(f"## dpseg: segment an image into the classes you name\n{model.description}")
        with gr.Row():
            with gr.Column():
                photo = gr.Image(label="Image", type="filepath", image_mode=None,
                                 sources=["upload", "clipboard"], elem_id="photo")  # fmt: skip
                vocab = gr.Dropdown(choices, value=TYPED, label="Vocabulary", elem_id="vocab")
                classes = gr.Textbox(label="Class names (commas or one per line)", lines=2,
                                     placeholder="sky, grass, water", elem_id="classes")  # fmt: skip
                inference = gr.Radio(list(INFERENCE), value=next(iter(INFERENCE)),
                                     label="Inference", visible=model.two_passes,
                                     elem_id="inference")  # fmt: skip
                run = gr.Button("Segment", variant="primary", elem_id="run")
            with gr.Column():
                message = gr.Markdown(elem_id="message")
                picture = gr.Image(label="Overlay", type="filepath", format="png", interactive=False,
                                   elem_id="overlay")  # fmt: skip
                legend = gr.HTML(elem_id="legend")
                labels = gr.File(label="Label map (PNG, class index per pixel)",
                                 interactive=False, elem_id="labels")  # fmt: skip

        def on_run(image, text, mode):
            # Raw payloads (preprocess=False): gradio's own image decoding would answer a bad file
            # with a technical error; `answer` reads the upload itself and says what is wrong.
            path = uploaded_path(image, photo.GRADIO_CACHE)
            a = answer(model, path, text, mode, out, max_side)
            return a.overlay, a.legend, a.labels, a.message

        run.click(on_run, [photo, classes, inference], [picture, legend, labels, message],
                  preprocess=False)  # fmt: skip
        vocab.change(lambda choice: vocabulary_text(choice, model), vocab, classes)
    return page
