"""Steps every command shares: load the spec, show its warnings, check flag names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pkiform.errors import PkiformError, diagnostics_text
from pkiform.model import IdentityName, Spec
from pkiform.validation import ValidSpec, validate_path


def load(spec_path: Path, stderr: TextIO) -> ValidSpec:
    """The validated spec; its warnings go to stderr, its errors up as SpecError."""
    valid = validate_path(spec_path)
    stderr.write(diagnostics_text(valid.warnings))
    return valid


def rekey_names(spec: Spec, rekey: Sequence[str]) -> list[IdentityName]:
    unknown = [n for n in rekey if n not in spec.identities]
    if unknown:
        raise PkiformError(f"--rekey names no identity of the spec: {', '.join(unknown)}")
    return [IdentityName(n) for n in rekey]
