"""Locations, diagnostics and the one exception hierarchy that cli maps to exit codes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Location:
    """A 1-based position in a spec file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    """One problem found in a spec, at a place, on a field path like `identities.web.issuer`."""

    loc: Location
    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        field = f"{self.path}: " if self.path else ""
        return f"{self.loc}: {self.severity}: {field}{self.message}"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.loc.file, self.loc.line, self.loc.col, self.path)


def sorted_diagnostics(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in file order, each reported once."""
    unique = {(d.sort_key(), d.severity, d.message): d for d in diagnostics}
    return sorted(unique.values(), key=Diagnostic.sort_key)


def diagnostics_text(diagnostics: Sequence[Diagnostic]) -> str:
    """One `FILE:LINE:COL: severity: PATH: message` line each."""
    return "".join(f"{d}\n" for d in diagnostics)


def diagnostics_json(diagnostics: Sequence[Diagnostic], *, valid: bool) -> str:
    """What `--json` prints for a spec's diagnostics (README, "Commands"): whether the spec
    is valid, and each problem with its location, severity, field path and message."""
    document = {
        "valid": valid,
        "diagnostics": [
            {
                "file": d.loc.file,
                "line": d.loc.line,
                "col": d.loc.col,
                "severity": str(d.severity),
                "path": d.path,
                "message": d.message,
            }
            for d in diagnostics
        ],
    }
    return json.dumps(document, indent=2) + "\n"


class PkiformError(Exception):
    """Root of every error pkiform reports to the user (exit code 1)."""


class SpecError(PkiformError):
    """The spec is invalid; carries every problem found, errors and warnings."""

    # located in the spec, but the spec itself is valid (a password it names is missing)
    spec_valid = False

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = sorted_diagnostics(diagnostics)
        errors = [d for d in self.diagnostics if d.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} error(s) in the spec")


class StoreError(PkiformError):
    """The output directory cannot be read or written as needed."""


class LockBusy(StoreError):
    """Another pkiform holds the output directory's lock."""


class RefusedError(PkiformError):
    """apply would have to do something only an explicit flag may allow (e.g. replace a CA key)."""
