"""`dpseg ablate NAME`: one of the paper's ablations on the shapes world, with a verdict per claim.

The rows, claims and the paper's numbers of each ablation are in `cli.ablation.catalog`; the work
(banks, training two rows at a time, evaluation) in `cli.ablation.jobs`; the files in
`cli.ablation.report`. No torch at module level: `dpseg --help` must stay light.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from cli.ablation.catalog import ABLATIONS

NAMES = tuple(ABLATIONS)
AblationName = Enum("AblationName", {n.replace("-", "_"): n for n in NAMES}, type=str)


def ablate(
    name: AblationName = typer.Argument(..., help="Which ablation: " + ", ".join(NAMES) + "."),
    out: Path = typer.Option(
        Path("runs/ablations"),
        "--out",
        help="Folder for results (NAME.json, NAME.md, NAME.png) and the banks and models, which "
        "later runs of any ablation reuse.",
    ),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Training seeds, comma-separated."),
    steps: int | None = typer.Option(
        None,
        "--steps",
        min=1,
        help="Training steps per model; by default 800, and 500 for prompt-quality, so that its "
        "18 models fit 40 minutes on 2 cores (the demo trains 1600).",
    ),
    val_scenes: int = typer.Option(200, "--val-scenes", min=1, help="Val scenes scored per row."),
    quick: bool = typer.Option(
        False, "--quick", help="Every model at toy size (a smoke test, no science)."
    ),
    workers: int = typer.Option(
        2, "--workers", min=1, help="Rows trained at once, each in its own process."
    ),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda:0."),
) -> None:
    """Train and score the rows of one of the paper's ablations on the shapes world, at several
    seeds, and say for each of the paper's claims whether it holds here.

    Writes OUT/NAME.json, OUT/NAME.md and a bar chart OUT/NAME.png.

    Examples: dpseg ablate prompts;  dpseg ablate templates --seeds 0 --steps 400
    """
    import dataclasses
    import time

    from cli.ablation import catalog, jobs, report
    from cli.demo_steps import DemoSettings

    ablation = catalog.ablation(name.value)
    try:
        seed_list = sorted({int(s) for s in seeds.split(",") if s.strip()})
    except ValueError:
        seed_list = []
    if not seed_list:
        raise typer.BadParameter(
            f"{seeds!r}: expected integers separated by commas, e.g. 0,1,2", param_hint="--seeds"
        )
    start = time.perf_counter()
    typer.echo(f"ablation {ablation.name}: {ablation.title}", err=True)
    steps = steps or ablation.steps
    base = DemoSettings.quick() if quick else DemoSettings(steps=steps, val_scenes=val_scenes)
    banks = jobs.build_banks(ablation, out, base, device)
    todo = jobs.plan_jobs(ablation, out, banks, base, seed_list)
    what = (
        f"x {len(seed_list)} seeds, shared models counted once"
        if ablation.seeded
        else "training-free: the same at every seed"
    )
    typer.echo(f"{len(todo)} jobs ({len(ablation.rows)} rows {what}), {workers} at a time",
               err=True)  # fmt: skip
    results = jobs.run_jobs(todo, workers, device)
    meta = {"steps": base.steps, "val_scenes": base.val_scenes, "quick": quick,
            "settings": dataclasses.asdict(base), "seconds": time.perf_counter() - start}  # fmt: skip
    record = report.summarise(ablation, results, seed_list, meta)
    paths = report.write_report(record, out)
    typer.echo(report.markdown(record).split("\n\nThe paper:")[0])
    typer.echo("-> " + ", ".join(str(p) for p in paths))
