"""A dependency-free progress bar for long work on a terminal (silent when not a TTY)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Call with (done, total); draws ``label [#####.....] 50% 5/10 3.2s`` on one line."""

    def __init__(
        self, label: str, *, stream: TextIO | None = None, width: int = 30, force: bool = False
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = force or self.stream.isatty()
        self.started = time.monotonic()
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return  # redraw at most ten times a second
        self._last = now
        fraction = 1.0 if total <= 0 else min(1.0, done / total)
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {done}/{total} {now - self.started:5.1f}s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
