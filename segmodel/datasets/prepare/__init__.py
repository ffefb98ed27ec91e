"""`dpseg data prepare`: the benchmarks' label files from the official downloads.

Writes exactly the files SED's and CAT-Seg's `datasets/prepare_*.py` write (same paths, dtypes and
values; the rules are in each module's docstring and docs/datasets.md), without detectron2, a
peer checkout or OpenCV. Every input is checked before the first file is written.

    from segmodel.datasets.prepare import prepare
    reports = prepare("ade150", Path("datasets"), workers=2)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from segmodel.datasets.base import PrepareError
from segmodel.datasets.prepare import ade, ade_full, coco_stuff, pascal_context, voc
from segmodel.datasets.prepare.catalog import TARGETS, default_root, download_hint
from segmodel.datasets.prepare.runner import Job, JobReport, default_workers, run_job

PLANNERS: dict[str, Callable[[Path], list[Job]]] = {
    "coco-stuff171": coco_stuff.jobs,
    "ade150": ade.jobs,
    "ade847": ade_full.jobs,
    "pc59": pascal_context.pc59_jobs,
    "pc459": pascal_context.pc459_jobs,
    "voc20": voc.jobs,
}


def plan(name: str, root: Path) -> list[Job]:
    """The jobs that prepare `name` (one of `TARGETS`); raises `PrepareError` on bad input."""
    if name not in PLANNERS:
        raise PrepareError(
            f"unknown benchmark {name!r}; expected one of {', '.join(TARGETS)} or all"
        )
    if not Path(root).is_dir():
        raise PrepareError(f"datasets root {root} not found; {download_hint(name, Path(root))}")
    return PLANNERS[name](Path(root))


def prepare(
    name: str,
    root: Path,
    *,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
    say: Callable[[str], None] = lambda line: None,
) -> list[JobReport]:
    """Prepares `name` (or "all": every benchmark whose download is in `root`).

    Args:
        name: one of `TARGETS` or "all".
        root: the datasets root (the peers' `$DETECTRON2_DATASETS`).
        workers: processes converting images in parallel (default: all cores).
        force: rewrite files that already exist (default: keep them, so a re-run is a no-op).
        progress: progress lines (count, rate, ETA) on stderr.
        say: receives one line per benchmark skipped by "all" (its download is absent).
    """
    workers = workers or default_workers()
    if name != "all":
        jobs = plan(name, root)
    else:
        jobs, missing = [], []
        for target in TARGETS:
            try:
                jobs += plan(target, root)
            except PrepareError:
                if not _absent(target, Path(root)):
                    raise
                missing.append(target)
                say(f"skipped {target}: its download is not under {root}")
        if not jobs:
            raise PrepareError(
                f"no benchmark download found under {root}; `dpseg data list --root {root}` "
                "says what to download and where to extract it"
            )
    return [run_job(job, workers=workers, force=force, progress=progress) for job in jobs]


def _absent(target: str, root: Path) -> bool:
    """True when none of `target`'s downloads is in `root` (then "all" skips it quietly)."""
    marks = {
        "coco-stuff171": ["coco-stuff"],
        "ade150": ["ADEChallengeData2016", "ADEChallengeData2016.zip"],
        "ade847": ["ADE20K_2021_17_01"],
        "pc59": ["VOCdevkit/VOC2010/trainval_merged.json"],
        "pc459": ["VOCdevkit/VOC2010/trainval"],
        "voc20": ["VOCdevkit/VOC2012"],
    }[target]
    return not any((root / mark).exists() for mark in marks)


__all__ = ["TARGETS", "JobReport", "PrepareError", "default_root", "plan", "prepare"]
