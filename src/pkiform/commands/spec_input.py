"""The spec a command works from: a file, or standard input (SPEC `-`), read once.

Light on purpose: plan and apply on a settled directory use it before (and instead of)
loading the spec machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pkiform.errors import PkiformError

STDIN = "-"
STDIN_NAME = "<stdin>"  # what locations say, as Python's own messages do
# source.MAX_FILE_BYTES (not imported: source loads yaml); one byte more tells it is over
_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpecInput:
    """A spec file's path, or standard input's bytes."""

    path: Path
    data: bytes | None = None  # standard input as read; None for a file

    @classmethod
    def of(cls, path: Path, stdin: BinaryIO) -> SpecInput:
        """`path`, or standard input read now when it is `-`."""
        if str(path) != STDIN:
            return cls(path)
        try:
            return cls(path, stdin.read(_LIMIT + 1))
        except OSError as e:
            raise PkiformError(f"{STDIN_NAME}: cannot read: {e.strerror}") from None

    @property
    def name(self) -> str:
        """What messages and locations call it."""
        return STDIN_NAME if self.data is not None else str(self.path)

    @property
    def base(self) -> Path | None:
        """The folder its `password_file` paths are relative to: the spec file's; for
        standard input, the working directory (None)."""
        return self.path.parent if self.data is None else None

    def source(self) -> bytes | None:
        """Its bytes for the settled mark: standard input's as read, or the file's as
        it is now; None if the file cannot be read (planning in full says why)."""
        if self.data is not None:
            return self.data
        try:
            return self.path.read_bytes()
        except OSError:
            return None
