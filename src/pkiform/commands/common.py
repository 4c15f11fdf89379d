"""The step every command shares: load the spec and show its warnings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pkiform.commands.spec_input import SpecInput
from pkiform.errors import Diagnostic, diagnostics_text
from pkiform.spec.load import InputsReader, ValidSpec, validate_document, validate_path
from pkiform.spec.model import ResolvedSpec
from pkiform.spec.source import Document, load_bytes

if TYPE_CHECKING:
    from pkiform.api import Spec


def load(spec: SpecInput, stderr: TextIO, *, allow_paths: Sequence[Path] = ()) -> ValidSpec:
    """The validated spec (validated()); its warnings go to stderr, its errors up as
    SpecError."""
    valid = validated(spec, allow_paths=allow_paths)
    stderr.write(diagnostics_text(valid.warnings))
    return valid


def open_spec(spec: SpecInput, stderr: TextIO, *, allow_paths: Sequence[Path] = ()) -> Spec:
    """The spec, loaded (its warnings shown) for plan, apply and status to act on, its
    files relative to its folder and read inside it or `allow_paths`."""
    from pkiform.api import Spec  # loads cryptography: only the commands that act need it

    valid = load(spec, stderr, allow_paths=allow_paths)
    return Spec(valid, base=spec.base, allow_paths=allow_paths)


def validated(spec: SpecInput, *, allow_paths: Sequence[Path] = ()) -> ValidSpec:
    """The validated spec, with the certificate requests and CA files it names read and
    checked (relative to its folder, and inside it or `allow_paths`); its warnings
    unshown, its errors up as SpecError. (Not through pkiform.api: `validate` of a spec
    that names no such file must not load cryptography.)"""
    inputs = _files_reader(spec.base, allow_paths)
    if spec.data is None:
        return validate_path(spec.path, inputs=inputs)
    document = load_bytes(spec.data, spec.name, keep_going=True)
    return validate_document(document, inputs=inputs)


def _files_reader(base: Path | None, allow_paths: Sequence[Path]) -> InputsReader:
    def read(spec: ResolvedSpec, doc: Document) -> tuple[ResolvedSpec, list[Diagnostic], object]:
        # called only for a spec that names such files: then cryptography is loaded
        from pkiform.api import files_reader

        return files_reader(base, allow_paths)(spec, doc)

    return read
