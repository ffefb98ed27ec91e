"""`dpseg world`: the shapes world's own CLIP: pretrain it on captioned renders, check it zero-shot."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="The shapes world's CLIP: pretrain it on captioned renders and check it zero-shot.",
    no_args_is_help=True,
)


@app.command("pretrain-clip")
def pretrain_clip(
    out: Path = typer.Option(
        ..., "--out", help="Checkpoint to write (.safetensors); OUT.json gets the recipe."
    ),
    seed: int = typer.Option(
        0, help="Seed of the corpus, the initialisation order and the batches."
    ),
    steps: int = typer.Option(3600, min=1, help="Optimiser steps (batch 128)."),
    pool: int = typer.Option(30_000, min=1, help="Captioned renders in the training pool."),
    batch_size: int = typer.Option(128, min=2, help="Images per step."),
    lr: float = typer.Option(1e-3, min=0.0, help="Peak learning rate (warm-up, cosine decay)."),
    threads: int = typer.Option(
        2, min=1, help="Torch threads (the weights are reproducible for a fixed count)."
    ),
    init: str = typer.Option(
        "",
        help="Go on from these weights (tiny-world, or a .safetensors file) instead of a random init.",
    ),
    scene_fraction: float = typer.Option(
        0.5,
        min=0.0,
        max=1.0,
        help="Share of multi-object scenes in the pool; the rest are single concepts drawn as a "
        "bank draws its prompt images.",
    ),
) -> None:
    """Pretrain the tiny open_clip model contrastively on the caption corpus (deterministic per seed).

    The shipped `tiny-world` encoder is `dpseg world pretrain-clip --out tiny-world.safetensors`
    (about 40 min on 2 cores). Load the result with `--encoder tiny-world --encoder-weights OUT`.

    Example: dpseg world pretrain-clip --out runs/tiny-world.safetensors --seed 1
    Example: dpseg world pretrain-clip --out runs/longer.safetensors --init tiny-world --seed 1
    """
    from promptbank.errors import DpsegError

    if out.suffix != ".safetensors":
        raise DpsegError(
            f"--out {out}: must end in .safetensors (e.g. --out {out.with_suffix('.safetensors')})"
        )
    from promptbank.world.pretrain import PretrainRecipe, pretrain

    recipe = PretrainRecipe(
        seed=seed,
        steps=steps,
        pool=pool,
        batch_size=batch_size,
        lr=lr,
        threads=threads,
        init=init,
        scene_fraction=scene_fraction,
    )
    record = pretrain(recipe, out)
    typer.echo(
        f"wrote {out} ({record['bytes'] / 1e6:.1f} MB, sha256 {record['sha256'][:12]}..., "
        f"final loss {record['final_loss']:.3f}); recipe in {out.with_name(out.stem + '.json')}"
    )


@app.command("zero-shot")
def zero_shot(
    encoder: str = typer.Option(
        "tiny-world", help="Encoder name (tiny-world, tiny, or any open_clip ARCH)."
    ),
    encoder_weights: Path | None = typer.Option(
        None, help="Checkpoint of the encoder (default: its shipped or cached file)."
    ),
    per_class: int = typer.Option(30, min=1, help="Test renders per class."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Top-1 zero-shot accuracy on single-object renders: seen, unseen and held-out colour x shape pairs.

    Example: dpseg world zero-shot --encoder tiny --per-class 10
    """
    from promptbank.encoder import load_encoder
    from promptbank.world import zeroshot

    report = zeroshot.zero_shot(load_encoder(encoder, weights=encoder_weights), per_class=per_class)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for size, groups in report.items():
        for group, scores in groups.items():
            figures = ", ".join(
                f"{k} {100 * v:.0f} %" for k, v in scores.items() if k != "per_class"
            )
            typer.echo(f"{encoder} at {size}, {group}: {figures}")
