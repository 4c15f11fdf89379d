"""Check a Document against the JSON Schema, turning every violation into a located message."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema

from pkiform.errors import Diagnostic
from pkiform.source import Document, JsonPath, dotted

# Installed wheels carry a copy beside this module; a source checkout
# (PYTHONPATH=src or an editable install) reads the canonical file in schemas/.
_CANDIDATES = (
    Path(__file__).with_name("pkiform.schema.json"),
    Path(__file__).resolve().parents[2] / "schemas" / "pkiform.schema.json",
)


def schema_path() -> Path:
    """Where the schema this installation uses lives."""
    for candidate in _CANDIDATES:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("pkiform.schema.json is missing from this installation")


def schema_text() -> str:
    """The schema exactly as shipped."""
    return schema_path().read_text(encoding="utf-8")


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_text()))


def check(doc: Document) -> list[Diagnostic]:
    """Every schema violation in the document, located and worded for a person."""
    diagnostics: list[Diagnostic] = []
    for error in _validator().iter_errors(doc.data):
        diagnostics.extend(_explain(doc, error))
    return diagnostics


def _leaves(error: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
    """For if/then and allOf wrappers, the errors that say something concrete."""
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _explain(doc: Document, error: jsonschema.ValidationError) -> Iterator[Diagnostic]:
    path: JsonPath = tuple(error.absolute_path)
    validator = error.validator
    instance: Any = error.instance
    schema: Any = error.schema

    def at(p: JsonPath, message: str, *, key: bool = False) -> Diagnostic:
        return Diagnostic(loc=doc.loc(p, key=key), path=dotted(p), message=message)

    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        for extra in sorted(set(instance) - set(allowed)):
            yield at(
                (*path, extra), f"unknown field {extra!r}{_did_you_mean(extra, allowed)}", key=True
            )
        return
    if validator == "propertyNames":
        name = instance
        for sub in _leaves(error):
            name = sub.instance
        yield at(
            (*path, name),
            f"invalid identity name {name!r}: use 1 to 64 lowercase letters, digits, '.', '_' "
            "or '-', starting and ending with a letter or digit (it becomes a folder name)",
            key=True,
        )
        return
    if validator == "required":
        for field in schema.get("required", []):
            if isinstance(instance, dict) and field not in instance:
                yield at(path, f"missing required field {field!r}")
        return
    if schema is False:  # `"size": false` under if/then: the field is not allowed here
        yield at(path, f"{path[-1]!r} is not allowed here", key=True)
        return
    yield at(path, _message(validator, error.validator_value, instance, path))


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:77] + "...")
    return repr(value)


_TYPE_NAMES = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "integer": "an integer",
    "boolean": "true or false",
}

_PATTERN_HINTS = {
    "validity": "a duration like 90d, 12h, 2w or 10y",
    "renew_before": "a duration like 30d, 12h, 2w or 1y",
    "C": "a two-letter country code in capitals, like JP",
    "crl_url": "an http, https or ldap URL",
    "ocsp_url": "an http, https or ldap URL",
    "uri": "an absolute URI like spiffe://example.org/web",
    "extended_key_usage": (
        "serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, "
        "OCSPSigning or a dotted OID"
    ),
}


def _field_name(path: JsonPath) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return ""


def _message(validator: Any, expected: Any, instance: Any, path: JsonPath) -> str:
    got = _show(instance)
    if validator == "type":
        names = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_TYPE_NAMES.get(str(n), str(n)) for n in names)
        message = f"expected {wanted}; got {got}"
        if isinstance(instance, bool) and "string" in names:
            word = "NO" if instance is False else "YES"
            message += f' (YAML reads {word}, no, off, yes, on as booleans: quote it: "{word}")'
        return message
    if validator == "enum":
        if _field_name(path) == "size" and isinstance(instance, int) and instance < 2048:
            return f"RSA keys under 2048 bits are refused; got {instance}"
        return f"expected one of {', '.join(str(v) for v in expected)}; got {got}"
    if validator == "const":
        return f"expected {expected}; got {got}"
    if validator == "pattern":
        hint = _PATTERN_HINTS.get(_field_name(path), f"text matching {expected}")
        return f"expected {hint}; got {got}"
    if validator == "maxLength":
        return f"must be at most {expected} characters; got {len(instance)}"
    if validator == "minLength":
        return "must not be empty" if expected == 1 else f"must be at least {expected} characters"
    if validator == "minimum":
        return f"must be at least {expected}; got {got}"
    if validator == "maximum":
        return f"must be at most {expected}; got {got}"
    if validator == "minItems":
        return "must not be empty"
    if validator == "minProperties":
        return "must name at least one identity"
    if validator == "uniqueItems":
        return "lists the same value twice"
    return f"invalid value {got} ({validator})"
