"""The whole validation pipeline: file -> Document -> schema -> Spec -> rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pkiform import resolve, rules, schema
from pkiform.errors import Diagnostic, Severity, SpecError, sorted_diagnostics
from pkiform.graph import IssuerGraph
from pkiform.model import Spec
from pkiform.source import Document, describe, load_path, load_text


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidSpec:
    """A spec that passed every check, its issuer graph, and the warnings to show."""

    spec: Spec
    graph: IssuerGraph
    warnings: tuple[Diagnostic, ...]
    source_digest: str | None = None  # of the spec's text, when it was read from text


def validate_document(doc: Document) -> ValidSpec:
    """Check a parsed document; raise SpecError carrying every problem (and warning)."""
    if not isinstance(doc.data, dict):
        raise SpecError(
            [
                Diagnostic(
                    loc=doc.loc(()),
                    path="",
                    message="expected a mapping with 'version: 1' and 'identities'; "
                    f"got {describe(doc.data)}",
                )
            ]
        )
    problems = schema.check(doc)
    if problems:
        raise SpecError(problems)
    spec, problems = resolve.build(doc)
    graph = IssuerGraph.of(spec)
    problems += rules.check(spec, graph, doc)
    if any(p.severity is Severity.ERROR for p in problems):
        raise SpecError(problems)
    return ValidSpec(
        spec=spec,
        graph=graph,
        warnings=tuple(sorted_diagnostics(problems)),
        source_digest=doc.digest,
    )


def validate_path(path: Path) -> ValidSpec:
    """Read, parse and check a spec file."""
    return validate_document(load_path(path))


def validate_text(text: str, file: str = "<string>") -> ValidSpec:
    """Parse and check spec text, as if read from `file`."""
    return validate_document(load_text(text, file))
