"""The JSON Schema compiled into plain closures that answer one question: valid or not.

jsonschema (Draft 2020-12, pure Python) spends most of a large spec's validation in its
keyword machinery, and importing it costs ~70 ms of every command's start. A valid spec
needs no messages, so schema.check asks this validator first and imports jsonschema, the
single source of the messages, only for a document this one refuses.

The compiler knows exactly the keywords pkiform.schema.json uses (_BUILDERS) and raises
SchemaCompileError on any other, so that a schema change cannot silently weaken validation:
teach it the keyword first. Each keyword follows jsonschema's Draft 2020-12 semantics, and
tests/test_schema_compiled.py checks the verdicts against jsonschema itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeGuard

Check = Callable[[object], bool]
# a keyword's check, or None when the keyword adds nothing on its own
Builder = Callable[[object, Mapping[str, object], str], Check | None]

# words for people and tools; they never change a verdict
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description"})


class SchemaCompileError(ValueError):
    """The schema uses something this compiler cannot check exactly."""


@functools.cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """A JSON Schema pattern as a Python regex; schema.py's jsonschema path uses it too."""
    # JSON Schema patterns are ECMA-262, where `$` matches only at the very end;
    # Python's `$` also matches before a final "\n", which would let "web\n" pass
    # as an identity name and "90d\n" as a duration
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def is_number(value: object) -> TypeGuard[int | float]:
    # bool is an int subclass in Python; JSON Schema's true is no number
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    # Draft 2020-12 counts any number with a zero fractional part, 1.0 too, as an integer
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
    "integer": _is_integer,
    "number": is_number,
    "string": lambda value: isinstance(value, str),
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}


def _json_key(value: object) -> Hashable:
    """A hashable stand-in, equal exactly when JSON Schema calls two values equal."""
    # true != 1 in JSON Schema though True == 1 in Python; 1 == 1.0 in both. A tuple
    # compares its items by identity first, so a NaN equals only itself, as in jsonschema
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, bool):
        return ("boolean", value)
    if is_number(value):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(_json_key(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _json_key(item)) for key, item in value.items()))
    return value  # source.py makes nothing else; jsonschema compares anything else with ==


def compile_schema(schema: object, where: str = "#") -> Check:
    """A function telling whether a JSON-like value satisfies `schema`."""
    if schema is True:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, dict):
        raise SchemaCompileError(f"{where}: expected a schema; got {schema!r}")
    unknown = sorted(set(schema) - _BUILDERS.keys() - _ANNOTATIONS)
    if unknown:
        raise SchemaCompileError(f"{where}: unsupported keyword {unknown[0]!r}")
    # cheapest and most decisive first: a wrong type fails before anything else runs
    built = (
        build(schema[keyword], schema, f"{where}/{keyword}")
        for keyword, build in _BUILDERS.items()
        if keyword in schema
    )
    return _all([check for check in built if check is not None])


def _all(checks: Sequence[Check]) -> Check:
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    # a plain loop, not all(generator): this runs for every node of a 10,000-identity
    # spec, and the generator costs about a third more
    def check(value: object) -> bool:
        for one in frozen:  # noqa: SIM110
            if not one(value):
                return False
        return True

    return check


def _type(expected: object, schema: Mapping[str, object], where: str) -> Check:
    names = expected if isinstance(expected, list) else [expected]
    tests = []
    for name in names:
        if not isinstance(name, str) or name not in _TYPES:
            raise SchemaCompileError(f"{where}: unknown type {name!r}")
        tests.append(_TYPES[name])
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)


def _enum(members: object, schema: Mapping[str, object], where: str) -> Check:
    if not isinstance(members, list):
        raise SchemaCompileError(f"{where}: expected a list; got {members!r}")
    keys = frozenset(_json_key(member) for member in members)
    return lambda value: _json_key(value) in keys


def _const(expected: object, schema: Mapping[str, object], where: str) -> Check:
    key = _json_key(expected)
    return lambda value: _json_key(value) == key


def _members(properties: object, schema: Mapping[str, object], where: str) -> Check:
    """properties and additionalProperties together: one pass over the keys."""
    if not isinstance(properties, dict):
        raise SchemaCompileError(f"{where}: expected a mapping; got {properties!r}")
    known = {name: compile_schema(sub, f"{where}/{name}") for name, sub in properties.items()}
    parent = where.rsplit("/", 1)[0]
    extra = compile_schema(
        schema.get("additionalProperties", True), f"{parent}/additionalProperties"
    )

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        for name, item in value.items():  # noqa: SIM110 (a loop: see _all)
            if not known.get(name, extra)(item):
                return False
        return True

    return check


def _additional(sub: object, schema: Mapping[str, object], where: str) -> Check | None:
    if "properties" in schema:
        return None  # _members checks it along with the properties it leaves out
    return _members({}, schema, where)


def _required(names: object, schema: Mapping[str, object], where: str) -> Check:
    fields = _strings(names, where)
    return lambda value: not isinstance(value, dict) or all(f in value for f in fields)


def _min_properties(limit: object, schema: Mapping[str, object], where: str) -> Check:
    n = _count(limit, where)
    return lambda value: not isinstance(value, dict) or len(value) >= n


def _property_names(sub: object, schema: Mapping[str, object], where: str) -> Check:
    name_ok = compile_schema(sub, where)
    return lambda value: not isinstance(value, dict) or all(name_ok(name) for name in value)


def _items(sub: object, schema: Mapping[str, object], where: str) -> Check:
    # Draft 2020-12: `items` is one schema for every item (prefixItems is not supported)
    item_ok = compile_schema(sub, where)
    return lambda value: not isinstance(value, list) or all(item_ok(item) for item in value)


def _min_items(limit: object, schema: Mapping[str, object], where: str) -> Check:
    n = _count(limit, where)
    return lambda value: not isinstance(value, list) or len(value) >= n


def _unique_items(unique: object, schema: Mapping[str, object], where: str) -> Check | None:
    if unique is not True:
        return None

    def check(value: object) -> bool:
        if not isinstance(value, list):
            return True
        return len({_json_key(item) for item in value}) == len(value)

    return check


def _pattern(pattern: object, schema: Mapping[str, object], where: str) -> Check:
    if not isinstance(pattern, str):
        raise SchemaCompileError(f"{where}: expected a regex; got {pattern!r}")
    search = ecma_regex(pattern).search  # unanchored, as JSON Schema says
    return lambda value: not isinstance(value, str) or search(value) is not None


def _min_length(limit: object, schema: Mapping[str, object], where: str) -> Check:
    n = _count(limit, where)  # in code points: Python's len, as JSON Schema counts
    return lambda value: not isinstance(value, str) or len(value) >= n


def _max_length(limit: object, schema: Mapping[str, object], where: str) -> Check:
    n = _count(limit, where)
    return lambda value: not isinstance(value, str) or len(value) <= n


def _minimum(limit: object, schema: Mapping[str, object], where: str) -> Check:
    bound = _number(limit, where)
    # `not value < bound`, as jsonschema writes it: a NaN passes (and fails any type check)
    return lambda value: not is_number(value) or not value < bound


def _maximum(limit: object, schema: Mapping[str, object], where: str) -> Check:
    bound = _number(limit, where)
    return lambda value: not is_number(value) or not value > bound


def _all_of(subs: object, schema: Mapping[str, object], where: str) -> Check:
    if not isinstance(subs, list) or not subs:
        raise SchemaCompileError(f"{where}: expected a non-empty list; got {subs!r}")
    return _all([compile_schema(sub, f"{where}/{i}") for i, sub in enumerate(subs)])


def _not(sub: object, schema: Mapping[str, object], where: str) -> Check:
    ok = compile_schema(sub, where)
    return lambda value: not ok(value)


def _if(sub: object, schema: Mapping[str, object], where: str) -> Check:
    condition = compile_schema(sub, where)
    parent = where.rsplit("/", 1)[0]
    then = compile_schema(schema.get("then", True), f"{parent}/then")
    return lambda value: not condition(value) or then(value)


def _then(sub: object, schema: Mapping[str, object], where: str) -> Check | None:
    return None  # _if checks it; without an `if` it has no effect


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SchemaCompileError(f"{where}: expected a list of strings; got {value!r}")
    return value


def _count(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SchemaCompileError(f"{where}: expected a non-negative integer; got {value!r}")
    return value


def _number(value: object, where: str) -> int | float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise SchemaCompileError(f"{where}: expected a number; got {value!r}")
    return value


# every keyword the compiler knows, in the order its checks run (see compile_schema)
_BUILDERS: dict[str, Builder] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "properties": _members,
    "additionalProperties": _additional,
    "required": _required,
    "minProperties": _min_properties,
    "propertyNames": _property_names,
    "items": _items,
    "minItems": _min_items,
    "uniqueItems": _unique_items,
    "pattern": _pattern,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minimum": _minimum,
    "maximum": _maximum,
    "allOf": _all_of,
    "not": _not,
    "if": _if,
    "then": _then,
}
