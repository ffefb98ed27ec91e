"""Progress lines on stderr: count, rate and ETA (rewritten in place on a terminal)."""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """`Progress(total, "images", prefix="bank build")`; call `advance(n)`, then `close()`."""

    def __init__(
        self, total: int, unit: str, *, prefix: str = "", enabled: bool = True, every: float = 2.0
    ):
        self.total, self.unit, self.prefix = total, unit, prefix
        self.enabled = enabled and total > 0
        self.done = 0
        self.start = time.perf_counter()
        self._tty = sys.stderr.isatty()
        self._every = 0.2 if self._tty else every  # seconds between lines
        self._last = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last >= self._every or self.done >= self.total):
            self._last = now
            self._print(now)

    def _print(self, now: float) -> None:
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        line = (
            f"{self.prefix}: {self.done}/{self.total} {self.unit}, {rate:.1f} {self.unit}/s, "
            f"elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
        )
        end = "\r" if self._tty and self.done < self.total else "\n"
        print(line, end=end, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self._tty and self.done < self.total:
            print(file=sys.stderr)


def say(message: str, enabled: bool = True) -> None:
    """One status line on stderr."""
    if enabled:
        print(message, file=sys.stderr, flush=True)
