"""Runs a conversion over its files: in parallel, with progress, resumable and idempotent.

A `Job` is a list of `Task`s (one per image) and one top-level function that converts a task.
A task whose outputs all exist is skipped without reading anything, so a re-run is a no-op and a
killed run resumes where it stopped; `force` converts everything again.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptbank.progress import Progress
from segmodel.datasets.prepare.files import remove_partials


@dataclass(frozen=True)
class Task:
    outputs: tuple[Path, ...]  # the files the task writes (some may be legitimately skipped)
    args: tuple[Any, ...]  # what the job's function needs; picklable


@dataclass(frozen=True)
class Job:
    title: str  # shown in progress lines, e.g. "COCO-Stuff-171 val"
    convert: Callable[..., int]  # convert(*task.args, force=...) -> files written; top-level
    tasks: list[Task]
    unit: str = "images"


@dataclass(frozen=True)
class JobReport:
    title: str
    tasks: int  # tasks in the job
    skipped: int  # tasks already done before this run
    written: int  # files written by this run
    seconds: float

    @property
    def rate(self) -> float:  # converted tasks per second
        done = self.tasks - self.skipped
        return done / self.seconds if self.seconds > 0 else 0.0


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_job(job: Job, *, workers: int, force: bool = False, progress: bool = True) -> JobReport:
    """Converts the tasks of `job` that are not done yet (all of them with `force`)."""
    start = time.perf_counter()
    remove_partials({path.parent for task in job.tasks for path in task.outputs})
    todo = [t for t in job.tasks if force or not all(p.exists() for p in t.outputs)]
    bar = Progress(len(todo), job.unit, prefix=job.title, enabled=progress)
    written = 0
    calls = [(job.convert, task.args, force) for task in todo]
    try:
        if workers <= 1 or len(todo) <= 1:
            for call in calls:
                written += _call(call)
                bar.advance()
        else:
            chunk = max(1, min(32, len(todo) // (workers * 8)))
            with _context().Pool(min(workers, len(todo))) as pool:
                for count in pool.imap_unordered(_call, calls, chunksize=chunk):
                    written += count
                    bar.advance()
    finally:
        bar.close()  # ends a progress line rewritten in place before an error is printed
    return JobReport(
        job.title, len(job.tasks), len(job.tasks) - len(todo), written, time.perf_counter() - start
    )


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _call(call: tuple[Callable[..., int], tuple[Any, ...], bool]) -> int:
    convert, args, force = call
    return convert(*args, force=force)
