from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pkiform.commands.common import load
from pkiform.commands.spec_input import SpecInput
from pkiform.errors import diagnostics_json


def run(
    spec: SpecInput,
    *,
    stdout: TextIO,
    stderr: TextIO,
    as_json: bool = False,
    allow_paths: Sequence[Path] = (),
) -> int:
    """Check the spec, and the requests and CA files it names; print every problem
    (SpecError carries them to cli)."""
    valid = load(spec, stderr, allow_paths=allow_paths)
    if as_json:
        stdout.write(diagnostics_json(valid.warnings, valid=True))
        return 0
    count = len(valid.spec.identities)
    stdout.write(f"{spec.name}: valid ({count} identities)\n")
    return 0
