from __future__ import annotations

from typing import TextIO

from pkiform.commands.common import load
from pkiform.commands.spec_input import SpecInput


def run(spec: SpecInput, *, stdout: TextIO, stderr: TextIO) -> int:
    """Check the spec; print every problem (SpecError carries them to cli)."""
    valid = load(spec, stderr)
    count = len(valid.spec.identities)
    stdout.write(f"{spec.name}: valid ({count} identities)\n")
    return 0
