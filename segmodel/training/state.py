"""Training checkpoints: model weights, optimiser/scheduler state, step and RNG, plus the config.

Layout of a run folder:

    OUT/config.toml                     the resolved config of the run
    OUT/log.jsonl                       one JSON line per logged step
    OUT/model.safetensors               the final model (segmodel.load_model reads it)
    OUT/checkpoints/step-000100/        one folder per checkpoint:
        model.safetensors               the model (segmodel.save_model format)
        train_state.pt                  optimiser, scheduler, step (torch.save, tensors only)
        rng-0.pt                        RNG states of process 0 (one file per process)
        config.toml                     the resolved config (same as OUT/config.toml)
    OUT/checkpoints/latest              name of the newest complete checkpoint folder

Files are written under temporary names and renamed; `latest` moves only after a checkpoint is
complete, so an interrupted save never becomes the resume point. Nothing is unpickled on load
(`torch.load(weights_only=True)`).
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segmodel.errors import CheckpointError

CHECKPOINTS = "checkpoints"
LATEST = "latest"


def checkpoint_dir(out: Path, step: int) -> Path:
    return Path(out) / CHECKPOINTS / f"step-{step:06d}"


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def rng_state() -> dict[str, Any]:
    """This process's torch, CUDA, numpy-global and python RNG states (weights_only-loadable)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint folder of run `out`, or None."""
    pointer = Path(out) / CHECKPOINTS / LATEST
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text(encoding="utf-8").strip()
    if not (folder / "train_state.pt").is_file():
        raise CheckpointError(
            f"{pointer} names {folder.name}, which has no train_state.pt; remove the pointer "
            "or the run folder to start again"
        )
    return folder


def mark_latest(out: Path, folder: Path, keep: int) -> None:
    """Point `latest` at `folder`, then delete older step folders beyond the newest `keep`."""
    root = Path(out) / CHECKPOINTS
    atomic_write_text(root / LATEST, folder.name + "\n")
    if keep <= 0:
        return
    steps = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in steps[:-keep]:
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def load_train_state(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "train_state.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for damaged files
        raise CheckpointError(
            f"training state {path} cannot be read ({err}); resume from an older checkpoint "
            "by editing checkpoints/latest"
        ) from err


def load_rng(folder: Path, rank: int) -> dict[str, Any] | None:
    path = Path(folder) / f"rng-{rank}.pt"
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
