"""The step every command shares: load the spec and show its warnings."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pkiform.errors import diagnostics_text
from pkiform.validation import ValidSpec, validate_path


def load(spec_path: Path, stderr: TextIO) -> ValidSpec:
    """The validated spec; its warnings go to stderr, its errors up as SpecError.
    (Not through pkiform.api: `validate` must not load cryptography.)"""
    valid = validate_path(spec_path)
    stderr.write(diagnostics_text(valid.warnings))
    return valid
