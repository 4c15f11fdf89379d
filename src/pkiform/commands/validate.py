from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pkiform.render import diagnostics_text
from pkiform.validation import validate_path


def run(spec_path: Path, *, stdout: TextIO, stderr: TextIO) -> int:
    """Check the spec; print every problem (SpecError carries them to cli)."""
    valid = validate_path(spec_path)
    stderr.write(diagnostics_text(valid.warnings))
    count = len(valid.spec.identities)
    stdout.write(f"{spec_path}: valid ({count} identities)\n")
    return 0
