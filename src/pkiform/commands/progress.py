"""Progress for long applies: on a terminal only, after two seconds, on stderr."""

from __future__ import annotations

import time
from typing import TextIO

# quick runs finish before anything is shown; a line every 0.2 s is smooth enough
_DELAY = 2.0
_EVERY = 0.2


class Progress:
    """Counts identities done; draws `applying: 512/1002 identities (245/s)` in place."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self.total = 0
        self.stream = stream
        self.enabled = enabled
        self.done = 0
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.shown = False

    def start(self, total: int) -> None:
        """The number of identities to apply, known once the plan is made."""
        self.total = total

    def step(self, _name: str) -> None:
        self.done += 1
        if not self.enabled or not self.total:
            return
        now = time.monotonic()
        elapsed = now - self.started
        if elapsed < _DELAY or (now - self.drawn_at < _EVERY and self.done < self.total):
            return
        rate = self.done / elapsed if elapsed > 0 else 0.0
        self.stream.write(f"\rapplying: {self.done}/{self.total} identities ({rate:.0f}/s)")
        self.stream.flush()
        self.drawn_at = now
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")  # erase the line: the summary follows on stdout
            self.stream.flush()
