"""Model checkpoints: one safetensors file whose metadata holds the JSON config.

The metadata key `dpseg` holds {"format", "version", "config", "encoder", "extra", "sha256"}: the
model settings, the identity of the frozen prompt encoder (banks must match it), and a sha256 over
the rest of the header and every tensor, so a flipped byte is refused on load. Nothing is ever
unpickled. The file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from segmodel.config import DPSegConfig
from segmodel.errors import CheckpointError
from segmodel.model.dpseg import DPSeg

FORMAT = "dpseg-model"
VERSION = 1
MODEL_FILE = "model.safetensors"  # the model inside a run folder (`dpseg train` writes it)


def model_file(path: str | Path) -> Path:
    """The model file that `path` names: the file itself, or RUN/model.safetensors for a run
    folder (as `dpseg train` and `dpseg demo` write them). Every `--checkpoint` goes through here.

    A run folder without a final model (the run stopped early) is refused, naming its newest
    step checkpoint's model, which loads the same way."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return path
    final = path / MODEL_FILE
    if final.is_file():
        return final
    steps = sorted((path / "checkpoints").glob(f"step-*/{MODEL_FILE}"))
    hint = (
        f"the run stopped before its last step; pass its newest checkpoint {steps[-1]}"
        if steps
        else "pass a folder written by `dpseg train` or a .safetensors file from save_model"
    )
    raise CheckpointError(f"run folder {path} holds no {MODEL_FILE}: {hint}")


def save_model(model: DPSeg, path: str | Path, *, extra: dict | None = None) -> Path:
    """Write `model` to `path` (.safetensors); `extra` JSON-able info is stored alongside."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "encoder": model.encoder_identity,
        "extra": extra or {},
    }
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    header["sha256"] = content_sha256(header, state)
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata={"dpseg": json.dumps(header, sort_keys=True)})
    os.replace(tmp, path)
    return path


def read_header(path: str | Path) -> dict:
    """The checkpoint's JSON header (config, encoder identity, extra) without loading weights."""
    from safetensors import safe_open

    path = model_file(path)
    if not path.is_file():
        raise CheckpointError(
            f"model checkpoint {path} does not exist; pass a run folder from `dpseg train` "
            f"(holding {MODEL_FILE}) or a file written by save_model"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise CheckpointError(
            f"model checkpoint {path} is not a readable safetensors file "
            f"({err}); re-save it with save_model"
        ) from err
    if "dpseg" not in meta:
        raise CheckpointError(
            f"{path} is a safetensors file but not a dpseg model checkpoint "
            "(no 'dpseg' metadata); save models with segmodel.save_model"
        )
    try:
        header = json.loads(meta["dpseg"])
    except (json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(
            f"model checkpoint {path} has a damaged header ({err}); re-save it or use a backup"
        ) from None
    if not isinstance(header, dict) or not isinstance(header.get("config"), dict):
        raise CheckpointError(f"model checkpoint {path} has no model config; re-save it")
    if header.get("format") != FORMAT or header.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path} has format {header.get('format')} v{header.get('version')}"
            f"; this dpseg reads {FORMAT} v{VERSION}: upgrade dpseg"
        )
    return header


def load_model(path: str | Path, device: str | torch.device = "cpu") -> DPSeg:
    """Rebuild the model saved at `path` (a .safetensors file or a run folder holding
    model.safetensors) in eval mode on `device`."""
    from promptbank.encoder import load_encoder

    path = model_file(path)
    header = read_header(path)
    config = DPSegConfig.from_dict(header["config"])
    skeleton = load_encoder(config.encoder, random_init=True)  # weights come from the file
    model = DPSeg(config, skeleton)
    model.encoder_identity = header["encoder"]
    state = load_state(path, header)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # tensor shapes of another model size or preset
        first = str(err).strip().splitlines()[-1].strip()
        raise CheckpointError(
            f"{path}: its weights do not fit its config ({first}); it holds another model "
            "(another preset or size): pass the checkpoint that matches, or re-save it"
        ) from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not fit its own config: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}; it was written by another version"
        )
    return model.to(device).eval()


def content_sha256(header: dict, state: dict[str, torch.Tensor]) -> str:
    """sha256 over the header (minus this sum) and every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    body = {k: v for k, v in header.items() if k != "sha256"}
    h.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(state):
        t = state[name].detach().contiguous().cpu()
        h.update(f"|{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def load_state(path: str | Path, header: dict | None = None) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, checked against its sha256 (CheckpointError when damaged)."""
    from safetensors.torch import load_file

    header = read_header(path) if header is None else header
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise CheckpointError(
            f"model checkpoint {path} is damaged ({err}); re-save it or use a backup"
        ) from None
    if "sha256" in header and content_sha256(header, state) != header["sha256"]:
        raise CheckpointError(
            f"model checkpoint {path} does not match its sha256 (damaged or edited); "
            "re-save it or use a backup"
        )
    return state


def prompt_bank_for(checkpoint: str | Path, bank: str | Path | None) -> Path | None:
    """The bank to prompt a saved model with: `bank` if given, else the one it trained with.

    Returns None when the model needs no bank (it reads text prompts only, or was trained without
    one): its text prompts then come from its own frozen prompt encoder, as in training. Raises
    CheckpointError when a bank is needed and none is given or recorded on this disk."""
    if bank is not None:
        return Path(bank)
    header = read_header(checkpoint)
    recorded = header.get("extra", {}).get("bank")  # "" = trained without a bank
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    if recorded == "" or not DPSegConfig.from_dict(header["config"]).uses_visual:
        return None
    raise CheckpointError(
        f"--bank is missing and checkpoint {checkpoint} records no bank that exists "
        f"({recorded or 'none'}); pass --bank DIR built with the model's encoder"
    )
