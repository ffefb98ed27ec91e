"""Describe banks: `bank_info` (one bank), `list_banks` (a store), `contact_sheet` (a class's images)."""

from __future__ import annotations

import math
from pathlib import Path

from promptbank.errors import BankError
from promptbank.format import read_manifest

THUMB = 96  # contact-sheet thumbnail side, pixels
CAPTION = 14  # caption strip height under each thumbnail


def bank_info(path: str | Path, *, classes: bool = True) -> dict:
    """A JSON-able summary of a bank (`dpseg bank info --json`)."""
    root = Path(path)
    m = read_manifest(root)
    recipe = m["recipe"]
    shards = m["shards"]
    info = {
        "path": str(root),
        "bank_id": m["bank_id"],
        "format_version": m["format_version"],
        "tool": m.get("tool"),
        "num_classes": len(m["classes"]),
        "num_templates": len(recipe["templates"]),
        "images_per_template": recipe["images_per_template"],
        "num_images": m["num_images"],
        "num_shards": len(shards),
        "bytes": sum(s["features_bytes"] + s["images_bytes"] for s in shards),
        "feature_bytes": sum(s["features_bytes"] for s in shards),
        "generator": recipe["generator"],
        "encoder": recipe["encoder"],
        "encode_size": recipe.get("encode_size"),
        "seed": recipe["seed"],
        "datasets": recipe.get("datasets"),
        "dims": m["dims"],
        "templates": recipe["templates"],
    }
    if classes:
        info["classes"] = [c["name"] for c in m["classes"]]
    return info


def format_info(info: dict) -> str:
    """Human-readable lines for `dpseg bank info`."""
    gen, enc = info["generator"], info["encoder"]
    names = info.get("classes", [])
    shown = ", ".join(names[:12]) + (f", ... (+{len(names) - 12})" if len(names) > 12 else "")
    return "\n".join(
        [
            f"bank      {info['path']}  (id {info['bank_id']}, format v{info['format_version']})",
            f"classes   {info['num_classes']}: {shown}",
            f"templates {info['num_templates']} x {info['images_per_template']} image(s) = "
            f"{info['num_images']} images in {info['num_shards']} shard(s)",
            f"generator {gen.get('name')} at {gen.get('resolution')} px, {gen.get('steps')} steps, "
            f"guidance {gen.get('guidance')}",
            f"encoder   {enc.get('name')} ({enc.get('pretrained') or enc.get('weights')}), "
            f"input {info['encode_size']} px, dims {info['dims']}",
            f"size      {human_bytes(info['bytes'])} ({human_bytes(info['feature_bytes'])} features)",
        ]
    )


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def list_banks(store: str | Path) -> list[dict]:
    """Every finished bank below `store` (unreadable ones are listed with their error)."""
    from promptbank.store import find_banks

    out = []
    for bank in find_banks(store):
        try:
            out.append(bank_info(bank, classes=False))
        except BankError as e:
            out.append({"path": str(bank), "error": str(e)})
    return out


def contact_sheet(path: str | Path, class_name: str, out: str | Path) -> Path:
    """Write a grid of every generated image of one class, captioned `t<template>/k<k>`."""
    from PIL import Image, ImageDraw

    from promptbank.format import publish
    from promptbank.reader import open_bank
    from promptbank.shards import read_samples

    bank = open_bank(path)
    name = bank.classes[bank.index(class_name)]
    entry = next(c for c in bank.manifest["classes"] if c["name"] == name)
    shard = next(s for s in bank.manifest["shards"] if s["id"] == entry["shard"])
    samples = [s for s in read_samples(bank.root / shard["images"]) if s.meta["class"] == name]
    samples.sort(key=lambda s: (s.meta["template_index"], s.meta["k"]))
    if not samples:
        raise BankError(f"bank {path} has no images of {name!r}; run `dpseg bank verify {path}`")
    cols = math.ceil(math.sqrt(len(samples)))
    rows = math.ceil(len(samples) / cols)
    sheet = Image.new("RGB", (cols * THUMB, rows * (THUMB + CAPTION) + CAPTION), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((2, 1), name, fill="black")
    for i, s in enumerate(samples):
        x, y = (i % cols) * THUMB, CAPTION + (i // cols) * (THUMB + CAPTION)
        sheet.paste(s.image().resize((THUMB, THUMB)), (x, y))
        draw.text(
            (x + 2, y + THUMB + 1), f"t{s.meta['template_index']}/k{s.meta['k']}", fill="black"
        )
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise BankError(f"--out {out}: expected an image file name ending in .png or .jpg")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    sheet.save(
        tmp,
        format="PNG"
        if out.suffix.lower() == ".png"
        else out.suffix[1:].upper().replace("JPG", "JPEG"),
    )
    publish(tmp, out)
    return out
