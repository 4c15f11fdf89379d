from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pkiform.commands.common import validated
from pkiform.commands.spec_input import SpecInput
from pkiform.errors import Diagnostic, SpecError, diagnostics_json, diagnostics_text


def run(
    specs: Sequence[SpecInput],
    *,
    stdout: TextIO,
    stderr: TextIO,
    as_json: bool = False,
    allow_paths: Sequence[Path] = (),
) -> int:
    """Check each spec, and the requests and CA files it names; print every problem of
    every one of them (SpecError carries them to cli when any is invalid). Several at
    once for pre-commit, which passes every file that changed."""
    found: list[Diagnostic] = []
    lines = []
    invalid = False
    for spec in specs:
        try:
            valid = validated(spec, allow_paths=allow_paths)
        except SpecError as e:
            found += e.diagnostics
            invalid = True
            continue
        found += valid.warnings
        lines.append(f"{spec.name}: valid ({len(valid.spec.identities)} identities)\n")
    if not as_json:
        stdout.write("".join(lines))
    if invalid:
        raise SpecError(found)
    stderr.write(diagnostics_text(found))
    if as_json:
        stdout.write(diagnostics_json(found, valid=True))
    return 0
