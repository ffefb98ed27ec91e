"""`dpseg data`: prepare the standard benchmarks from their official downloads, and list them.

Thin commands over `segmodel.datasets.prepare`; heavy imports happen inside the command functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Prepare the standard benchmarks from their official downloads, and list them.\n\n"
    "Example: dpseg data list; dpseg data prepare ade150 --root datasets",
    no_args_is_help=True,
)

Root = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Datasets root (default: $DETECTRON2_DATASETS, else ./datasets; the same root serves "
        "SED and CAT-Seg).",
    ),
]
NAMES = "coco-stuff171, ade150, ade847, pc59, pc459, voc20 (also writes voc20b) or all"


def _root(root: Path | None) -> Path:
    from segmodel.datasets.prepare.catalog import default_root

    return root if root is not None else default_root()


@app.command("prepare")
def prepare(
    name: Annotated[str, typer.Argument(help=f"Benchmark: {NAMES}.")],
    root: Root = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rewrite files that exist (default: keep them).")
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Parallel processes (default: all cores).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Write a benchmark's label files (the files SED's and CAT-Seg's scripts write).

    Reads the official downloads, extracted below ROOT (or, for ADEChallengeData2016.zip,
    stuffthingmaps_trainval2017.zip and SegmentationClassAug.zip, the archive itself). An
    interrupted run resumes where it stopped; a re-run is a no-op.

    Example: dpseg data prepare coco-stuff171 --root datasets --workers 8
    """
    from promptbank.progress import say
    from segmodel.datasets.prepare import prepare as run

    root = _root(root)
    reports = run(name, root, workers=workers, force=force, progress=not quiet, say=say)
    for r in reports:
        done = r.tasks - r.skipped
        line = f"{r.title}: {r.written} files written ({done} images in {r.seconds:.1f} s"
        line += f", {r.rate:.1f}/s)" if done else ")"
        if r.skipped:
            line += f"; {r.skipped} already done"
        print(line)


@app.command("list")
def list_(root: Root = None) -> None:
    """Show the eight benchmark layouts: ready or not, and how to get the missing ones.

    Example: dpseg data list --root datasets
    """
    from segmodel.datasets.prepare.status import layout_status

    root = _root(root)
    rows = layout_status(root)
    print(f"datasets root: {root}")
    header = ("layout", "status", "images", "labels", "pairs / official")
    table = [
        (
            r.title,
            "ready" if r.ready else "missing",
            r.images,
            r.labels,
            f"{r.pairs} / {r.official}",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    _print_fixes(root, [r for r in rows if not r.ready])


def _print_fixes(root: Path, missing: list) -> None:
    """Per benchmark to prepare: each download, where to extract it, and the command."""
    from segmodel.datasets.prepare.catalog import DOWNLOADS, PREPARED_BY

    targets: dict[str, list[str]] = {}
    for r in missing:
        targets.setdefault(PREPARED_BY[r.name], []).append(r.title)
    for target, titles in targets.items():
        print(f"\nto get {', '.join(titles)}:")
        for d in DOWNLOADS[target]:
            size = f" ({d.size})" if d.size else ""
            where = root if d.extract_to == "." else root / d.extract_to
            print(f"  download {d.file}{size} from {d.url}")
            print(f"    extract into {where} -> {d.gives}")
        print(f"  run: dpseg data prepare {target} --root {root}")
