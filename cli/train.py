"""`dpseg train`: run or resume a training config. No torch at module level."""

from __future__ import annotations

from pathlib import Path

import typer


def train(
    config: Path = typer.Argument(
        ..., help="Training config (TOML), e.g. configs/shapes_tiny.toml."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a setting: section.key=value (repeatable)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in run.out from its latest checkpoint."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress line."),
) -> None:
    """Train DPSeg from a TOML config; checkpoints and logs go to run.out.

    Example (CPU, a few minutes, no weights needed):

        dpseg train configs/shapes_tiny.toml --set run.steps=200 --set run.out=runs/try

    Several GPUs: accelerate launch --num_processes 4 $(which dpseg) train CONFIG
    """
    from segmodel.training import load_config

    settings = load_config(config, set_)  # settings errors surface before torch is imported
    from segmodel.training import train as run_training

    result = run_training(settings, resume=resume, progress=not quiet)
    if not result.main:
        return
    if result.model_path is not None:
        log = result.model_path.parent / "log.jsonl"
        if log.is_file() and log.stat().st_size:
            from segmodel.plots import write_loss_chart

            write_loss_chart({"training": log}, log.with_name("loss.png"))
        typer.echo(f"trained {result.steps_done} steps -> {result.model_path}")
    else:
        typer.echo(f"stopped at step {result.steps_done}; continue with --resume")
