"""Before a build loads anything: are the weights its recipe names on this disk?

A missing generator or encoder is reported once, both at a time, in one line that says where dpseg
looked and names both ways out: put the weights there (or pass folders), or try the pipeline with
the built-in models that need no weights. Torch-free for the catalogue's names.
"""

from __future__ import annotations

from pathlib import Path

from promptbank import catalog
from promptbank.errors import RecipeWeightsMissingError, WeightsNotFoundError

BUILT_IN_GENERATORS = ("procedural", "tiny-sd")  # need no weights
TRY_WITHOUT_WEIGHTS = "--generator procedural --encoder tiny"


def check_weights(generator, encoder, encoder_weights: str | Path | None = None) -> None:
    """RecipeWeightsMissingError when a named generator or encoder has no weights on this disk.

    Loaded objects and built-in names pass; unknown names are left to the loaders' own errors."""
    missing = []  # "what (where it was looked for)"
    if isinstance(generator, str):
        missing += _generator_missing(generator)
    if isinstance(encoder, str) and encoder_weights is None:
        missing += _encoder_missing(encoder)
    if missing:
        raise RecipeWeightsMissingError(
            f"no weights for {' or '.join(missing)} in the Hugging Face cache "
            f"{catalog.hub_cache_dir()}: download them there (`hf download REPO`) or pass "
            "folders (--generator DIR, --encoder-weights FILE); or try the pipeline without "
            f"weights: {TRY_WITHOUT_WEIGHTS}"
        )


def _generator_missing(name: str) -> list[str]:
    if name in BUILT_IN_GENERATORS or Path(name).expanduser().is_dir():
        return []
    entry = catalog.GENERATORS.get(name)
    repo = entry.hf_repo if entry else name
    if repo is None or "/" not in repo:
        return []  # not a hub id: the generator loader names the choices
    if catalog.generator_snapshot(repo) is not None:
        return []
    return [f"generator {name} ({repo}/model_index.json)"]


def _encoder_missing(name: str) -> list[str]:
    entry = catalog.ENCODERS.get(name)
    if entry is not None:
        if entry.hf_repo is None or catalog.encoder_weights(entry) is not None:
            return []  # built in (tiny, tiny-world: their own loader checks), or cached
        return [f"encoder {name} ({entry.hf_repo}/{catalog.OPEN_CLIP_WEIGHT_FILES[0]})"]
    if ":" not in name or name.startswith("local-dir:"):
        return []  # a folder or a bare architecture: the encoder loader explains
    from promptbank.encoder import resolve_clip  # open_clip knows the tag's repository

    try:
        resolve_clip(name)
    except WeightsNotFoundError:
        return [f"encoder {name} (its open_clip weights)"]
    return []
