"""The training run: set up, loop, log, checkpoint, resume. One device or many via accelerate.

    from segmodel.training import load_config, train
    result = train(load_config("configs/shapes_tiny.toml", ["run.steps=50"]))

Prompts are built once before the loop (the bank is memory-mapped and the C training classes are
selected into device tensors), so no step ever waits on prompt loading. Data comes from a
DataLoader whose sample order is a pure function of (seed, step) (see `training.data`), so
`resume=True` continues exactly: model, optimiser, scheduler, data order and RNG.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segmodel.errors import CheckpointError, ConfigError
from segmodel.training import state as ckpt
from segmodel.training.config import TrainConfig, read_toml
from segmodel.training.data import Augment, StepSampler, TrainSamples, prompt_label_map
from segmodel.training.optim import build_optimizer, build_scheduler

# settings that may change when resuming (run length, logging, resources)
RESUMABLE_CHANGES = {"run.steps", "run.checkpoint_every", "run.keep_checkpoints", "run.log_every",
                     "run.tensorboard", "run.device", "data.workers", "eval.every",
                     "eval.dataset", "eval.root", "eval.split", "eval.options", "eval.limit",
                     "eval.inference", "eval.protocol"}  # fmt: skip


@dataclass
class TrainResult:
    out: Path  # run folder
    model_path: Path | None  # OUT/model.safetensors when the run reached its last step
    steps_done: int  # global step reached
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) of this process
    data_wait: float = 0.0  # mean seconds per step spent waiting for the next batch
    step_time: float = 0.0  # mean seconds per step in total (wait + compute)
    main: bool = True  # whether this process is the main one (it writes the files)
    evals: list[dict[str, Any]] = field(default_factory=list)  # eval.jsonl records of this run


def _bank_templates(bank: str) -> int:
    """How many templates the bank holds (the model's T when the config does not set one)."""
    from promptbank.reader import open_bank

    return len(open_bank(bank).templates)


def _absolute(bank: str) -> str:
    """The bank folder as an absolute path ("" stays ""): checkpoints are used from anywhere."""
    return str(Path(bank).resolve()) if bank else ""


def _setup_prompts(config: TrainConfig, encoder: Any, classes: list[str], templates: int):
    """PromptSet of `classes` from the bank, or text-only prompts (no visual) without one."""
    from segmodel.prompts import PromptSet, text_prompts

    if config.prompts.bank:
        from promptbank.reader import open_bank

        return PromptSet.from_bank(open_bank(config.prompts.bank), classes, text_encoder=encoder)
    from promptbank.vocab import load_templates

    text = text_prompts(encoder, classes, load_templates(templates))  # (C, T, D)
    c, t, _ = text.shape
    d4, d8, d16 = encoder.stage_dims[:3]
    zeros = [np.zeros((c, t, d), np.float32) for d in (d4, d8, d16)]
    return PromptSet.from_arrays(
        classes, text, text, *zeros, has_visual=[False] * c, encoder=encoder.identity()
    )


def _setup_data(config: TrainConfig, rank: int, world: int, start: int):
    from segmodel.datasets import open_dataset

    d = config.data
    dataset = open_dataset(d.dataset, d.root or None, split=d.split, **d.options)
    if config.prompts.classes == "seen":
        if not hasattr(dataset, "seen_classes"):
            raise ConfigError(f"prompts.classes='seen' needs a dataset with seen classes; "
                              f"{d.dataset!r} has none (use 'all')")  # fmt: skip
        classes = list(dataset.seen_classes)
    else:
        classes = list(dataset.classes)
    augment = Augment(d.resize_short, d.max_size, d.crop, d.color_jitter, d.flip,
                      dataset.ignore_index)  # fmt: skip
    label_map = prompt_label_map(dataset.classes, classes)
    identity = bool(np.array_equal(label_map, np.arange(len(dataset.classes))))
    samples = TrainSamples(dataset, augment, config.run.seed, None if identity else label_map)
    if config.run.batch_size % world:
        raise ConfigError(f"run.batch_size={config.run.batch_size} must be divisible by the "
                          f"{world} processes")  # fmt: skip
    sampler = StepSampler(start, config.run.steps, config.run.batch_size, rank, world)
    loader = torch.utils.data.DataLoader(
        samples, batch_size=config.run.batch_size // world, sampler=sampler,
        num_workers=d.workers, pin_memory=torch.cuda.is_available(),
        prefetch_factor=4 if d.workers else None, persistent_workers=False,
    )  # fmt: skip
    return dataset, classes, loader


def _config_changes(old: dict, new: dict) -> list[str]:
    changed = []
    for section, values in new.items():
        for key, value in values.items():
            if old.get(section, {}).get(key) != value:
                changed.append(f"{section}.{key}")
    return changed


def _check_resume(config: TrainConfig, folder: Path) -> None:
    saved = read_toml((folder / "config.toml").read_text(encoding="utf-8"))
    current = read_toml(config.to_toml())
    bad = [k for k in _config_changes(saved, current) if k not in RESUMABLE_CHANGES]
    if bad:
        raise ConfigError(f"--resume with changed settings {bad}; only {sorted(RESUMABLE_CHANGES)} "
                          f"may change (see {folder / 'config.toml'})")  # fmt: skip


class _Logger:
    """JSONL log plus optional TensorBoard, main process only."""

    def __init__(self, out: Path, enabled: bool, tensorboard: bool):
        self.enabled = enabled
        self.path = out / "log.jsonl"
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except ImportError:
                self.tb = None

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, float | int):
                    self.tb.add_scalar(f"train/{key}", value, record["step"])

    def forget_after(self, step: int) -> None:
        """Drop the records past `step`: a resumed run redoes those steps and logs them again."""
        if not self.enabled or not self.path.is_file():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        if len(kept) != len(lines):
            ckpt.atomic_write_text(self.path, "".join(kept))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class _Run:
    """One process's part of a run: its model, data, optimiser and folder state."""

    def __init__(self, config: TrainConfig, resume: bool) -> None:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        from promptbank.device import resolve_device

        self.config, self.run, self.out = config, config.run, Path(config.run.out)
        resolve_device(self.run.device)  # refuses `cuda` on a machine without one, in one line
        accelerated = torch.cuda.is_available() or torch.backends.mps.is_available()
        self.accel = Accelerator(
            mixed_precision=self.run.precision,
            cpu=self.run.device == "cpu" or not accelerated,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        self.rank, self.main = self.accel.process_index, self.accel.is_main_process
        self.folder = self._resume_point(resume)
        state = ckpt.load_train_state(self.folder) if self.folder else None
        self.start = int(state["step"]) if state else 0
        self._build()
        if state is not None:
            self._restore(state)
        self.model, self.optimizer = self.accel.prepare(self.model, self.optimizer)
        if self.folder is not None:
            saved_rng = ckpt.load_rng(self.folder, self.rank)
            if saved_rng is not None:
                ckpt.set_rng_state(saved_rng)

    def _resume_point(self, resume: bool) -> Path | None:
        """The checkpoint to resume from (None = fresh run); refuses unsafe combinations."""
        folder = ckpt.latest_checkpoint(self.out) if self.out.exists() else None
        if resume and folder is None:
            raise CheckpointError(
                f"--resume: no checkpoint in {self.out}; run without --resume to start"
            )
        if not resume and folder is not None:
            raise CheckpointError(
                f"{self.out} already holds checkpoints; pass --resume to continue it or set "
                "run.out to a new folder"
            )
        if folder is not None:
            _check_resume(self.config, folder)
        return folder

    def _build(self) -> None:
        """Model (seeded), data, prompts (once, on the device), optimiser and schedule."""
        from promptbank.encoder import load_encoder
        from segmodel.config import build_model, preset_config

        config, device = self.config, self.accel.device
        torch.manual_seed(self.run.seed)
        overrides = {k: tuple(v) if isinstance(v, list) else v
                     for k, v in config.model.overrides.items()}  # fmt: skip
        if config.prompts.bank and "num_templates" not in overrides:
            overrides["num_templates"] = _bank_templates(config.prompts.bank)  # follow the bank
        model_cfg = preset_config(config.model.preset, **overrides)
        encoder = load_encoder(model_cfg.encoder, config.model.encoder_weights or None,
                               random_init=config.model.random_init)  # fmt: skip
        self.model = build_model(model_cfg, encoder=encoder)
        self.mean = torch.tensor(encoder.mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(encoder.std, device=device).view(1, 3, 1, 1) * 255
        world = self.accel.num_processes
        self.dataset, self.classes, self.loader = _setup_data(config, self.rank, world, self.start)
        templates = config.prompts.templates or model_cfg.num_templates
        self.prompts = _setup_prompts(config, encoder, self.classes, templates).to(device)
        self.optimizer = build_optimizer(self.model, config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.optim, self.run.steps)
        self.extra = {"classes": self.classes, "dataset": config.data.dataset,
                      "bank": _absolute(config.prompts.bank)}  # fmt: skip
        self.eval_data = None
        if config.eval.every:
            from segmodel.datasets import open_dataset

            e, d = config.eval, config.data
            self.eval_data = open_dataset(e.dataset or d.dataset, (e.root or d.root) or None,
                                          split=e.split, **(e.options or d.options))  # fmt: skip

    def _restore(self, state: dict[str, Any]) -> None:
        from segmodel.checkpoint import load_state

        self.model.load_state_dict(load_state(self.folder / "model.safetensors"))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """One optimiser step on a uint8 (B, 3, c, c) batch; returns the loss."""
        from segmodel.loss import dpseg_loss

        optim, device = self.config.optim, self.accel.device
        images = (images.to(device, non_blocking=True).float() - self.mean) / self.std
        labels = labels.to(device, non_blocking=True)  # (B, c, c)
        with self.accel.autocast():
            output = self.model(images, self.prompts)
            loss = dpseg_loss(output, labels, self.dataset.ignore_index,
                              aux_weight=optim.aux_weight, mask_ignored=optim.mask_ignored)  # fmt: skip
        self.accel.backward(loss)
        if optim.clip_grad_norm > 0:
            self.accel.clip_grad_norm_(self.model.parameters(), optim.clip_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def save(self, step: int) -> None:
        """A complete checkpoint folder for `step`, then `latest` points at it."""
        from segmodel.checkpoint import save_model

        accel, target = self.accel, ckpt.checkpoint_dir(self.out, step)
        accel.wait_for_everyone()
        if self.main:
            target.mkdir(parents=True, exist_ok=True)
            save_model(accel.unwrap_model(self.model), target / "model.safetensors",
                       extra={**self.extra, "step": step})  # fmt: skip
            train_state = {"step": step, "optimizer": self.optimizer.state_dict(),
                           "scheduler": self.scheduler.state_dict()}  # fmt: skip
            ckpt.atomic_torch_save(train_state, target / "train_state.pt")
            ckpt.atomic_write_text(target / "config.toml", self.config.to_toml())
        accel.wait_for_everyone()
        ckpt.atomic_torch_save(ckpt.rng_state(), target / f"rng-{self.rank}.pt")
        accel.wait_for_everyone()
        if self.main:
            ckpt.mark_latest(self.out, target, self.run.keep_checkpoints)

    def save_final(self) -> Path:
        from segmodel.checkpoint import save_model

        path = self.out / "model.safetensors"
        if self.main:
            save_model(self.accel.unwrap_model(self.model), path,
                       extra={**self.extra, "step": self.run.steps})  # fmt: skip
        self.accel.wait_for_everyone()
        return path

    def evaluate(self, step: int) -> dict[str, Any]:
        """Scores the model on the eval dataset with the bank's prompts (all processes share the
        images); RNG states are kept, so evaluating does not change the training run."""
        from segmodel.evaluation import evaluate_model, seen_unseen
        from segmodel.segmenter import Segmenter

        e = self.config.eval
        model = self.accel.unwrap_model(self.model)
        with torch.random.fork_rng(devices=[]):
            segmenter = Segmenter(model, self.config.prompts.bank, self.accel.device)
            classes = list(self.eval_data.classes)

            def predict(image):
                return segmenter.segment(image, classes, inference=e.inference).labels

            results = evaluate_model(predict, self.eval_data, protocol=e.protocol,
                                     limit=e.limit or None, progress=False)  # fmt: skip
        model.train()
        results.update(seen_unseen(results, self.eval_data))
        keys = ("mIoU", "fwIoU", "mACC", "pACC", "seen_mIoU", "unseen_mIoU", "harmonic_mIoU")
        return {"step": step, **{k: results[k] for k in keys if k in results}}

    def mean_loss(self, total: float, n: int) -> float:
        """Mean loss over the last n steps, averaged over processes."""
        value = torch.tensor(total / n, device=self.accel.device)
        return float(self.accel.reduce(value, "mean"))


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_at: int | None = None,
) -> TrainResult:
    """Runs (or resumes) the training described by `config`; see the module docstring.

    stop_at: save a checkpoint and return once this global step is reached (the schedule still
    spans `run.steps`); used to split a run into parts.
    """
    from segmodel.evaluation import Progress

    r = _Run(config, resume)
    run, out = config.run, r.out
    if r.main:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_write_text(out / "config.toml", config.to_toml())
    logger = _Logger(out, r.main, run.tensorboard)
    logger.forget_after(r.start)
    last = run.steps if stop_at is None else min(stop_at, run.steps)
    bar = Progress(last - r.start, what="steps") if progress and r.main else None
    result = TrainResult(out=out, model_path=None, steps_done=r.start, main=r.main)
    waits: list[float] = []
    totals: list[float] = []
    interval_loss, interval_n, extra = 0.0, 0, ""
    batches = iter(r.loader)
    step = r.start
    r.model.train()
    tick = time.perf_counter()
    while step < last:
        images, labels = next(batches)  # (B, 3, c, c) uint8, (B, c, c) int64
        got = time.perf_counter()
        interval_loss += r.step(images, labels)
        interval_n += 1
        step += 1
        now = time.perf_counter()
        waits.append(got - tick)
        totals.append(now - tick)
        tick = now
        if step % run.log_every == 0 or step == last:
            loss = r.mean_loss(interval_loss, interval_n)
            result.losses.append((step, loss))
            record = {"step": step, "loss": loss, "lr": r.scheduler.get_last_lr()[-1],
                      "data_wait_s": float(np.mean(waits[-interval_n:])),
                      "step_time_s": float(np.mean(totals[-interval_n:])), "time": time.time()}  # fmt: skip
            logger.write(record)
            extra = (f", loss {loss:.4f}, {record['step_time_s'] * 1000:.0f} ms/step "
                     f"(data wait {record['data_wait_s'] * 1000:.1f} ms)")  # fmt: skip
            if bar:
                bar.update(interval_n, extra=extra)
            interval_loss, interval_n = 0.0, 0
        if step % run.checkpoint_every == 0 or step == last:
            r.save(step)
            tick = time.perf_counter()  # checkpoint time is not step time
        if config.eval.every and (step % config.eval.every == 0 or step == run.steps):
            scores = r.evaluate(step)
            result.evals.append(scores)
            if r.main:
                with (out / "eval.jsonl").open("a", encoding="utf-8") as f:
                    f.write(json.dumps(scores) + "\n")
            tick = time.perf_counter()
    if bar:
        bar.close(extra)
    logger.close()
    result.steps_done = step
    if waits:
        result.data_wait, result.step_time = float(np.mean(waits)), float(np.mean(totals))
    if step >= run.steps:
        result.model_path = r.save_final()
    return result
