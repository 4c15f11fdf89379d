"""The step every command shares: load the spec and show its warnings."""

from __future__ import annotations

from typing import TextIO

from pkiform.commands.spec_input import SpecInput
from pkiform.errors import diagnostics_text
from pkiform.spec.load import ValidSpec, validate_document, validate_path
from pkiform.spec.source import load_bytes


def load(spec: SpecInput, stderr: TextIO) -> ValidSpec:
    """The validated spec; its warnings go to stderr, its errors up as SpecError.
    (Not through pkiform.api: `validate` must not load cryptography.)"""
    if spec.data is None:
        valid = validate_path(spec.path)
    else:
        valid = validate_document(load_bytes(spec.data, spec.name, keep_going=True))
    stderr.write(diagnostics_text(valid.warnings))
    return valid
