"""`dpseg eval`: score saved label maps, or a trained model on a benchmark, into results.json.

No numpy or torch at module level: `dpseg --help` must stay light.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from cli.options import CHECKPOINT_HELP, REFINE_HELP
from cli.vip_options import add_vip_flags
from promptbank.errors import DpsegError


class EvalUsageError(DpsegError):
    """`dpseg eval` options that do not form one of its two modes."""

    exit_code = 2  # a usage error, like a bad flag


def _evaluate(
    out: Path = typer.Option(..., "--out", help="Output folder for results.json and results.md."),
    pred: Path | None = typer.Option(
        None, "--pred", help="Folder of predicted label maps (PNG/TIFF), named like the GT."
    ),
    gt: Path | None = typer.Option(None, "--gt", help="Folder of ground-truth label maps."),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="Class names in label order: a .txt (one per line) or .json list, or a shipped "
        "vocabulary name (ade150, ade847, coco, pc59, pc459, voc20; voc20b = 21 classes).",
    ),
    ignore: int = typer.Option(255, "--ignore", help="Ground-truth value that is not scored."),
    fold_from: int | None = typer.Option(
        None, "--fold-from", help="Predictions >= N count as class N (VOC-20b: 20)."
    ),
    protocol: str = typer.Option(
        "detectron2", "--protocol", help="Metric rules: detectron2 (SED/CAT-Seg) or mmseg."
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="Model mode: " + CHECKPOINT_HELP
    ),
    dataset: str | None = typer.Option(
        None,
        "--dataset",
        help="coco-stuff171, ade150, ade847, pc59, pc459, voc20, voc20b, folder or shapes.",
    ),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="Datasets root (SED/CAT-Seg layout) or the folder dataset."
    ),
    split: str = typer.Option("val", "--split", help="Dataset split."),
    bank: Path | None = typer.Option(
        None, "--bank", help="Prompt bank folder (model mode; default: the one it trained with)."
    ),
    encoder_weights: Path | None = typer.Option(
        None,
        "--encoder-weights",
        help="Model mode: the prompt encoder's CLIP weights, when the model was trained with a "
        "local file (default: found from the model's record, in the HF cache).",
    ),
    inference: int = typer.Option(
        1, "--inference", help="DPSeg inference mode, 1 or 2 (see docs/evaluation.md)."
    ),
    refine: str | None = typer.Option(None, "--refine", help=REFINE_HELP),
    sliding: bool = typer.Option(
        False, "--sliding", help="Sliding-window inference instead of one whole-image resize."
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:1, mps or auto."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate only the first N images."),
    workers: int = typer.Option(1, "--workers", help="Threads loading label maps (pred mode)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress line."),
    method: str = typer.Option(
        "dpseg", "--method", help="dpseg (needs --checkpoint) or vip (training-free)."
    ),
    single_names: bool = typer.Option(
        False, "--single-names", help="VIP: the protocol's single-name class file, no aliases."
    ),
    vip: dict | None = None,
) -> None:
    """Score segmentations with detectron2's or MMSegmentation's mIoU rules.

    Pred mode scores any method's saved label maps, paired with the GT by file stem:

        dpseg eval --pred preds/ --gt labels/ --classes ade150 --out results/

    Model mode runs a dpseg checkpoint on a benchmark:

        dpseg eval --checkpoint runs/dpseg_b --dataset ade150 --data-root datasets/ --bank bank/ --out results/

    VIP mode segments without training (every VIP setting is a --vip-* flag):

        dpseg eval --method vip --backbone ViT-B-16:openai --dataset voc20 --data-root datasets/ --protocol mmseg --out results/
    """
    from segmodel import evaluation

    if method not in ("dpseg", "vip"):
        raise EvalUsageError(f"--method {method!r}: expected dpseg or vip")
    if method == "vip":
        results = _eval_vip(
            dataset, data_root, split, bank, vip, single_names, protocol, device, limit, quiet,
        )  # fmt: skip
    elif pred is not None or gt is not None:
        results = _eval_predictions(pred, gt, classes, ignore, fold_from, protocol, workers, quiet)
    elif checkpoint is not None:
        results = _eval_checkpoint(
            checkpoint, dataset, data_root, split, bank, inference, sliding, protocol, device,
            limit, quiet, ignore, encoder_weights, refine,
        )  # fmt: skip
    else:
        raise EvalUsageError(
            "dpseg eval needs --pred DIR --gt DIR --classes FILE, or --checkpoint CKPT "
            "--dataset NAME --data-root DIR --bank DIR"
        )
    if not evaluation.is_main_process():
        return  # under accelerate launch, rank 0 writes the (already summed) results
    json_path, _ = evaluation.write_results(results, out)
    typer.echo(f"{evaluation.format_summary(results)} -> {json_path}")


# dpseg dataset name -> VIP preset (its class file lists the same classes in label order)
VIP_PRESETS = {"voc20": "voc20", "pc59": "context59", "ade150": "ade20k",
               "coco-stuff171": "coco-stuff", "shapes": "shapes"}  # fmt: skip


def _eval_vip(
    dataset, data_root, split, bank, vip, single_names, protocol, device, limit, quiet,
) -> dict:  # fmt: skip
    """Training-free VIP over a benchmark: the dataset's preset settings and alias file."""
    if dataset is None:
        raise EvalUsageError("--method vip needs --dataset NAME (and --data-root DIR)")
    from segmodel.datasets import open_dataset
    from segmodel.evaluation import evaluate_model
    from segmodel.vip import VipSegmenter
    from segmodel.vip.segmenter import preset_vocabulary
    from segmodel.vip.settings import VipSettings

    data = open_dataset(dataset, data_root, split=split)
    backbone = vip["backbone"]
    preset = vip["preset"] or VIP_PRESETS.get(dataset)
    settings = VipSettings.preset(preset, **vip["overrides"])
    if preset:
        vocab = preset_vocabulary(preset, aliases=not single_names)
        if len(vocab.classes) != len(data.classes):
            raise EvalUsageError(
                f"VIP preset {preset!r} has {len(vocab.classes)} classes but dataset {dataset!r} "
                f"has {len(data.classes)}; pass a matching --vip-preset"
            )
    else:
        names = list(data.classes)
        vocab = [n.split(",")[0].strip() for n in names] if single_names else names
    segmenter = VipSegmenter(
        backbone, vip["weights"], device=None if device == "auto" else device, bank=bank,
        settings=settings,
    )  # fmt: skip

    def predict(image):
        return segmenter.segment(image, vocab, return_probs=False).labels

    source = {"method": "vip", "backbone": backbone, "preset": preset,
              "aliases": not single_names, "settings": dataclasses.asdict(settings)}  # fmt: skip
    return evaluate_model(predict, data, protocol=protocol, limit=limit, progress=not quiet,
                          source=source)  # fmt: skip


def _eval_predictions(pred, gt, classes, ignore, fold_from, protocol, workers, quiet) -> dict:
    from segmodel import evaluation
    from segmodel.datasets import read_classes_file, read_vocab

    if pred is None or gt is None or classes is None:
        raise EvalUsageError("pred mode needs all of --pred DIR, --gt DIR and --classes FILE")
    path = Path(classes)
    if classes == "voc20b" and not path.exists():
        # VOC-20b scores 21 classes (20 VOC + background); query indices >= 20 are background
        names = read_vocab("voc20.json") + ["background"]
        fold_from = 20 if fold_from is None else fold_from
    elif not path.exists() and "/" not in classes and not path.suffix:
        names = read_vocab(f"{classes}.json")  # a shipped vocabulary name
    else:
        names = read_classes_file(path)
    return evaluation.score_folders(
        pred,
        gt,
        names,
        ignore_index=ignore,
        protocol=protocol,
        fold_from=fold_from,
        workers=workers,
        progress=not quiet,
    )


def _eval_checkpoint(
    checkpoint, dataset, data_root, split, bank, inference, sliding, protocol, device, limit, quiet,
    ignore, encoder_weights, refine,
) -> dict:  # fmt: skip
    if dataset is None:
        raise EvalUsageError("model mode needs --dataset besides --checkpoint")
    from segmodel.checkpoint import prompt_bank_for
    from segmodel.evaluation import evaluate_checkpoint
    from segmodel.model.refine import refine_preset

    bank = prompt_bank_for(checkpoint, bank)  # None: the model needs no bank

    return evaluate_checkpoint(
        checkpoint,
        dataset,
        data_root,
        bank,
        split=split,
        inference=inference,
        sliding=sliding,
        protocol=protocol,
        device=device,
        limit=limit,
        progress=not quiet,
        dataset_options={"ignore_index": ignore} if dataset == "folder" else None,
        encoder_weights=encoder_weights,
        refine=refine_preset(refine),
    )


evaluate = add_vip_flags(_evaluate)
