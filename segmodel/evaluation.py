"""Dataset evaluation: score saved label maps or a model, write results.json and results.md.

Both paths feed one `ConfusionMatrix` (see `segmodel.metrics` for the two protocols).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from promptbank.errors import DpsegError
from segmodel.datasets.base import LABEL_EXTS, list_by_stem, load_label
from segmodel.metrics import ConfusionMatrix, background_remap

PRED_EXTS = LABEL_EXTS  # saved predictions: PNG (uint8/uint16) or TIFF


class EvaluationError(DpsegError):
    """Predictions and ground truth that cannot be scored together."""


class Progress:
    """Count, rate and ETA of a long loop on stderr: one line refreshed in place on a terminal,
    a new line every `every` seconds otherwise (logs stay readable)."""

    def __init__(
        self, total: int | None, what: str = "images", stream: TextIO | None = None, every=10.0
    ):
        self.total = total  # expected number of steps (None if unknown)
        self.what = what  # unit name shown after the count
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.every = 0.5 if self.tty else every  # seconds between refreshes
        self.done = 0
        self.start = time.perf_counter()
        self._last = self.start

    @property
    def rate(self) -> float:
        """Steps per second so far."""
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, n: int = 1, extra: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self._show(self.line(extra), final=False)

    def line(self, extra: str = "") -> str:
        rate = self.rate
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        eta = ""
        if self.total and rate > 0:
            eta = f", ETA {_clock((self.total - self.done) / rate)}"
        return f"{count} {self.what}, {rate:.2f} {self.what}/s{eta}{extra}"

    def close(self, extra: str = "") -> None:
        self._show(self.line(extra), final=True)

    def _show(self, text: str, final: bool) -> None:
        end = "\n" if final or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + text + end)
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def pair_predictions(pred_dir: Path, gt_dir: Path) -> list[tuple[str, Path, Path]]:
    """(stem, prediction, ground truth) for every GT file; every GT needs exactly one prediction."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for what, folder in (("prediction", pred_dir), ("ground-truth", gt_dir)):
        if not folder.is_dir():
            raise EvaluationError(f"{what} folder not found: expected a directory at {folder}")
    preds = list_by_stem(pred_dir, PRED_EXTS)
    gts = list_by_stem(gt_dir, LABEL_EXTS)
    if not gts:
        raise EvaluationError(f"no label files (.png/.tif) in the ground-truth folder {gt_dir}")
    extra = sorted(preds.keys() - gts.keys())
    if extra:
        raise EvaluationError(
            f"{len(extra)} prediction(s) have no ground truth with the same stem in {gt_dir} "
            f"(e.g. {preds[extra[0]].name}); remove them or point --gt at the right folder"
        )
    missing = sorted(gts.keys() - preds.keys())
    if missing:
        raise EvaluationError(
            f"{len(missing)} ground-truth file(s) have no prediction in {pred_dir} "
            f"(e.g. {gts[missing[0]].name}); save one label map per image, named by its stem"
        )
    return [(stem, preds[stem], gts[stem]) for stem in sorted(gts)]


def _load_pair(pair: tuple[str, Path, Path]) -> tuple[str, np.ndarray, np.ndarray]:
    stem, pred_path, gt_path = pair
    pred, gt = load_label(pred_path), load_label(gt_path)
    if pred.shape != gt.shape:
        raise EvaluationError(
            f"prediction {pred_path.name} is {pred.shape[1]}x{pred.shape[0]} but its ground truth "
            f"is {gt.shape[1]}x{gt.shape[0]}; save predictions at the label's resolution"
        )
    return stem, pred, gt


def _prefetch(fn: Callable, items: Sequence, workers: int) -> Iterator:
    """fn over items in order, loading up to 2*workers ahead on threads (PIL decodes off-GIL)."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending = []
        it = iter(items)
        for item in it:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def score_folders(
    pred_dir: Path,
    gt_dir: Path,
    class_names: Sequence[str],
    *,
    ignore_index: int = 255,
    protocol: str = "detectron2",
    fold_from: int | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Scores saved label maps in `pred_dir` against `gt_dir`; returns the results dict.

    `fold_from`: predictions >= this index count as that class (VOC-20b uses 20).
    """
    pairs = pair_predictions(pred_dir, gt_dir)
    remap = None
    if fold_from is not None:
        remap = background_remap(max(fold_from + 1, 65536), fold_from)
    cm = ConfusionMatrix(len(class_names), ignore_index, class_names=class_names, pred_remap=remap)
    bar = Progress(len(pairs)) if progress else None
    for _stem, pred, gt in _prefetch(_load_pair, pairs, workers):
        cm.update(pred, gt)
        if bar:
            bar.update()
    if bar:
        bar.close()
    return summarise(cm, protocol, source={"pred": str(pred_dir), "gt": str(gt_dir)})


def evaluate_model(
    predict: Callable[[np.ndarray], np.ndarray],
    dataset: Any,
    *,
    protocol: str = "detectron2",
    limit: int | None = None,
    progress: bool = True,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs `predict(image uint8 (H, W, 3)) -> int (H, W) class indices` over `dataset`.

    The dataset supplies `num_eval_classes`, `ignore_index`, `pred_remap` and the class names;
    the confusion matrix is summed over processes when torch.distributed is initialised, and
    each process evaluates the items `rank::world` of the dataset.
    """
    rank, world = _dist_rank_world()
    names = getattr(dataset, "eval_class_names", None) or list(dataset.classes)
    cm = ConfusionMatrix(
        getattr(dataset, "num_eval_classes", None) or len(names),
        dataset.ignore_index,
        class_names=names,
        pred_remap=getattr(dataset, "pred_remap", None),
    )
    indices = range(len(dataset) if limit is None else min(limit, len(dataset)))[rank::world]
    bar = Progress(len(indices)) if progress and rank == 0 else None
    for i in indices:
        item = dataset[i]
        pred = np.asarray(predict(item["image"]))  # (H, W)
        cm.update(pred, item["label"])
        if bar:
            bar.update()
    if bar:
        bar.close()
    cm.all_reduce()
    return summarise(cm, protocol, source=source)


def _dist_rank_world() -> tuple[int, int]:
    if "torch" not in sys.modules:
        return 0, 1
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def summarise(
    cm: ConfusionMatrix, protocol: str, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The results dict written to results.json: metrics, counts and provenance."""
    metrics = cm.compute(protocol)
    n = cm.num_classes
    return {
        "protocol": protocol,
        "images": cm.images,
        "mIoU": metrics["mIoU"],
        "fwIoU": metrics["fwIoU"],
        "mACC": metrics["mACC"],
        "pACC": metrics["pACC"],
        "num_classes": n,
        "ignore_index": cm.ignore_index,
        "ignored_pixels": cm.ignored,
        "out_of_range_prediction_pixels": int(cm.matrix[n, :].sum()),
        "source": source or {},
        "per_class": metrics["per_class"],
    }


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Writes results.json and results.md into `out_dir` atomically; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    md_path = out_dir / "results.md"
    _atomic_write(json_path, json.dumps(results, indent=2, allow_nan=False) + "\n")
    _atomic_write(md_path, results_markdown(results))
    return json_path, md_path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def results_markdown(results: dict[str, Any]) -> str:
    """Summary table (mIoU, fwIoU, mACC, pACC) and a per-class table, values in percent."""
    lines = [
        f"# Evaluation ({results['protocol']} protocol, {results['images']} images)",
        "",
        "| mIoU | fwIoU | mACC | pACC |",
        "|---:|---:|---:|---:|",
        "| " + " | ".join(_fmt(results[k]) for k in ("mIoU", "fwIoU", "mACC", "pACC")) + " |",
        "",
        "| class | IoU | ACC |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {_md_escape(name)} | {_fmt(v['IoU'])} | {_fmt(v['ACC'])} |"
        for name, v in results["per_class"].items()
    ]
    if "harmonic_mIoU" in results:
        pairs = [(k, results[k]) for k in ("seen_mIoU", "unseen_mIoU", "harmonic_mIoU")]
        lines += ["", "| " + " | ".join(k for k, _ in pairs) + " |", "|---:|---:|---:|"]
        lines += ["| " + " | ".join(_fmt(v) for _, v in pairs) + " |"]
    lines += ["", "`-`: class absent under this protocol (no ground-truth pixel), not averaged."]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.strip().replace("|", "\\|")


def format_summary(results: dict[str, Any]) -> str:
    """One line for the terminal: the four headline numbers."""
    keys: Iterable[str] = ("mIoU", "fwIoU", "mACC", "pACC")
    if "harmonic_mIoU" in results:
        keys = (*keys, "seen_mIoU", "unseen_mIoU")
    return ", ".join(f"{k} {_fmt(results[k])}" for k in keys) + f" ({results['protocol']})"


def _pick_device(device: str) -> str:
    from promptbank.device import resolve_device

    return resolve_device(device)


def is_main_process() -> bool:
    """False on every process but rank 0 of an initialised torch.distributed run."""
    return _dist_rank_world()[0] == 0


def evaluate_checkpoint(
    checkpoint: Path,
    dataset: str,
    data_root: Path | None,
    bank: Path | None,
    *,
    split: str = "val",
    inference: int = 1,
    sliding: bool = False,
    protocol: str = "detectron2",
    device: str = "auto",
    limit: int | None = None,
    progress: bool = True,
    dataset_options: dict[str, Any] | None = None,
    encoder_weights: str | Path | None = None,
    refine: Any = None,
) -> dict[str, Any]:
    """Model mode of `dpseg eval`: a saved DPSeg on a benchmark, with prompts from `bank` (None:
    text prompts from the model's own prompt encoder, for models that need no bank).

    Uses SED's test transform (short side 640, whole image resized to the model's input,
    sigmoid, bilinear back to the image, argmax) or sliding windows. Under `accelerate launch`
    each process scores its share of the images and the confusion matrices are summed.
    """
    from segmodel.checkpoint import load_model, model_file
    from segmodel.datasets import open_dataset
    from segmodel.segmenter import Segmenter

    if inference not in (1, 2):
        raise EvaluationError(f"--inference {inference}: expected 1 or 2")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch
        from accelerate import PartialState

        gpu = torch.cuda.is_available() and device != "cpu"
        device = str(PartialState(cpu=not gpu).device)  # initialises torch.distributed
    device = _pick_device(device)
    data = open_dataset(dataset, data_root, split=split, **(dataset_options or {}))
    checkpoint = model_file(checkpoint)  # a run folder names its model.safetensors
    model = load_model(checkpoint, device)
    segmenter = Segmenter(model, bank, device, encoder_weights=encoder_weights, refine=refine)
    classes = list(data.classes)
    mode = "slide" if sliding else "resize"

    def predict(image: np.ndarray) -> np.ndarray:
        return segmenter.segment(image, classes, inference=inference, mode=mode).labels

    source = {
        "checkpoint": str(checkpoint),
        "dataset": dataset,
        "split": split,
        "bank": str(bank) if bank else None,
        "inference": inference,
        "refine": dataclasses.asdict(segmenter.refine) if inference == 2 else None,
        "mode": mode,
    }
    results = evaluate_model(
        predict, data, protocol=protocol, limit=limit, progress=progress, source=source
    )
    results.update(seen_unseen(results, data))
    return results


def seen_unseen(results: dict[str, Any], dataset: Any) -> dict[str, Any]:
    """mIoU over the dataset's seen and unseen classes and their harmonic mean (when defined)."""
    seen = getattr(dataset, "seen_classes", None)
    unseen = getattr(dataset, "unseen_classes", None)
    if not seen or not unseen:
        return {}

    def mean_iou(names: Sequence[str]) -> float | None:
        values = [results["per_class"][n]["IoU"] for n in names if n in results["per_class"]]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    s, u = mean_iou(seen), mean_iou(unseen)
    h = 2 * s * u / (s + u) if s is not None and u is not None and s + u > 0 else None
    return {"seen_mIoU": s, "unseen_mIoU": u, "harmonic_mIoU": h}
