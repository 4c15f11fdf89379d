"""The compiled schema gives jsonschema's verdict, faster, and spares valid specs the import.

schema.check trusts a "valid" from the compiled schema without asking jsonschema, so the two
must agree on every document: hypothesis draws valid specs and mutations of them, and each
verdict is compared with jsonschema's (the fallback validator that words the messages).
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import specs
from pkiform.errors import PkiformError
from pkiform.spec import schema
from pkiform.spec.schema_fast import SchemaCompileError, compile_schema
from pkiform.spec.source import load_path, load_text
from tests.helpers.bad_specs import CASES
from tests.helpers.repo import EXAMPLES
from tests.helpers.run import run_python

SCHEMA = json.loads(schema.schema_text())
FAST = compile_schema(SCHEMA)
SLOW = schema._validator()  # the fallback's own validator, ECMA-262 patterns included


def agree(data: Any) -> bool:
    """Assert both validators give the same verdict; return it."""
    slow = not list(SLOW.iter_errors(data))
    assert FAST(data) is slow, f"compiled says {not slow}, jsonschema says {slow}: {data!r}"
    return slow


# -- keyword semantics, each row checked against jsonschema itself -----------------------

NAN = math.nan

SEMANTICS = [
    # booleans are no numbers; 1.0 is an integer in Draft 2020-12
    ({"type": "integer"}, 1.0, True),
    ({"type": "integer"}, True, False),
    ({"type": "integer"}, 1.5, False),
    ({"type": "integer"}, NAN, False),
    ({"type": "integer"}, math.inf, False),
    ({"type": "number"}, False, False),
    ({"type": "number"}, 1, True),
    ({"type": "boolean"}, 0, False),
    ({"type": "object"}, [], False),
    ({"type": "array"}, {}, False),
    ({"type": ["string", "null"]}, None, True),
    # JSON equality: true is not 1, 1 is 1.0, containers compare item by item
    ({"enum": [1, "a"]}, True, False),
    ({"enum": [1, "a"]}, 1.0, True),
    ({"enum": [True]}, 1, False),
    ({"enum": [2048, 3072]}, 2048.0, True),
    ({"enum": ["rsa"]}, ["rsa"], False),
    ({"const": 1}, 1.0, True),
    ({"const": 1}, True, False),
    ({"const": "ec"}, "EC", False),
    ({"const": [1, {"a": True}]}, [1.0, {"a": True}], True),
    ({"const": [1]}, [True], False),
    ({"const": {"a": 1}}, {"a": 1, "b": 2}, False),
    ({"uniqueItems": True}, [1, 1.0], False),
    ({"uniqueItems": True}, [1, True], True),
    ({"uniqueItems": True}, [0, False, None, ""], True),
    ({"uniqueItems": True}, [[1], [True]], True),
    ({"uniqueItems": True}, [{"a": 1}, {"a": 1.0}], False),
    ({"uniqueItems": True}, ["a", "b", "a"], False),
    ({"uniqueItems": False}, ["a", "a"], True),
    # numeric bounds ignore non-numbers, booleans included
    ({"minimum": 0}, -1, False),
    ({"minimum": 0}, True, True),
    ({"minimum": 0}, "-1", True),
    ({"maximum": 32}, 32.0, True),
    ({"maximum": 32}, 33, False),
    ({"maximum": 32}, math.inf, False),
    # lengths count code points, as Python's len does
    ({"maxLength": 1}, "\U0001f600", True),
    ({"minLength": 2}, "é", False),
    ({"minLength": 1}, 5, True),
    # patterns search (unanchored) and apply to strings only
    ({"pattern": "b"}, "abc", True),
    ({"pattern": "^b"}, "abc", False),
    ({"pattern": "^a"}, 1, True),
    # object and array keywords ignore other types
    ({"required": ["a"]}, [], True),
    ({"required": ["a"]}, {"b": 1}, False),
    ({"minProperties": 1}, {}, False),
    ({"propertyNames": {"maxLength": 1}}, {"ab": 1}, False),
    ({"additionalProperties": False}, {"a": 1}, False),
    ({"properties": {"a": True}, "additionalProperties": False}, {"a": 1}, True),
    ({"properties": {"a": {"type": "string"}}}, {"a": 1}, False),
    ({"properties": {"a": {"type": "string"}}}, {"b": 1}, True),
    ({"items": {"type": "string"}}, ["a", 1], False),
    ({"items": {"type": "string"}}, "a", True),
    ({"minItems": 1}, [], False),
    # applicators
    ({"if": {"required": ["t"]}, "then": {"required": ["s"]}}, {"t": 1}, False),
    ({"if": {"required": ["t"]}, "then": {"required": ["s"]}}, {}, True),
    ({"if": {"required": ["t"]}}, {"t": 1}, True),
    ({"then": False}, 1, True),
    ({"not": {"const": "rsa"}}, "rsa", False),
    ({"allOf": [{"minimum": 1}, {"maximum": 2}]}, 3, False),
    ({"properties": {"size": False}}, {"size": 2048}, False),
    ({"title": "t", "description": "d"}, 1, True),
    (True, None, True),
    (False, None, False),
]


@pytest.mark.parametrize(("subschema", "instance", "valid"), SEMANTICS)
def test_keyword_semantics(subschema: Any, instance: Any, valid: bool) -> None:
    assert jsonschema.Draft202012Validator(subschema).is_valid(instance) is valid
    assert compile_schema(subschema)(instance) is valid


@pytest.mark.parametrize("value", ["JP\n", "web\n", "90d\n"])
def test_dollar_ends_the_string_as_in_ecma_262(value: str) -> None:
    """Python's `$` matches before a final newline; both paths must refuse it alike."""
    pattern = "^[a-zA-Z0-9]{2,3}$"
    assert compile_schema({"pattern": pattern})(value) is False
    assert agree({"version": 1, "identities": {value: {"kind": "root"}}}) is False


@pytest.mark.parametrize(
    ("subschema", "where"),
    [
        ({"type": "string", "format": "email"}, "#: unsupported keyword 'format'"),
        ({"properties": {"a": {"$ref": "#"}}}, "#/properties/a: unsupported keyword '$ref'"),
        ({"if": {}, "else": False}, "#: unsupported keyword 'else'"),
        ({"prefixItems": [{}]}, "#: unsupported keyword 'prefixItems'"),
        ({"patternProperties": {"^x": {}}}, "#: unsupported keyword 'patternProperties'"),
        ({"allOf": [{"dependentRequired": {}}]}, "#/allOf/0: unsupported keyword"),
        ({"type": "strnig"}, "#/type: unknown type 'strnig'"),
        ({"minLength": -1}, "#/minLength: expected a non-negative integer"),
        ({"items": [{}]}, "#/items: expected a schema"),
    ],
)
def test_unknown_keywords_fail_at_compile_time(subschema: Any, where: str) -> None:
    """A schema change the compiler cannot check exactly must not weaken validation."""
    with pytest.raises(SchemaCompileError, match=f"^{re.escape(where)}"):
        compile_schema(subschema)


def test_the_shipped_schema_compiles() -> None:
    check = compile_schema(SCHEMA)
    assert check({"version": 1, "identities": {"root": {"kind": "root"}}}) is True
    assert check({"version": 1, "identities": {}}) is False


# -- hypothesis: valid specs and their mutations -----------------------------------------


def _strings(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    # short, to keep the examples cheap: _ODD_VALUES holds strings at and past each limit
    return st.text(min_size=min_size, max_size=min(max_size, min_size + 6))


def _unique(items: st.SearchStrategy[str], min_size: int = 0) -> st.SearchStrategy[list[str]]:
    return st.lists(items, min_size=min_size, max_size=3, unique=True)


# strings the schema's patterns accept, built by hand: st.from_regex is slow to draw
_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
_DURATION = st.builds("{}{}".format, st.integers(1, 999999), st.sampled_from("hdwy"))
_NAME = st.sampled_from(["a", "0", "web", "root-ca", "svc.01", "a_b", "a" * 64])
_URL = st.builds("{}://{}".format, st.sampled_from(["http", "https", "ldap"]), _PRINTABLE)
_URI = st.builds("{}:{}".format, st.sampled_from(["spiffe", "urn", "a+b.c-d", "Z9"]), _PRINTABLE)
_OID = st.builds(
    lambda arc, rest: ".".join([arc, *map(str, rest)]),
    st.sampled_from("012"),
    st.lists(st.integers(0, 99999), min_size=1, max_size=4),
)
_KEY = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("rsa")}, optional={"size": st.sampled_from([2048, 3072, 4096, 4096.0])}
    ),
    st.fixed_dictionaries(
        {"type": st.just("ec")}, optional={"curve": st.sampled_from(["P-256", "P-384", "P-521"])}
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["ed25519", "ed448"])}),
)
_SUBJECT = st.fixed_dictionaries(
    {},
    optional={
        "CN": _strings(1, 64),
        "O": _strings(1, 64),
        "OU": _strings(1, 64),
        "C": st.text(alphabet="ABCJPXZ", min_size=2, max_size=2),
        "ST": _strings(1, 128),
        "L": _strings(1, 128),
    },
)
_NAME_LISTS = st.fixed_dictionaries(
    {},
    optional={
        "dns": _unique(_strings(1, 253)),
        "ip": _unique(_strings(0, 20)),
        "email": _unique(_strings(1, 30)),
    },
)
_IDENTITY = st.fixed_dictionaries(
    {"kind": st.sampled_from(["root", "intermediate", "server", "client"])},
    optional={
        "issuer": _strings(0, 64),
        "subject": _SUBJECT,
        "key": _KEY,
        "validity": _DURATION,
        "renew_before": _DURATION,
        "dns": _unique(_strings(1, 253)),
        "ip": _unique(_strings(0, 40)),
        "email": _unique(_strings(3, 254)),
        "uri": _unique(_URI),
        "path_length": st.integers(0, 32) | st.sampled_from([0.0, 32.0]),
        "name_constraints": st.fixed_dictionaries(
            {}, optional={"permitted": _NAME_LISTS, "excluded": _NAME_LISTS}
        ),
        "extended_key_usage": _unique(
            st.sampled_from(["serverAuth", "clientAuth", "OCSPSigning", "1.3.6.1.5.5.7.3.1"])
            | _OID,
            min_size=1,
        ),
        "crl_url": _URL,
        "ocsp_url": _URL,
        "revoked": st.fixed_dictionaries(
            {"reason": st.sampled_from(["unspecified", "keyCompromise", "superseded"])},
            optional={
                "at": st.sampled_from(["2026-03-01T12:00:00Z", "2026-03-01 12:00:00.5+09:00"])
            },
        ),
        "rotate_key": st.booleans(),
        "crl_validity": _DURATION,
        "revoke_superseded": st.booleans(),
        "ocsp": st.booleans(),
    },
)
_DEFAULTS = st.fixed_dictionaries(
    {},
    optional={
        "key": _KEY,
        "validity": _DURATION,
        "renew_before": _DURATION,
        "subject": _SUBJECT,
        "rotate_key": st.booleans(),
    },
)
_VALID_SPEC = st.fixed_dictionaries(
    # version 1.0 is 1 to JSON Schema
    {
        "version": st.sampled_from([1, 1.0]),
        "identities": st.dictionaries(_NAME, _IDENTITY, min_size=1, max_size=3),
    },
    optional={"defaults": _DEFAULTS},
)


def _property_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        yield from node.get("properties", {})
        for sub in node.values():
            yield from _property_names(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _property_names(sub)


# near misses of every keyword: wrong types, bools for numbers, limits and one past them
_ODD_VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        -1,
        1.0,
        1.5,
        33,
        32.0,
        2048.0,
        1024,
        math.nan,
        math.inf,
        "",
        "x",
        "x" * 64,
        "x" * 65,
        "x" * 128,
        "x" * 129,
        "x" * 253,
        "x" * 254,
        "x" * 2048,
        "x" * 2049,
        "90d",
        "90d\n",
        "0d",
        "1000000d",
        "JP",
        "jp",
        "JP\n",
        "root",
        "rsa",
        "ec",
        "ed448",
        "P-256",
        "serverAuth",
        "serverauth",
        "1.2.3",
        "3.1",
        "http://x",
        "ftp://x",
        "spiffe://x/y",
        "superseded",
        "2026-03-01T12:00:00Z",
        "2026-03-01",
        [],
        {},
        ["a"],
        ["a", "a"],
        [1, True],
        [1, 1.0],
        [""],
        {"type": "rsa", "size": 2048},
        {"type": "ec", "size": 2048},
        {"type": "ed25519", "curve": "P-256"},
        {"type": "rsa", "curve": "P-256"},
        {"size": 2048},
        {"reason": "superseded"},
        {"reason": "Superseded"},
    ]
)
# every field the schema knows, plus typos and identity names the pattern refuses
_BAD_NAMES = ["Web", "-web", "web-", "web\n", "a" * 64, "a" * 65, "", "vaildity", "$ref"]
_KEYS = st.sampled_from([*sorted(set(_property_names(SCHEMA))), *_BAD_NAMES]) | st.text(max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=3),
    max_leaves=8,
)
_VALUES = _ODD_VALUES | _JSON


def _containers(node: Any) -> Iterator[Any]:
    if isinstance(node, dict | list):
        yield node
        for child in node.values() if isinstance(node, dict) else node:
            yield from _containers(child)


@st.composite
def _mutated_spec(draw: st.DrawFn) -> Any:
    doc = draw(_VALID_SPEC)
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(list(_containers(doc))))
        how = draw(st.sampled_from(["drop", "add", "replace", "duplicate"]))
        # copied: the sampled values are shared between examples
        value = copy.deepcopy(draw(_VALUES))
        if isinstance(target, dict):
            keys = sorted(target)
            if how == "add" or not keys:
                target[draw(_KEYS)] = value
            elif how == "drop":
                del target[draw(st.sampled_from(keys))]
            elif how == "replace":
                target[draw(st.sampled_from(keys))] = value
            else:  # rename a key: a typo'd field, or an identity name the pattern refuses
                old = draw(st.sampled_from(keys))
                target[draw(_KEYS)] = target.pop(old)
        elif how == "drop" and target:
            del target[draw(st.integers(0, len(target) - 1))]
        elif how == "duplicate" and target:
            target.append(copy.deepcopy(draw(st.sampled_from(target))))
        elif how == "replace" and target:
            target[draw(st.integers(0, len(target) - 1))] = value
        else:
            target.append(value)
    return doc


def _bounded(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@_bounded(150)
@given(_VALID_SPEC)
def test_valid_specs_are_valid_to_both(doc: Any) -> None:
    assert agree(doc) is True


@_bounded(600)
@given(_mutated_spec())
def test_mutated_specs_get_the_same_verdict(doc: Any) -> None:
    agree(doc)


@_bounded(200)
@given(_VALUES)
def test_any_json_value_gets_the_same_verdict(value: Any) -> None:
    agree(value)
    agree({"version": 1, "identities": {"web": value}})
    agree({"version": 1, "defaults": value, "identities": {"web": {"kind": "root"}}})


# -- the specs the project already knows -------------------------------------------------


def test_bad_specs_refused_by_the_schema_are_refused_by_the_compiled_schema(
    tmp_path: Path,
) -> None:
    disagree, refused = [], 0
    for case in CASES:
        path = tmp_path / f"{case.id}.yaml"
        if isinstance(case.spec, bytes):
            path.write_bytes(case.spec)
        else:
            path.write_text(case.spec, encoding="utf-8")
        try:
            data = load_path(path).data
        except PkiformError:
            continue  # refused before the schema: YAML, encoding, size
        if not isinstance(data, dict):
            continue  # validation refuses it before the schema
        slow = not list(SLOW.iter_errors(data))
        refused += not slow
        if FAST(data) is not slow:
            disagree.append(case.id)
    assert disagree == []
    assert refused >= 30, "the bad spec table should reach the schema stage"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_accepted(example: Path) -> None:
    doc = load_path(example)
    assert agree(doc.data) is True
    assert schema.check(doc) == []


@pytest.mark.parametrize("shape", sorted(specs.SHAPES))
def test_bench_specs_are_accepted(shape: str) -> None:
    doc = load_text(specs.spec_yaml(specs.SHAPES[shape]), f"{shape}.yaml")
    assert FAST(doc.data) is True
    assert schema.check(doc) == []


def test_bench_token_spec_is_accepted() -> None:
    """The SoftHSM2 contenders' variant: the intermediate's key named in a token."""
    key = specs.token_key_yaml("issuing-ca-1")
    doc = load_text(specs.spec_yaml(specs.SHAPES["ec200"], intermediate_key=key), "hsm.yaml")
    assert doc.data["identities"][specs.INTERMEDIATE]["key"] == {
        "type": "ec",
        "curve": "P-256",
        "pkcs11": "pkcs11:token=bench;object=issuing-ca-1",
        "pin_env": "BENCH_HSM_PIN",
    }
    assert FAST(doc.data) is True
    assert schema.check(doc) == []


# -- startup: a valid spec never imports jsonschema ---------------------------------------

_PROBE = """\
import sys
from pkiform.cli import main
code = main(sys.argv[1:])
print(f"exit {code}, jsonschema imported: {'jsonschema' in sys.modules}")
"""


def _probe(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return run_python("-c", _PROBE, *argv, timeout=120)


def test_a_valid_spec_never_imports_jsonschema() -> None:
    result = _probe("validate", EXAMPLES / "mtls.yaml")
    assert result.stdout.splitlines()[-1] == "exit 0, jsonschema imported: False", result.stderr


def test_an_invalid_spec_imports_jsonschema_for_its_messages(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nidentities:\n  root:\n    kind: rot\n")
    result = _probe("validate", spec)
    assert result.stdout.splitlines() == ["exit 1, jsonschema imported: True"]
    assert result.stderr.splitlines() == [
        f"{spec}:4:11: error: identities.root.kind: expected one of root, intermediate, "
        "server, client; got 'rot' (did you mean 'root'?)"
    ]
