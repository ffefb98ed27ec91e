"""`dpseg demo`: the main job on the embedded default (the shapes world), end to end on a CPU.

Steps (see `cli.demo_steps`): build the shapes bank with the world's pretrained CLIP, train
DPSeg-tiny with dual prompts and a text-only baseline the same way, score text only, dual inference
I and II, and VIP training-free and bank-seeded on the val scenes, draw overlays, write results.json / results.md and print the table. No torch at module
level: `dpseg --help` must stay light.
"""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Folder for every output."),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda:0."),
    quick: bool = typer.Option(
        False, "--quick", help="Every step at toy size (under a minute): a smoke test, no science."
    ),
    steps_per_model: int | None = typer.Option(
        None,
        "--steps",
        min=1,
        help="Training steps per model (default 1600; 800 takes half the time and scores lower, "
        "docs/demo.md).",
    ),
    seed: int = typer.Option(
        0, "--seed", help="Training seed of both models (the bank keeps seed 0)."
    ),
    prototypes: int | None = typer.Option(
        None,
        "--prototypes",
        min=1,
        help="Visual-cost prototypes P of the dual model (default 2: it beat 4 on unseen "
        "classes at every seed in `dpseg ablate prototypes`).",
    ),
    encoder: str = typer.Option(
        "tiny-world",
        "--encoder",
        help="CLIP of bank, models and VIP: tiny-world (pretrained) or tiny (random).",
    ),
    overrides: list[str] = typer.Option(
        [],
        "--set",
        help="More training settings as section.key=value (repeatable), e.g. "
        "--set model.overrides.freeze_encoder=false.",
    ),
) -> None:
    """Run the shapes-world demo end to end and print what it measured.

    Re-running with the same --out reuses the bank and finished models.

    Examples: dpseg demo --out runs/demo;  dpseg demo --out runs/demo_seed1 --seed 1
    """
    import dataclasses
    import time

    from cli import demo_steps as steps

    settings = steps.DemoSettings.quick() if quick else steps.DemoSettings()
    if steps_per_model is not None:
        settings = dataclasses.replace(settings, steps=steps_per_model)
    if prototypes is not None:
        settings = dataclasses.replace(settings, prototypes=prototypes)
    settings = dataclasses.replace(
        settings, encoder=encoder, extra=(*settings.extra, f"run.seed={seed}", *overrides)
    )
    wall, cpu = time.perf_counter(), steps.cpu_seconds()
    timing: dict[str, float] = {}
    out.mkdir(parents=True, exist_ok=True)
    bank_dir = out / "bank"

    t = steps.stage(
        1,
        4,
        f"building the shapes bank in {bank_dir} (procedural generator, {settings.encoder} CLIP)",
    )
    before = steps.bank_id(bank_dir)
    bank = steps.build_shapes_bank(settings, bank_dir, device)
    timing["bank_seconds"] = steps.done(t, "bank ready")
    if before is not None and before != steps.bank_id(bank):
        steps.forget_models(out)  # they were trained with the bank that was just replaced

    t = steps.stage(2, 4, "training DPSeg-tiny with dual prompts and the text-only baseline")
    dual, text = steps.train_pair(settings, bank, out, device)
    timing["train_seconds"] = steps.done(t, f"models -> {dual}, {text}")

    t = steps.stage(
        3, 4, f"scoring {settings.val_scenes} val scenes (text only, dual I and II, VIP with and "
        "without the bank)"
    )  # fmt: skip
    rows = {
        "text_only": steps.evaluate_row(settings, bank, text, 1, device),
        "dual_inference1": steps.evaluate_row(settings, bank, dual, 1, device),
        "dual_inference2": steps.evaluate_row(settings, bank, dual, 2, device),
        "vip_training_free": steps.evaluate_vip_row(settings, None, device),
        "vip_bank_seeded": steps.evaluate_vip_row(settings, bank, device),
    }
    timing["eval_seconds"] = steps.done(t, "scored")

    t = steps.stage(4, 4, "drawing val scenes next to their ground truth, and the loss curves")
    pictures = steps.write_overlays(settings, bank, dual, text, out / "overlays", device)
    pictures.append(steps.write_loss_curves(dual, text, out / "loss.png"))
    timing["overlay_seconds"] = steps.done(t, f"{len(pictures)} pictures -> {out}")

    timing["wall_seconds"] = time.perf_counter() - wall
    timing["cpu_seconds"] = steps.cpu_seconds() - cpu
    steps.write_results(rows, settings, out, timing)
    gain = rows["dual_inference1"]["unseen_miou"] - rows["text_only"]["unseen_miou"]
    typer.echo(steps.table(rows))
    typer.echo(
        f"\nvisual prompts on unseen classes: {gain:+.1f} mIoU; "
        f"{timing['wall_seconds']:.0f} s wall, {timing['cpu_seconds']:.0f} s CPU"
    )
    typer.echo(
        f"-> {out / 'results.json'}, {out / 'results.md'}, {out / 'overlays.png'}, "
        f"{out / 'loss.png'}"
    )
