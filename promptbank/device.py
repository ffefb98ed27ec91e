"""`--device` values: checked once, here, before any model is loaded.

`auto` is CUDA when a CUDA device is present, else CPU. A device this machine lacks (`cuda`
without a GPU or driver, `cuda:3` with two GPUs, `mps` off Apple silicon) is refused in one line
naming the value and the fix, instead of failing deep inside torch.
"""

from __future__ import annotations

import re

from promptbank.errors import DeviceError

_FORM = re.compile(r"(cpu|mps|cuda)(:\d+)?")


def resolve_device(device: str | None) -> str:
    """A usable torch device string for `device` (cpu, cuda, cuda:N, mps or auto)."""
    import torch

    name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    match = _FORM.fullmatch(name)
    if match is None:
        raise DeviceError(f"--device {device!r}: expected cpu, cuda, cuda:N, mps or auto")
    kind, index = match.group(1), match.group(2)
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(
                f"--device {device}: no CUDA device is usable here (torch {torch.__version__}, "
                "no GPU, driver or CUDA build); use --device cpu or --device auto"
            )
        if index is not None and int(index[1:]) >= count:
            raise DeviceError(
                f"--device {device}: this machine has {count} CUDA device(s) (cuda:0 to "
                f"cuda:{count - 1}); pick one of them"
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"--device {device}: MPS is not available here; use --device cpu")
    if kind == "cpu":
        return "cpu"  # torch's cpu:N is the one CPU (accelerate names it cpu:0 under torchrun)
    return name
