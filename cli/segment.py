"""`dpseg segment`: segment your own images with a trained DPSeg (or training-free VIP).

Per image it writes OUT/labels/STEM.png (class indices), OUT/overlays/STEM.png (colours and a
legend) and OUT/STEM.json (classes and their pixel shares), each atomically and at the photo's own
(EXIF-upright) size. A bad image is
refused in one line and the others go on; the exit code is 1 if any image failed.

No numpy or torch at module level: `dpseg --help` must stay light.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import typer

from cli.options import CHECKPOINT_HELP, REFINE_HELP
from cli.vip_options import add_vip_flags
from promptbank.errors import DpsegError

MAX_SIDE = 2048  # the model's copy of a larger photo has this long side (segmodel.photo)


class SegmentUsageError(DpsegError):
    """`dpseg segment` options that do not fit together."""

    exit_code = 2  # a usage error, like a bad flag


def _segment(
    images: list[Path] = typer.Argument(..., help="Image files (JPEG, PNG, TIFF, WebP, ...)."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help=CHECKPOINT_HELP),
    classes: str | None = typer.Option(
        None, "--classes", help='Class names separated by commas, e.g. "sky, grass, red circle".'
    ),
    vocab: str | None = typer.Option(
        None, "--vocab", help="A vocabulary file (one class per line) or a built-in name (shapes)."
    ),
    bank: Path | None = typer.Option(
        None,
        "--bank",
        help="Prompt bank folder (default: the bank the checkpoint trained with; a text-only "
        "model, or one trained without a bank, needs none: text prompts from its own encoder).",
    ),
    inference: int = typer.Option(
        1, "--inference", help="1: one pass; 2: refine the prompts from the image (paper 4.3)."
    ),
    refine: str | None = typer.Option(None, "--refine", help=REFINE_HELP),
    out: Path = typer.Option(Path("segments"), "--out", help="Output folder."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:1 or auto."),
    generate: bool = typer.Option(
        False, "--generate", help="Generate classes the bank lacks (with the bank's own recipe)."
    ),
    method: str = typer.Option(
        "dpseg", "--method", help="dpseg (needs --checkpoint) or vip (training-free)."
    ),
    max_side: int = typer.Option(
        MAX_SIDE,
        "--max-side",
        help="The model sees larger photos downscaled to this long side; outputs keep the "
        "photo's own size.",
    ),
    encoder_weights: Path | None = typer.Option(
        None,
        "--encoder-weights",
        help="The prompt encoder's CLIP weights, when the model was trained with a local file "
        "(default: found from the model's record, in the HF cache).",
    ),
    compile_decoder: bool = typer.Option(
        False,
        "--compile",
        help="torch.compile the decoder (dpseg method; pays off over many images, mostly on GPU).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
    vip: dict | None = None,
) -> None:
    """Segment images into the classes you name: label maps, overlays with a legend, JSON shares.

    dpseg segment photo.jpg --checkpoint runs/demo/dual --vocab shapes

    dpseg segment *.png --method vip --backbone tiny --classes "sky, grass, water"
    """
    names = _class_names(classes, vocab)
    if inference not in (1, 2):
        raise SegmentUsageError(f"--inference {inference}: expected 1 or 2")
    if method not in ("dpseg", "vip"):
        raise SegmentUsageError(f"--method {method!r}: expected dpseg or vip")
    if method == "dpseg" and checkpoint is None:
        raise SegmentUsageError(
            "--checkpoint is missing: pass a model from `dpseg train` (or use --method vip)"
        )
    predict, info = _predictor(
        method, checkpoint, bank, vip, names, out, device, generate, inference, encoder_weights,
        refine, compile_decoder,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    stems: set[str] = set()
    for path in images:
        try:
            record = _one_image(path, predict, names, out, stems, max_side, info)
        except (DpsegError, OSError) as error:
            failed += 1
            print(f"dpseg: {path}: {error}", file=sys.stderr)
            continue
        if not quiet:
            top = ", ".join(f"{c['name']} {100 * c['share']:.1f}%" for c in record["present"][:4])
            print(f"{path} -> {out / 'overlays' / (record['stem'] + '.png')} ({top})")
    done = len(images) - failed
    if failed:
        print(f"dpseg: segmented {done} of {len(images)} images; {failed} failed", file=sys.stderr)
        raise typer.Exit(1)
    if not quiet:
        print(f"segmented {done} image(s) into {len(names)} classes -> {out}")


# --- set-up -------------------------------------------------------------------------------------
def _class_names(classes: str | None, vocab: str | None) -> list[str]:
    if (classes is None) == (vocab is None):
        raise SegmentUsageError('give exactly one of --classes "a, b, c" or --vocab FILE|NAME')
    if classes is not None:
        names = [c.strip() for c in classes.split(",") if c.strip()]
    else:
        from promptbank.vocab import load_vocabulary

        names = list(load_vocabulary(vocab).classes)
    if not names:
        raise SegmentUsageError(f"--classes {classes!r} names no class; e.g. --classes 'sky, sand'")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SegmentUsageError(f"classes {dupes} are given twice; name each class once")
    return names


def _predictor(
    method, checkpoint, bank, vip, names, out, device, generate, inference, weights, refine=None,
    compile_decoder=False,
):  # fmt: skip
    """-> (predict(PIL image) -> SegmentationResult, provenance dict for the JSON)."""
    from segmodel.evaluation import _pick_device

    device = _pick_device(device)
    if method == "vip":
        from segmodel.vip import VipSegmenter, VipSettings

        settings = VipSettings.preset(vip["preset"], **vip["overrides"])
        segmenter = VipSegmenter(vip["backbone"], vip["weights"], device=device, bank=bank,
                                 settings=settings)  # fmt: skip
        info = {"method": "vip", "backbone": vip["backbone"], "bank": str(bank) if bank else None,
                "vip_overrides": vip["overrides"]}  # fmt: skip
        return (lambda image: segmenter.segment(image, names, return_probs=False)), info
    from promptbank.reader import open_bank
    from segmodel.checkpoint import load_model, model_file, prompt_bank_for
    from segmodel.segmenter import Segmenter

    checkpoint = model_file(checkpoint)  # a run folder names its model.safetensors
    bank = prompt_bank_for(checkpoint, bank)
    model = load_model(checkpoint, device)
    if compile_decoder:
        model.compile_decoder()
    config = model.config
    text_model = not config.uses_visual  # reads text prompts only: a bank is optional
    # Without a bank: text prompts from the model's own frozen prompt encoder (as in training).
    from segmodel.model.refine import refine_preset

    seg = Segmenter(model, open_bank(bank) if bank else None, device, encoder_weights=weights,
                    refine=refine_preset(refine))  # fmt: skip
    missing = [c for c in names if seg.bank is not None and not seg.bank.has(c)]
    if seg.bank is None or missing:
        # load the prompt encoder now: a missing one is one error, not one per image
        _ = seg.encoder
    if text_model:
        if generate:
            print("dpseg: note: --generate ignored: the model reads text prompts only",
                  file=sys.stderr)  # fmt: skip
        missing, generate = [], False  # text prompts for every class is what the model expects
    if missing and generate:
        seg.bank = open_bank(_extend_bank(seg.bank, missing, seg.encoder, out, device))
    elif missing:
        listed = ", ".join(repr(c) for c in missing)
        print(
            f"dpseg: warning: {len(missing)} class(es) not in bank {bank}: {listed}; they use "
            "text prompts only (pass --generate to add them to a copy of the bank)",
            file=sys.stderr,
        )
    info = {
        "method": "dpseg",
        "checkpoint": str(checkpoint),
        "prompt_mode": config.prompt_mode,
        "bank": str(seg.bank.root) if seg.bank is not None else None,
        "inference": inference,
        "refine": refine,
        "text_only": [] if generate else missing,
    }
    return (lambda image: seg.segment(image, names, inference=inference)), info


def _extend_bank(bank, missing: list[str], encoder, out: Path, device: str) -> Path:
    """A new bank under OUT/banks/ holding the bank's classes (copied) plus `missing` (generated
    with the bank's own recipe). Returns its folder."""
    from promptbank.build import run_build
    from promptbank.generator import load_generator
    from promptbank.vocab import vocabulary_from_names

    recipe = bank.manifest["recipe"]
    gen = recipe["generator"]
    lines = [", ".join(a) if a else c for c, a in zip(bank.classes, bank.aliases)] + missing
    key = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:10]
    target = out / "banks" / f"{bank.root.name}-plus-{key}"
    print(f"dpseg: generating {len(missing)} class(es) into {target}", file=sys.stderr)
    report = run_build(
        vocabulary_from_names(lines, name=f"{bank.root.name}-plus"),
        target,
        generator=load_generator(gen["name"], device=device),
        encoder=encoder,
        templates=list(bank.templates),
        images_per_template=bank.images_per_template,
        resolution=int(gen["resolution"]),
        steps=int(gen["steps"]),
        guidance=float(gen["guidance"]),
        seed=int(recipe["seed"]),
        store=bank.root,
        stage_maps=any(d.startswith("maps_") for d in recipe.get("datasets", [])),
        encode_size=int(recipe["encode_size"]),
        device=device,
    )
    if report.bank_id != bank.bank_id:
        print(
            f"dpseg: warning: the rebuilt recipe differs from bank {bank.root} "
            f"({report.bank_id} vs {bank.bank_id}); its classes were generated again",
            file=sys.stderr,
        )
    return target


# --- one image ----------------------------------------------------------------------------------
def _unique_stem(path: Path, stems: set[str]) -> str:
    stem, n = path.stem, 2
    while stem in stems:
        stem, n = f"{path.stem}-{n}", n + 1
    stems.add(stem)
    return stem


def _one_image(path, predict, names, out, stems, max_side, info) -> dict:
    import numpy as np
    from PIL import Image

    from segmodel.overlay import overlay, pixel_shares
    from segmodel.photo import read_photo

    photo = read_photo(path, max_side)
    result = predict(photo.working)
    classes = list(result.classes)
    labels = photo.full_size(result.labels, len(classes))  # (H, W) at the photo's own size
    stem = _unique_stem(path, stems)
    shares = pixel_shares(labels, len(classes))
    _save_png(Image.fromarray(labels), out / "labels" / f"{stem}.png")
    _save_png(overlay(photo.image, labels, classes), out / "overlays" / f"{stem}.png", level=1)
    order = np.argsort(-shares, kind="stable")
    record = {
        "image": str(path),
        "stem": stem,
        "size": list(photo.size),
        "original_size": list(photo.stored_size),
        "segmented_size": list(photo.working.size),
        "notes": photo.notes,
        **info,
        "classes": [
            {"index": i, "name": c, "share": float(shares[i]), "score": float(result.scores[i])}
            for i, c in enumerate(classes)
        ],
        "present": [
            {"name": classes[i], "share": float(shares[i])} for i in order if shares[i] > 0
        ],
        "labels": f"labels/{stem}.png",
        "overlay": f"overlays/{stem}.png",
    }
    if getattr(result, "refined", None):
        record["refined"] = list(result.refined)
    _atomic_text(out / f"{stem}.json", json.dumps(record, indent=2) + "\n")
    return record


def _save_png(image, path: Path, level: int = 6) -> None:
    """Atomic PNG; `level` 1 for pictures (3x faster on 12-megapixel overlays, files ~1.3x)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    image.save(tmp, format="PNG", compress_level=level)
    os.replace(tmp, path)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


segment = add_vip_flags(_segment)
