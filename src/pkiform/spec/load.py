"""The whole validation pipeline: file -> Document -> schema -> ResolvedSpec -> rules.

Every problem comes out in one run: the semantic checks (resolve's values, then the rules)
run on every identity whose part of the spec the YAML reader and the schema accepted, and
say nothing about the parts they refused, whose own errors are reported instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pkiform.errors import Diagnostic, Severity, SpecError, sorted_diagnostics
from pkiform.spec import own_keys, resolve, rules, schema
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import ResolvedSpec
from pkiform.spec.source import Document, JsonPath, describe, load_path, load_text, value_at

# A caller's reading of the files a spec names (certificate requests, CAs to adopt):
# given the resolved spec, the spec completed from the files (a request's key type, an
# adopted certificate's fields), their problems and what it read, for the caller. It
# runs before the rules, which then judge the completed spec. spec/ reads no such file
# itself: x509/inputs.py does, with cryptography, which a spec without them never loads.
InputsReader = Callable[[ResolvedSpec, Document], tuple[ResolvedSpec, list[Diagnostic], object]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidSpec:
    """A spec that passed every check, its issuer graph, and the warnings to show."""

    spec: ResolvedSpec
    graph: IssuerGraph
    warnings: tuple[Diagnostic, ...]
    source_digest: str | None = None  # of the spec's text, when it was read from text
    # a spec that names files to read: its document, to be checked again where more is
    # known (the output directory), and what the reader read (None: no reader was given)
    doc: Document | None = None
    inputs: object = None


def validate_document(doc: Document, *, inputs: InputsReader | None = None) -> ValidSpec:
    """Check a parsed document; raise SpecError carrying every problem (and warning).
    `inputs` reads and checks the files the spec names, if it names any."""
    if not isinstance(doc.data, dict) or () in doc.broken:
        raise SpecError(doc.problems or [_not_a_mapping(doc)])
    problems, broken = list(doc.problems), set(doc.broken)
    holders = {p[:-1] for p in doc.broken}
    for diagnostic, path in schema.problems(doc):
        if not _follows_from_reader(doc, holders, path):
            problems.append(diagnostic)
            broken.add(path)
    if broken:
        judged = _judged(doc, broken)
        spec, found = resolve.build(doc, only=judged)
        unjudged = {
            name: raw.get("kind") if isinstance(raw, dict) else None
            for name, raw in _identities(doc).items()
            if name not in spec.identities
        }
    else:  # a valid document, as nearly every one is: no bookkeeping
        spec, found = resolve.build(doc)
        unjudged = {}
    problems += found
    names_files, read = own_keys.names_files(spec), None
    if names_files and inputs is not None:
        spec, from_files, read = inputs(spec, doc)
        problems += from_files
    graph = IssuerGraph.of(spec)
    problems += rules.check(spec, graph, doc, unjudged=unjudged)
    if any(p.severity is Severity.ERROR for p in problems):
        raise SpecError(problems)
    return ValidSpec(
        spec=spec,
        graph=graph,
        warnings=tuple(sorted_diagnostics(problems)),
        source_digest=doc.digest,
        doc=doc if names_files else None,
        inputs=read,
    )


def _not_a_mapping(doc: Document) -> Diagnostic:
    return Diagnostic(
        loc=doc.loc(()),
        path="",
        message=f"expected a mapping with 'version: 1' and 'identities'; got {describe(doc.data)}",
    )


def _follows_from_reader(doc: Document, holders: Collection[JsonPath], path: JsonPath) -> bool:
    """Whether a schema problem at `path` is only what a value the reader refused left
    behind: a refused value fails the schema too, and so may the list or mapping holding
    it (`holders`: a refused key leaves a mapping without that field)."""
    if any(path[:end] in doc.broken for end in range(len(path) + 1)) or path in holders:
        return True
    if path[:-1] in holders:  # "missing required field": maybe the refused key
        holder = value_at(doc.data, path[:-1])
        return isinstance(holder, dict) and path[-1] not in holder
    return False


def _identities(doc: Document) -> Mapping[str, Any]:
    identities = doc.data.get("identities")
    return identities if isinstance(identities, dict) else {}


def _judged(doc: Document, broken: Collection[JsonPath]) -> list[str]:
    """The identities that can be judged: nothing refused in their own part, or in the
    parts of defaults they take."""
    if any(len(p) < 2 and p[:1] in ((), ("identities",)) for p in broken):
        return []  # no identities, or not as written
    refused = {p[1] for p in broken if p[0] == "identities"}
    from_defaults = [p for p in broken if p[0] == "defaults"]
    return [
        name
        for name, raw in _identities(doc).items()
        if name not in refused and not any(_takes(raw, p) for p in from_defaults)
    ]


# defaults merged into an identity's own field by field (subject) or output by output
_MERGED = ("subject", "outputs")


def _takes(raw: Mapping[str, Any], broken: JsonPath) -> bool:
    """Whether an identity written as `raw` takes the broken part `broken` of defaults."""
    if len(broken) < 2:
        return True  # defaults is no mapping
    field = broken[1]
    if field not in raw:
        return True
    if field not in _MERGED:
        return False  # its own value replaces the default
    if len(broken) < 3:
        return True  # the default is no mapping, and its own is merged over it
    own, item = raw[field], broken[2]
    if field == "subject":
        return item not in own
    # an output of its own replaces the default's unless both are mappings (merged)
    return item not in own or isinstance(own[item], dict)


def validate_path(path: Path, *, inputs: InputsReader | None = None) -> ValidSpec:
    """Read, parse and check a spec file."""
    return validate_document(load_path(path, keep_going=True), inputs=inputs)


def validate_text(
    text: str, file: str = "<string>", *, inputs: InputsReader | None = None
) -> ValidSpec:
    """Parse and check spec text, as if read from `file`."""
    return validate_document(load_text(text, file, keep_going=True), inputs=inputs)
