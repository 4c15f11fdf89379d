"""Check a Document against the JSON Schema, turning every violation into a located message."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pkiform.errors import Diagnostic
from pkiform.spec.schema_fast import Check, compile_schema, ecma_regex, is_number
from pkiform.spec.source import Document, JsonPath, describe, dotted, value_at

if TYPE_CHECKING:
    # imported for real only in _validator(): a valid spec never pays for it (~70 ms)
    import jsonschema

# Installed wheels carry a copy beside this module; a source checkout
# (PYTHONPATH=src or an editable install) reads the canonical file in schemas/.
_CANDIDATES = (
    Path(__file__).parents[1] / "pkiform.schema.json",
    Path(__file__).resolve().parents[3] / "schemas" / "pkiform.schema.json",
)

# a located message, and the path of the part of the document it makes unusable
Found = tuple[Diagnostic, JsonPath]

IDENTITY_NAME_RULE = (
    "use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting and ending with a "
    "letter or digit (it becomes a folder name)"
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


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    import jsonschema

    # the same regex as the compiled schema's, so both paths accept the same strings
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _schema() -> Any:
    return json.loads(schema_text())


@functools.cache
def _compiled() -> Check:
    return compile_schema(_schema())


@functools.cache
def _validator() -> Any:
    import jsonschema

    extended = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, validators={"pattern": _ecma_pattern}
    )
    return extended(_schema())


def check(doc: Document) -> list[Diagnostic]:
    """Every schema violation in the document, located and worded for a person."""
    return [diagnostic for diagnostic, _ in problems(doc)]


def problems(doc: Document) -> list[Found]:
    """Every schema violation, each with the path of the part it breaks: the value that
    is wrong, the unknown field, the missing one."""
    # the compiled schema only says yes or no, many times faster than jsonschema; a
    # refused document goes through jsonschema, the one source of the messages (if it
    # finds nothing after all, the answer is its empty list)
    if _compiled()(doc.data):
        return []
    found: list[Found] = []
    for error in _validator().iter_errors(doc.data):
        found.extend(_explain(doc, error))
    return found


def _leaves(error: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
    """For anyOf/oneOf wrappers, the errors that say something concrete."""
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _explain(doc: Document, error: jsonschema.ValidationError) -> Iterator[Found]:
    path: JsonPath = tuple(error.absolute_path)
    schema_at: tuple[str | int, ...] = tuple(error.absolute_schema_path)
    validator = error.validator
    instance: Any = error.instance
    schema: Any = error.schema

    def at(p: JsonPath, message: str, *, key: bool = False, shown: JsonPath | None = None) -> Found:
        where = dotted(p if shown is None else shown)
        return Diagnostic(loc=doc.loc(p, key=key), path=where, message=message), p

    if "propertyNames" in schema_at:
        for sub in _leaves(error):
            name = str(sub.instance)
            yield at(
                (*path, name),
                f"invalid identity name {describe(name)}: {IDENTITY_NAME_RULE}",
                key=True,
                shown=path,
            )
        return
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        for extra in sorted(set(instance) - set(allowed)):
            yield at(
                (*path, extra),
                f"unknown field {describe(extra)}{did_you_mean(extra, allowed)}",
                key=True,
            )
        return
    if validator == "required":
        for field in schema.get("required", []):
            if isinstance(instance, dict) and field not in instance:
                diagnostic, _ = at(path, f"missing required field {field!r}", key=True)
                yield diagnostic, (*path, field)
        return
    if schema is False:
        yield from _not_allowed(doc, path, schema_at, at)
        return
    yield at(path, _message(doc, validator, error.validator_value, instance, path))


def _not_allowed(
    doc: Document, path: JsonPath, schema_at: JsonPath, at: Callable[..., Found]
) -> Iterator[Found]:
    """A `"size": false` under if/then: a field the sibling `type` rules out."""
    # jsonschema leaves the property out of a false schema's path: find it again
    if schema_at and schema_at[-1] == "properties":
        parent_path = path
        properties = value_at(_schema(), schema_at)
        owner = value_at(doc.data, parent_path)
        fields = [p for p, s in properties.items() if s is False and p in owner]
    else:
        parent_path, fields = path[:-1], [str(path[-1])]
        owner = value_at(doc.data, parent_path)
    for field in fields:
        key_type = owner.get("type") if isinstance(owner, dict) else None
        if field in _KEY_FIELD_OWNER and isinstance(key_type, str):
            message = f"only {_KEY_FIELD_OWNER[field]} keys take a {field}; this key is {key_type}"
        else:
            message = f"{field!r} is not allowed here"
        yield at((*parent_path, field), message, key=True)


_KEY_FIELD_OWNER = {"size": "rsa", "curve": "ec"}


def did_you_mean(word: str, choices: Sequence[str], *, cutoff: float = 0.75) -> str:
    # 0.75: 'vaildity' and 'isuer' are typos of validity and issuer; 'colour' is no crl_url
    close = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TYPE_NAMES = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "integer": "an integer",
    "boolean": "true or false",
}

# what a pattern-checked field expects, in words (kept in step with the schema's patterns)
_PATTERN_HINTS = {
    "validity": "a duration like 90d, 12h, 2w or 10y",
    "renew_before": "a duration like 30d, 12h, 2w or 1y",
    "C": "a two-letter country code in capitals, like JP",
    "crl_url": "an http, https or ldap URL in ASCII",
    "ocsp_url": "an http, https or ldap URL in ASCII",
    "uri": "an absolute URI in ASCII like spiffe://example.org/web",
    "extended_key_usage": (
        "serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, "
        "OCSPSigning or a dotted OID"
    ),
    "password_env": "the name of an environment variable like P12_PASSWORD (letters, digits, '_')",
    "pin_env": "the name of an environment variable like PKI_PIN (letters, digits, '_')",
    "pkcs11": "an RFC 7512 URI like pkcs11:token=pki;object=root-ca",
    # outputs.kubernetes: Kubernetes object names (RFC 1123)
    "name": "a Kubernetes name: lowercase letters, digits, '-' and '.'",
    "namespace": "a Kubernetes namespace: lowercase letters, digits and '-'",
}


def _field_name(path: JsonPath) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return ""


def _quote_hint(doc: Document, path: JsonPath, instance: Any) -> str:
    """YAML 1.1 reads NO, off, 42 and 1.0 as other things than text: say how to keep text."""
    text = doc.texts.get(path)
    if text is None:
        return ""
    if isinstance(instance, bool):
        return f' (YAML reads {text} as {describe(instance)}: quote it: "{text}")'
    return f' (quote it: "{text}")'


def _message(doc: Document, validator: Any, expected: Any, instance: Any, path: JsonPath) -> str:
    got = describe(instance)
    if validator == "type":
        names = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_TYPE_NAMES.get(str(n), str(n)) for n in names)
        if names == ["string"]:
            pattern_hint = _PATTERN_HINTS.get(_field_name(path))
            # quoting turns NO back into text; it cannot turn 90 into a duration
            if isinstance(instance, bool) or (pattern_hint is None and is_number(instance)):
                got += _quote_hint(doc, path, instance)
            wanted = pattern_hint or wanted
        return f"expected {wanted}; got {got}"
    if validator == "enum":
        choices = ", ".join(str(v) for v in expected)
        message = f"expected one of {choices}; got {got}"
        if _field_name(path) == "size" and isinstance(instance, int) and instance < 2048:
            return message + " (RSA keys under 2048 bits are refused)"
        if isinstance(instance, str):
            message += did_you_mean(instance, [str(v) for v in expected])
        return message
    if validator == "const" and expected is False:  # outputs: a mapping, or false for none
        return f"expected a mapping, or false to turn it off; got {got}"
    if validator == "const":
        return f"expected {expected}; got {got}"
    if validator == "pattern":
        hint = _PATTERN_HINTS.get(_field_name(path), f"text matching {expected}")
        return f"expected {hint}; got {got}"
    if validator == "maxLength":
        return f"expected at most {expected} characters; got {len(instance)}"
    if validator == "minLength":
        return f"expected at least {expected} character{'s' if expected > 1 else ''}; got {got}"
    if validator == "minimum":
        return f"expected at least {expected}; got {got}"
    if validator == "maximum":
        return f"expected at most {expected}; got {got}"
    if validator == "minItems":
        return "expected at least one item; got an empty list"
    if validator == "minProperties":
        return "expected at least one identity; got an empty mapping"
    if validator == "uniqueItems":
        seen: list[Any] = []
        for item in instance:
            if item in seen:
                return f"lists {describe(item)} twice"
            seen.append(item)
        return "lists the same value twice"
    return f"invalid value {got} ({validator})"
