"""Tools of the fault suite: the real CLI run in-process, byte damage, and an OS-level watch of
the files a command opens (inotify, so nothing in dpseg is patched or mocked)."""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import random
import struct
import traceback
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Outcome:
    """What one `dpseg` call did."""

    code: int  # exit status (SystemExit), or -1 when an exception escaped main()
    stdout: str
    stderr: str
    escaped: str = ""  # the traceback of an exception that escaped main() (a failure)

    def refused(self, code: int, *words: str) -> str:
        """'' when this is a clean refusal: exit `code`, one stderr line holding `words`, no
        traceback; else the reason it is not."""
        if self.escaped:
            return f"exception escaped: {self.escaped.strip().splitlines()[-1]}"
        if self.code != code:
            return f"exit {self.code}, expected {code}: {self.stderr.strip()[:200]}"
        lines = self.stderr.strip().splitlines()
        if len(lines) != 1 or "Traceback" in self.stderr:
            return f"{len(lines)} stderr lines: {self.stderr.strip()[:300]}"
        missing = [w for w in words if w.lower() not in lines[0].lower()]
        return f"message lacks {missing}: {lines[0][:200]}" if missing else ""

    def verify_failed(self, *files: str) -> str:
        """'' when `dpseg bank verify` failed cleanly: exit 1, no traceback, `files` named."""
        if self.escaped or "Traceback" in self.stderr:
            return f"exception escaped: {(self.escaped or self.stderr).strip().splitlines()[-1]}"
        if self.code != 1:
            return f"exit {self.code}, expected 1: {self.stderr.strip()[:200]}"
        missing = [f for f in files if f not in self.stderr]
        return f"does not name {missing}: {self.stderr.strip()[:300]}" if missing else ""


def dpseg(*argv, cwd: Path | None = None, env: dict | None = None) -> Outcome:
    """Run `dpseg ARGV` through `cli.main.main`, the console script's own function, in this
    process (no interpreter start-up: the suite tries hundreds of inputs)."""
    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.environ.update(env or {})
    os.environ.pop("DPSEG_DEBUG", None) if env is None or "DPSEG_DEBUG" not in env else None
    code, escaped = 0, ""
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in argv])
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            except BaseException:  # noqa: BLE001 - anything else escaping main is the failure
                code, escaped = -1, traceback.format_exc()
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    return Outcome(code, out.getvalue(), err.getvalue(), escaped)


# ---------------------------------------------------------------------------------- damage
def flip(path: Path, offset: int, mask: int = 0xFF) -> None:
    """XOR one byte of `path` at `offset` with `mask`."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ mask]))


def truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def offsets(size: int, count: int, seed: int) -> list[int]:
    """`count` offsets spread over a file: both ends, evenly spaced, and random ones."""
    rng = random.Random(seed)
    spread = [round(i * (size - 1) / max(1, count // 2 - 1)) for i in range(count // 2)]
    picked = {0, size - 1, *spread}
    while len(picked) < min(count, size):
        picked.add(rng.randrange(size))
    return sorted(picked)[:count] if len(picked) > count else sorted(picked)


# ---------------------------------------------------------------------------------- inotify
IN_ACCESS, IN_OPEN = 0x1, 0x20


@dataclass
class Watch:
    """Records every open or read of a file inside the watched folders (Linux inotify)."""

    folders: list[Path]
    _fd: int = -1
    events: list[str] = field(default_factory=list)

    def __enter__(self) -> Watch:
        libc = ctypes.CDLL(None, use_errno=True)
        self._libc = libc
        self._fd = libc.inotify_init1(os.O_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._names = {}
        for folder in self.folders:
            wd = libc.inotify_add_watch(self._fd, str(folder).encode(), IN_OPEN | IN_ACCESS)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
            self._names[wd] = folder
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._drain()
        finally:
            os.close(self._fd)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            pos = 0
            while pos < len(data):
                wd, _mask, _cookie, size = struct.unpack_from("iIII", data, pos)
                name = data[pos + 16 : pos + 16 + size].rstrip(b"\0").decode()
                self.events.append(str(self._names[wd] / name) if name else str(self._names[wd]))
                pos += 16 + size
