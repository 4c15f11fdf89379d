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
    valid = validated(spec)
    stderr.write(diagnostics_text(valid.warnings))
    return valid


def validated(spec: SpecInput) -> ValidSpec:
    """The validated spec, its warnings unshown; its errors up as SpecError."""
    if spec.data is None:
        return validate_path(spec.path)
    return validate_document(load_bytes(spec.data, spec.name, keep_going=True))
