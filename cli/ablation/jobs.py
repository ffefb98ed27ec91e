"""An ablation's work: its banks, then one job per trained model (or VIP row), two at a time.

    banks = build_banks(ablation, out)                         # in this process, with progress
    jobs = plan_jobs(ablation, out, banks, seeds, steps, val)  # one per (training, seed)
    results = run_jobs(jobs, workers=2)                         # {(row key, seed): figures}

A job trains its model (reused when an earlier run of any ablation trained the same one, resumed
when it stopped part way), then evaluates every row that shares the model, each evaluation cached
beside the model. Jobs run in their own spawned processes, each with its share of the cores, and
write their output to `job.log` in their folder; this process shows the steps of all of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cli.ablation.catalog import Ablation, BankRecipe, Row
from cli.demo_steps import DemoSettings
from promptbank.errors import DpsegError

WORLD_SEED = 0  # banks and VIP do not depend on the training seed


@dataclass(frozen=True)
class Job:
    """One trained model (or one VIP setting) and the rows evaluated on it."""

    folder: Path  # where the model, its log and its cached evaluations live
    rows: tuple[Row, ...]  # rows sharing this model; rows[0] says how to train it
    seed: int  # training seed (WORLD_SEED for VIP rows)
    settings: DemoSettings  # the demo settings the model trains with
    bank: Path  # the row's bank (VIP rows without bank seeding do not read it)

    @property
    def trained(self) -> bool:
        return self.rows[0].trained

    def resume_step(self) -> int:
        """The step an interrupted run of this job resumes from: its latest checkpoint's (0 if none)."""
        from segmodel.training.state import latest_checkpoint

        try:
            folder = latest_checkpoint(self.folder) if self.trained else None
        except DpsegError:  # a broken pointer: the run starts over
            return 0
        return int(folder.name.rsplit("-", 1)[-1]) if folder is not None else 0

    def last_logged_step(self, since: float) -> int | None:
        """The last training step this job logged at or after time `since` (None: none yet)."""
        log = self.folder / "log.jsonl"
        if not self.trained or not log.is_file():
            return None
        last = None
        for line in log.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if record.get("time", 0) >= since:
                last = int(record["step"])
        return last


def row_settings(base: DemoSettings, row: Row, seed: int) -> DemoSettings:
    """`base` (the demo's settings, or their toy size) with the row's templates, prototypes,
    training changes and seed."""
    return replace(
        base,
        templates=row.bank.templates,
        prototypes=row.prototypes,
        extra=(*base.extra, *row.train, f"run.seed={seed}"),
    )


def build_banks(
    ablation: Ablation, out: Path, base: DemoSettings, device: str = "cpu"
) -> dict[BankRecipe, Path]:
    """Every bank the ablation's rows read, in out/banks/<recipe> (reused when complete)."""
    from cli.demo_steps import build_shapes_bank
    from promptbank.generator import load_generator
    from promptbank.noisy import NoisyGenerator

    banks = {}
    for recipe in dict.fromkeys(row.bank for row in ablation.rows):
        folder = out / "banks" / f"{recipe.slug}-r{base.bank_resolution}"
        generator: Any = recipe.generator
        if recipe.noise:
            generator = NoisyGenerator(
                load_generator(recipe.generator, device=device), recipe.noise
            )
        print(f"bank {recipe.slug} -> {folder}", file=sys.stderr, flush=True)
        settings = replace(base, templates=recipe.templates)
        banks[recipe] = build_shapes_bank(settings, folder, device, generator)
    return banks


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]


def plan_jobs(
    ablation: Ablation,
    out: Path,
    banks: dict[BankRecipe, Path],
    base: DemoSettings,
    seeds: list[int],
) -> list[Job]:
    """One job per distinct (training, seed), or per VIP setting; rows that only differ in how
    they are evaluated share a job. Folders are named by what trains there, so ablations that
    share a row share its model."""
    jobs: dict[Path, Job] = {}
    for row in ablation.rows:
        if row.trained:
            for seed in seeds:
                settings = row_settings(base, row, seed)
                what = [row.bank.slug, row.mode, sorted(row.train), row.prototypes, seed,
                        repr(replace(settings, val_scenes=0, overlay_scenes=0))]  # fmt: skip
                folder = out / "models" / f"{row.bank.slug}-{row.mode}-s{seed}-{_digest(what)}"
                _add_row(jobs, Job(folder, (row,), seed, settings, banks[row.bank]))
        else:
            what = [row.vip, row.vip_bank, row.bank.slug, base.bank_resolution, base.image_size]
            folder = out / "vip" / f"{row.key}-{_digest(what)}"
            settings = base
            _add_row(jobs, Job(folder, (row,), WORLD_SEED, settings, banks[row.bank]))
    return sorted(jobs.values(), key=lambda job: job.seed)  # one whole seed first: early answers


def _add_row(jobs: dict[Path, Job], job: Job) -> None:
    known = jobs.get(job.folder)
    jobs[job.folder] = replace(known, rows=(*known.rows, *job.rows)) if known else job


def eval_key(row: Row, val_scenes: int) -> str:
    """The name of a row's cached evaluation: what is evaluated, not what the row is called."""
    if not row.trained:
        return f"vip-v{val_scenes}"
    refine = f"-{row.refine}-{row.replaces}" if row.inference == 2 else ""
    return f"inference{row.inference}{refine}-v{val_scenes}"


def run_job(job: Job, threads: int, device: str = "cpu") -> dict[str, dict]:
    """Train (or reuse) the job's model and evaluate its rows -> {row key: figures}.

    Runs in a worker process; everything it prints goes to `job.log` in the job's folder."""
    import torch

    torch.set_num_threads(threads)
    job.folder.mkdir(parents=True, exist_ok=True)
    with (
        (job.folder / "job.log").open("a", encoding="utf-8") as log,
        redirect_stdout(log),
        redirect_stderr(log),
    ):
        model = None
        if job.trained:
            from cli.demo_steps import train_model

            row = job.rows[0]
            model = train_model(job.settings, job.bank, job.folder, row.mode, device, False)
        return {row.key: _evaluate(job, row, model, device) for row in job.rows}


def _evaluate(job: Job, row: Row, model: Path | None, device: str) -> dict:
    cache = job.folder / f"eval-{eval_key(row, job.settings.val_scenes)}.json"
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    start = time.perf_counter()
    if model is None:
        from cli.demo_steps import evaluate_vip_row

        bank = job.bank if row.vip_bank else None
        figures = evaluate_vip_row(job.settings, bank, device, progress=False, **(row.vip or {}))
    else:
        figures = _evaluate_model(job, row, model, device)
    figures["eval_seconds"] = time.perf_counter() - start
    _atomic_json(cache, figures)
    return figures


def _evaluate_model(job: Job, row: Row, model: Path, device: str) -> dict:
    from cli.demo_steps import summary
    from segmodel.checkpoint import load_model
    from segmodel.datasets.shapes import ShapesDataset
    from segmodel.evaluation import evaluate_model, seen_unseen
    from segmodel.model.refine import RefineSettings
    from segmodel.segmenter import Segmenter

    net = load_model(model, device)
    data = ShapesDataset("val", size=net.config.image_size, length=job.settings.val_scenes)
    refine = RefineSettings(source=row.refine, replaces=row.replaces)
    segmenter = Segmenter(net, job.bank, device, refine=refine)
    classes = list(data.classes)
    results = evaluate_model(
        lambda image: segmenter.segment(image, classes, inference=row.inference).labels,
        data,
        progress=False,
    )
    results.update(seen_unseen(results, data))
    train_log = model.parent / "log.jsonl"
    step_times = [json.loads(x)["step_time_s"] for x in train_log.read_text().splitlines()]
    return {
        **summary(results),
        "checkpoint": str(model),
        "inference": row.inference,
        "refine": {"source": row.refine, "replaces": row.replaces} if row.inference == 2 else None,
        "step_seconds": sum(step_times) / len(step_times) if step_times else None,
    }


def _atomic_json(path: Path, record: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_jobs(
    jobs: list[Job], workers: int = 2, device: str = "cpu", progress: bool = True
) -> dict[tuple[str, int], dict]:
    """Run `jobs`, `workers` at a time in spawned processes -> {(row key, seed): figures}.

    Shows the training steps of all jobs together (rate, ETA) and one line per finished job."""
    from multiprocessing import get_context

    from segmodel.evaluation import Progress

    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    todo = [j for j in jobs if j.trained and not (j.folder / "model.safetensors").is_file()]
    begun = time.time()  # log records from before are an interrupted run's
    resumed = {j.folder: j.resume_step() for j in todo}  # where an interrupted run picks up
    counted = dict.fromkeys(resumed, 0)  # steps of each job done by this run so far
    total = sum(j.settings.steps - resumed[j.folder] for j in todo)
    bar = Progress(total, what="steps") if progress and total else None
    results: dict[tuple[str, int], dict] = {}
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        running = {pool.submit(run_job, job, threads, device): job for job in jobs}
        finished = 0
        while running:
            done, _ = wait(running, timeout=5, return_when=FIRST_COMPLETED)
            if bar:
                for job in todo:
                    last = job.last_logged_step(begun)
                    done_here = max(0, (last or 0) - resumed[job.folder])
                    if done_here > counted[job.folder]:  # a job that starts over is not recounted
                        bar.update(done_here - counted[job.folder])
                        counted[job.folder] = done_here
            for future in done:
                job = running.pop(future)
                figures = future.result()  # a failed job stops the ablation with its error
                finished += 1
                for key, value in figures.items():
                    results[(key, job.seed)] = value
                if progress:
                    _report(job, figures, finished, len(jobs), time.perf_counter() - start)
    if bar:
        bar.close()
    return results


def _report(job: Job, figures: dict, finished: int, total: int, seconds: float) -> None:
    scores = ", ".join(
        f"{k} {v['miou']:.1f} (seen {v['seen_miou']:.1f}, unseen {v['unseen_miou']:.1f})"
        for k, v in figures.items()
    )
    seed = f" seed {job.seed}" if job.trained else ""
    print(f"[{finished}/{total} jobs, {seconds / 60:.1f} min] {job.folder.name}{seed}: {scores}",
          file=sys.stderr, flush=True)  # fmt: skip
