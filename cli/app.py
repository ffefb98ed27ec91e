"""`dpseg app`: a local web page to try class names on your own images (gradio, `dpseg[app]`).

The model loads once, before the page opens, and stays warm. Thin: the page is cli/app_page.py,
the model cli/app_model.py. No torch or gradio at module level (`dpseg --help` stays light).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import typer

from cli.options import CHECKPOINT_HELP
from cli.vip_options import add_vip_flags
from promptbank.errors import DpsegError


class AppUsageError(DpsegError):
    """`dpseg app` options that do not fit together, or the page's extra not installed."""

    exit_code = 2


def _app(
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help=CHECKPOINT_HELP),
    bank: Path | None = typer.Option(
        None, "--bank", help="Prompt bank folder (default: the one the checkpoint trained with)."
    ),
    method: str = typer.Option(
        "dpseg", "--method", help="dpseg (needs --checkpoint) or vip (training-free)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to serve on (0.0.0.0 opens it to your network)."
    ),
    port: int = typer.Option(7860, "--port", help="Port to serve on."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:1 or auto."),
    max_side: int = typer.Option(
        2048, "--max-side", help="The model sees larger photos downscaled to this long side."
    ),
    encoder_weights: Path | None = typer.Option(
        None, "--encoder-weights", help="The prompt encoder's CLIP weights (a local file)."
    ),
    vip: dict | None = None,
) -> None:
    """Open a local web page: drop an image, name classes, see the overlay and pixel shares.

    dpseg app --checkpoint runs/demo/dual

    dpseg app --method vip --backbone tiny-world --port 8000
    """
    if method not in ("dpseg", "vip"):
        raise AppUsageError(f"--method {method!r}: expected dpseg or vip")
    if method == "dpseg" and checkpoint is None:
        raise AppUsageError(
            "--checkpoint is missing: pass a run folder from `dpseg train` (or use --method vip)"
        )
    if not 0 < port < 65536:
        raise AppUsageError(f"--port {port}: expected 1 to 65535")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local page phones no one
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise AppUsageError(
            "the web page needs gradio: pip install 'dpseg[app]' (or pip install gradio)"
        ) from None
    from cli.app_model import load_warm_model
    from cli.app_page import CSS, build_page
    from promptbank.vocab import BUILTIN_VOCABULARIES

    print("dpseg app: loading the model ...", file=sys.stderr, flush=True)
    model = load_warm_model(method, checkpoint, bank, vip, device, encoder_weights)
    out = Path(tempfile.mkdtemp(prefix="dpseg-app-"))  # the answers' PNGs, removed on exit
    atexit.register(shutil.rmtree, out, True)
    page = build_page(model, out=out, max_side=max_side, vocabularies=list(BUILTIN_VOCABULARIES))
    print(f"dpseg app: {model.description}; open http://{host}:{port}", file=sys.stderr,
          flush=True)  # fmt: skip
    page.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, share=False, inbrowser=False, quiet=True,
        show_error=True, allowed_paths=[str(out)], css=CSS, footer_links=[],
    )  # fmt: skip


app = add_vip_flags(_app)
