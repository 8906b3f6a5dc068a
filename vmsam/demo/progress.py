"""A textual progress bar on stderr: redrawn in place on a terminal, a plain line every tenth
of the way otherwise (a log or a pipe gets no carriage returns)."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30
_STEPS = 10


class Progress:
    def __init__(self, total: int, what: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.what = what
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._shown_step = -1

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self.tty:
            self._draw(note, end="")
            return
        step = self.done * _STEPS // self.total
        if step != self._shown_step:
            self._shown_step = step
            self._draw(note, end="\n")

    def _draw(self, note: str, end: str) -> None:
        filled = self.done * WIDTH // self.total
        bar = "#" * filled + "." * (WIDTH - filled)
        percent = self.done * 100 // self.total
        line = f"[{bar}] {percent:3d}% {self.done}/{self.total} {self.what}"
        if note:
            line += f"  {note}"
        prefix = "\r\x1b[2K" if self.tty else ""
        self.stream.write(prefix + line + end)
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()
