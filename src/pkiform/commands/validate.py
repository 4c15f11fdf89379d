from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pkiform.commands.common import load


def run(spec_path: Path, *, stdout: TextIO, stderr: TextIO) -> int:
    """Check the spec; print every problem (SpecError carries them to cli)."""
    valid = load(spec_path, stderr)
    count = len(valid.spec.identities)
    stdout.write(f"{spec_path}: valid ({count} identities)\n")
    return 0
