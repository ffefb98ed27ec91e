"""Builder locks: one byte-range lock per shard in a lock file inside the bank's build state.

A builder locks the bytes of the shards it owns (process i of n owns shards j with j % n == i).
Processes of one partitioned build own disjoint shards and run side by side; a second builder
that would touch the same shards is refused. POSIX record locks vanish when their process dies
(also on `kill -9`), so a crash never leaves a stale lock. Lock holders record their pid in a
side file so the refusal can name them.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from promptbank.errors import BankError

FINALISE_BYTE = 1 << 30  # a byte beyond any shard index: held while writing the manifest


class BuildLockedError(BankError):
    """Another builder holds the shards this one would build."""


class ShardLocks:
    """Holds exclusive locks on a set of shard indices until `release()` (or process exit)."""

    def __init__(self, path: str | Path, shards: list[int], root: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        for index in shards:
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, index)
            except OSError as e:
                self.release()
                if e.errno not in (errno.EACCES, errno.EAGAIN):
                    raise BankError(
                        f"cannot lock {self.path} ({e.strerror}); building a bank needs POSIX "
                        "file locks: put --out on a local or lock-capable file system"
                    ) from None
                raise BuildLockedError(
                    f"another `dpseg bank build` is writing {root} (shard {index} is locked{_holders(self.path)}); "
                    "wait for it to finish or stop it, then rerun"
                ) from None
        (self.path.parent / f"pid-{os.getpid()}").write_text(f"{os.getpid()}\n")

    def finalise_lock(self) -> bool:
        """Become the one process writing the manifest; waits while another one writes it (a
        short wait), so the caller then sees the finished manifest and skips the work."""
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, FINALISE_BYTE)
            return True
        except OSError:
            return False

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops every record lock of this process on the file
            self._fd = -1
            (self.path.parent / f"pid-{os.getpid()}").unlink(missing_ok=True)

    def __enter__(self) -> ShardLocks:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holders(path: Path) -> str:
    pids = []
    for f in path.parent.glob("pid-*"):
        pid = f.name[4:]
        if pid.isdigit() and int(pid) != os.getpid() and Path(f"/proc/{pid}").exists():
            pids.append(pid)
    return f" by pid {', '.join(sorted(pids))}" if pids else ""
