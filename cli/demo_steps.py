"""The shapes-world demo as named steps: bank -> train dual and text-only -> evaluate -> pictures.

    settings = DemoSettings()                    # or DemoSettings.quick() for tests
    bank = build_shapes_bank(settings, out / "bank")
    dual, text = train_pair(settings, bank, out)  # side by side on a small CPU
    rows = {"text_only": evaluate_row(settings, bank, text, 1), ...,
            "vip_training_free": evaluate_vip_row(settings, None), ...}
    write_overlays(settings, bank, dual, text, out / "overlays")
    write_results(rows, settings, out, timing)

Every row uses the world's pretrained CLIP (`tiny-world`, promptbank/world/): the bank's prompt
encoder, the models' image encoder and VIP's backbone.

Lives in `cli` because building a bank needs the generator side (`promptbank.build`), which the
`segmodel` library never imports. Every step skips work an earlier run already finished.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "shapes_tiny.toml"
ROWS = ("text_only", "dual_inference1", "dual_inference2", "vip_training_free", "vip_bank_seeded")
LABELS = {
    "text_only": "text only",
    "dual_inference1": "dual, inference I",
    "dual_inference2": "dual, inference II",
    "vip_training_free": "VIP, training-free",
    "vip_bank_seeded": "VIP, bank-seeded",
}  # results.json keys and table labels, in order


@dataclass(frozen=True)
class DemoSettings:
    """Everything the demo varies. Training settings not named here come from the TOML config."""

    encoder: str = "tiny-world"  # the CLIP of bank, models and VIP (`tiny`: the random one)
    templates: int = 8  # T, ImageNet templates per class in the bank (= model num_templates)
    images_per_template: int = 2  # K, procedural images per (class, template)
    bank_resolution: int = 128  # side of the generated prompt images
    prototypes: int = 2  # P, visual-cost prototypes per class (templates averaged in P groups;
    # 2 beat 4 on unseen classes at every seed in `dpseg ablate prototypes`, docs/ablations.md)
    image_size: int = 128  # model input side = scene side (train and val), a multiple of 32
    steps: int = 1600  # training steps per model (0 = the config's run.steps)
    batch_size: int = 0  # training batch (0 = the config's run.batch_size)
    train_scenes: int = 0  # train-split scenes (0 = the config's data.options.length)
    val_scenes: int = 200  # val-split scenes scored for the table
    overlay_scenes: int = 4  # val scenes drawn side by side with ground truth
    workers: int = 0  # DataLoader workers (-1 = the config's); 0: the two runs fill the cores
    extra: tuple[str, ...] = ()  # more `section.key=value` training overrides

    @classmethod
    def quick(cls) -> DemoSettings:
        """Every step at toy size (well under a minute on a CPU): for tests, not for numbers."""
        return cls(
            templates=2,
            images_per_template=1,
            prototypes=1,
            bank_resolution=64,
            steps=4,
            batch_size=2,
            train_scenes=16,
            val_scenes=4,
            overlay_scenes=2,
            workers=0,
            image_size=64,
        )


def stage(number: int, total: int, text: str) -> float:
    """Announce a step on stderr; returns its start time."""
    print(f"[{number}/{total}] {text}", file=sys.stderr, flush=True)
    return time.perf_counter()


def done(start: float, text: str) -> float:
    seconds = time.perf_counter() - start
    print(f"      {text} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    return seconds


# --- step 1: the bank --------------------------------------------------------------------------
def build_shapes_bank(
    settings: DemoSettings, folder: Path, device: str = "cpu", generator: Any = "procedural"
) -> Path:
    """The `shapes` vocabulary drawn by `generator` (default the `procedural` one; a name or a
    loaded generator), encoded by the world CLIP.

    An earlier complete build with the same recipe is reused; an interrupted one resumes."""
    from promptbank.build import run_build
    from promptbank.errors import BankError

    if (folder / "manifest.json").is_file():
        print(f"      reusing the bank in {folder} (resumes or checks it)", file=sys.stderr)
    procedural = getattr(generator, "name", generator) == "procedural"

    def build():
        return run_build(
            "shapes",
            folder,
            generator=generator,
            encoder=settings.encoder,
            templates=settings.templates,
            images_per_template=settings.images_per_template,
            resolution=settings.bank_resolution,
            steps=1 if procedural else 2,  # a diffusion generator: its test-sized 2 steps
            guidance=0.0 if procedural else 7.5,
            device=device,
            progress=True,
        )

    try:
        report = build()
    except BankError as error:  # e.g. a bank of an older world or other settings: the demo's own
        print(f"      {error}: starting over", file=sys.stderr)
        shutil.rmtree(folder)
        report = build()
    if not report.complete:
        raise RuntimeError(f"bank build in {folder} did not complete")
    return folder


def bank_id(folder: Path) -> str | None:
    """The id of the bank in `folder` (None when there is none yet)."""
    manifest = folder / "manifest.json"
    return (
        json.loads(manifest.read_text(encoding="utf-8"))["bank_id"] if manifest.is_file() else None
    )


def forget_models(out: Path) -> None:
    """Remove the demo's trained models (after their bank was rebuilt)."""
    for name in ("dual", "text_only"):
        if (out / name).is_dir():
            print(
                f"      {out / name} was trained with the old bank: starting over", file=sys.stderr
            )
            shutil.rmtree(out / name)


# --- step 2: training --------------------------------------------------------------------------
def training_config(settings: DemoSettings, bank: Path, folder: Path, mode: str, device: str):
    """The TrainConfig of one demo model: shapes_tiny.toml + the demo's settings.

    mode: dual (text + visual prompts, visual cost volumes) or text (the SED-like baseline: text
    prompts only, upsampled text costs instead of visual ones). Both read the bank's text."""
    from segmodel.training import load_config

    sets = [
        f"run.out={json.dumps(str(folder.resolve()))}",
        f"prompts.bank={json.dumps(str(bank.resolve()))}",
        f"model.overrides.encoder={json.dumps(settings.encoder)}",
        f"model.overrides.num_templates={settings.templates}",
        "run.tensorboard=false",
        f"run.device={json.dumps('cpu' if device == 'cpu' else 'auto')}",
    ]
    side = settings.image_size
    sets += [f"model.overrides.image_size={side}", f"data.options.size={side}",
             f"data.crop={side}", f"data.resize_short={side}"]  # fmt: skip
    if settings.steps:
        sets.append(f"run.steps={settings.steps}")
        sets.append(f"run.checkpoint_every={min(settings.steps, 300)}")
    if settings.batch_size:
        sets.append(f"run.batch_size={settings.batch_size}")
    if settings.train_scenes:
        sets.append(f"data.options.length={settings.train_scenes}")
    if settings.workers >= 0:
        sets.append(f"data.workers={settings.workers}")
    sets += list(settings.extra)
    if mode == "text":
        sets += [
            'model.overrides.prompt_mode="text"',
            'model.overrides.visual_cost=["upsample", "upsample", "upsample"]',
            "model.overrides.visual_cost_prototypes=1",
        ]
    elif mode == "dual":
        sets.append(f"model.overrides.visual_cost_prototypes={settings.prototypes}")
    else:
        raise ValueError(f"mode {mode!r}: expected dual or text")
    return load_config(CONFIG, sets)


def train_model(
    settings: DemoSettings,
    bank: Path,
    folder: Path,
    mode: str,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Train one model into `folder` (reused when an earlier run finished with the same config,
    resumed when it stopped part way); returns its model.safetensors."""
    from segmodel.errors import CheckpointError, ConfigError
    from segmodel.training import train
    from segmodel.training.state import latest_checkpoint

    config = training_config(settings, bank, folder, mode, device)
    final = folder / "model.safetensors"
    saved = folder / "config.toml"
    same = saved.is_file() and saved.read_text(encoding="utf-8") == config.to_toml()
    if same and final.is_file():
        print(f"      reusing the trained model {final}", file=sys.stderr)
        return final
    try:
        resume = folder.is_dir() and latest_checkpoint(folder) is not None
        result = train(config, resume=resume, progress=progress)
    except (ConfigError, CheckpointError):
        if not folder.is_dir():
            raise
        print(f"      {folder} was trained with other settings: starting over", file=sys.stderr)
        shutil.rmtree(folder)
        result = train(config, progress=progress)
    if result.model_path is None:
        raise RuntimeError(f"training in {folder} stopped at step {result.steps_done}")
    return result.model_path


def train_pair(
    settings: DemoSettings, bank: Path, out: Path, device: str = "cpu"
) -> tuple[Path, Path]:
    """Train the dual model and the text-only baseline -> (dual, text) model files.

    On a CPU with few cores the two run side by side, one process each with an equal share of the
    cores (small convolutions scale poorly over threads, so this beats running them one after the
    other); the baseline's process trains quietly and the dual run shows progress.
    """
    import multiprocessing

    import torch

    cores = os.cpu_count() or 1
    if device != "cpu" or cores < 2 or cores > 8:
        dual = train_model(settings, bank, out / "dual", "dual", device)
        return dual, train_model(settings, bank, out / "text_only", "text", device)
    threads = max(1, cores // 2)
    context = multiprocessing.get_context("spawn")
    child = context.Process(
        target=_train_quietly, args=(settings, bank, out / "text_only", threads), daemon=True
    )
    child.start()
    print(f"      text-only baseline training side by side (process {child.pid})", file=sys.stderr)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        dual = train_model(settings, bank, out / "dual", "dual", device)
    finally:
        torch.set_num_threads(before)
    if child.is_alive():
        print("      waiting for the text-only baseline to finish", file=sys.stderr, flush=True)
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"text-only training failed (exit code {child.exitcode}); see above")
    return dual, out / "text_only" / "model.safetensors"


def _train_quietly(settings: DemoSettings, bank: Path, folder: Path, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    train_model(settings, bank, folder, "text", "cpu", progress=False)


# --- step 3: evaluation ------------------------------------------------------------------------
def val_options(settings: DemoSettings, model: Path) -> dict[str, Any]:
    from segmodel.checkpoint import read_header

    size = int(read_header(model)["config"]["image_size"])
    return {"size": size, "length": settings.val_scenes}


def evaluate_row(settings: DemoSettings, bank: Path, model: Path, inference: int, device: str):
    """One table row: mIoU, seen/unseen mIoU and per-class IoU on the val scenes."""
    from segmodel.evaluation import evaluate_checkpoint

    results = evaluate_checkpoint(
        model,
        "shapes",
        None,
        bank,
        inference=inference,
        device=device,
        dataset_options=val_options(settings, model),
    )
    return {**summary(results), "checkpoint": str(model), "inference": inference}


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The figures a table row keeps of an evaluation: mIoU, seen/unseen mIoU, per-class IoU."""
    return {
        "miou": results["mIoU"],
        "seen_miou": results["seen_mIoU"],
        "unseen_miou": results["unseen_mIoU"],
        "per_class": {name: v["IoU"] for name, v in results["per_class"].items()},
        "images": results["images"],
    }


def vip_segmenter(settings: DemoSettings, bank: Path | None, device: str = "cpu", **changes):
    """VIP on the world CLIP with the `shapes` preset (plus VipSettings `changes`), no training;
    `bank` seeds its queries."""
    from segmodel.vip import VipSegmenter
    from segmodel.vip.settings import VipSettings

    return VipSegmenter(settings.encoder, device=device, bank=bank,
                        settings=VipSettings.preset("shapes", **changes))  # fmt: skip


def evaluate_vip_row(
    settings: DemoSettings, bank: Path | None, device: str = "cpu", progress: bool = True, **changes
):
    """One VIP table row on the same val scenes and protocol as the trained models."""
    from segmodel.datasets.shapes import ShapesDataset
    from segmodel.evaluation import evaluate_model, seen_unseen

    data = ShapesDataset("val", size=settings.image_size, length=settings.val_scenes)
    segmenter, classes = vip_segmenter(settings, bank, device, **changes), list(data.classes)
    results = evaluate_model(
        lambda image: segmenter.segment(image, classes, return_probs=False).labels,
        data,
        progress=progress,
    )
    results.update(seen_unseen(results, data))
    return {
        **summary(results),
        "bank": str(bank) if bank else None,
        "vip_settings": dataclasses.asdict(segmenter.settings),
    }


# --- step 4: pictures --------------------------------------------------------------------------
def write_overlays(
    settings: DemoSettings, bank: Path, dual: Path, text: Path, folder: Path, device: str = "cpu"
) -> list[Path]:
    """Val scenes side by side: image, ground truth, then every row of the table (one PNG each,
    plus overlays.png with all of them). Scene i holds unseen class i % 4."""
    from segmodel.checkpoint import load_model
    from segmodel.datasets.shapes import ShapesDataset
    from segmodel.overlay import side_by_side, vstack
    from segmodel.segmenter import Segmenter

    folder.mkdir(parents=True, exist_ok=True)
    data = ShapesDataset("val", **val_options(settings, dual))
    text_seg = Segmenter(load_model(text, device), bank, device)
    dual_seg = Segmenter(load_model(dual, device), bank, device)
    vip_free, vip_seeded = (
        vip_segmenter(settings, None, device),
        vip_segmenter(settings, bank, device),
    )
    titles = ["scene", "ground truth", "text only", "dual, inf. I", "dual, inf. II", "VIP",
              "VIP + bank"]  # fmt: skip
    rows, paths = [], []
    for i in range(min(settings.overlay_scenes, len(data))):
        item = data[i]
        preds = [
            text_seg.segment(item["image"], data.classes).labels,
            dual_seg.segment(item["image"], data.classes, inference=1).labels,
            dual_seg.segment(item["image"], data.classes, inference=2).labels,
            vip_free.segment(item["image"], data.classes, return_probs=False).labels,
            vip_seeded.segment(item["image"], data.classes, return_probs=False).labels,
        ]
        scale = max(1, 192 // item["image"].shape[0])
        row = side_by_side(
            item["image"], preds, item["label"], data.classes, titles=titles, scale=scale
        )
        paths.append(save_png(row, folder / f"val_{i:03d}.png"))
        rows.append(row)
    paths.append(save_png(vstack(rows), folder.parent / "overlays.png"))
    return paths


def save_png(image, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


# --- step 5: the table -------------------------------------------------------------------------
def table(rows: dict[str, dict]) -> str:
    """The Markdown results table (percent)."""
    lines = ["| model | mIoU | seen mIoU | unseen mIoU |", "|---|---:|---:|---:|"]
    for key in ROWS:
        r = rows[key]
        lines.append(
            f"| {LABELS[key]} | {r['miou']:.1f} | {r['seen_miou']:.1f} | {r['unseen_miou']:.1f} |"
        )
    return "\n".join(lines)


def class_table(rows: dict[str, dict], unseen: list[str]) -> str:
    names = list(rows[ROWS[0]]["per_class"])
    lines = [
        "| class | " + " | ".join(LABELS[k] for k in ROWS) + " |",
        "|---|" + "---:|" * len(ROWS),
    ]
    for name in names:
        mark = f"{name} (unseen)" if name in unseen else name
        cells = [rows[k]["per_class"][name] for k in ROWS]
        lines.append(f"| {mark} | " + " | ".join("-" if v is None else f"{v:.1f}" for v in cells)
                     + " |")  # fmt: skip
    return "\n".join(lines)


def write_loss_curves(dual: Path, text: Path, path: Path) -> Path:
    """The two models' training-loss curves in one chart (from their log.jsonl)."""
    from segmodel.plots import write_loss_chart

    logs = {"dual": dual.parent / "log.jsonl", "text only": text.parent / "log.jsonl"}
    return write_loss_chart(logs, path)


def write_results(rows: dict[str, dict], settings: DemoSettings, out: Path, timing: dict) -> Path:
    """results.json (rows, settings, timing) and results.md (tables), atomically."""
    from promptbank.world.shapes import UNSEEN_CLASSES

    record = {
        **{k: rows[k] for k in ROWS},
        "unseen_classes": list(UNSEEN_CLASSES),
        "settings": dataclasses.asdict(settings),
        "config": str(CONFIG),
        "encoder": encoder_record(settings.encoder),
        "timing": timing,
    }
    atomic_text(out / "results.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
    gain = rows["dual_inference1"]["unseen_miou"] - rows["text_only"]["unseen_miou"]
    md = [
        "# Shapes-world demo",
        "",
        f"{settings.val_scenes} val scenes; unseen classes (never in training): "
        f"{', '.join(UNSEEN_CLASSES)}. IoU in percent (detectron2 protocol).",
        "",
        table(rows),
        "",
        f"Visual prompts on unseen classes: {gain:+.1f} mIoU (dual inference I over text only). "
        f"Every row uses the `{settings.encoder}` CLIP; the VIP rows are not trained at all.",
        "",
        "## Per class",
        "",
        class_table(rows, list(UNSEEN_CLASSES)),
        "",
        "![training loss of both models](loss.png)",
        "",
        "![val scenes: every row of the table](overlays.png)",
        "",
        f"Wall time {timing['wall_seconds']:.0f} s, CPU time {timing['cpu_seconds']:.0f} s.",
    ]
    atomic_text(out / "results.md", "\n".join(md) + "\n")
    return out / "results.json"


def encoder_record(name: str) -> dict:
    """Which CLIP the demo ran on: its name and, for the shipped world CLIP, its recipe record."""
    from promptbank import catalog

    if name != "tiny-world" or not catalog.TINY_WORLD_WEIGHTS.is_file():
        return {"name": name}
    record = json.loads(catalog.TINY_WORLD_WEIGHTS.with_suffix(".json").read_text())
    return {"name": name, "sha256": record["sha256"], "recipe": record["recipe"]}


def atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (DataLoader workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
