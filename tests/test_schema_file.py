"""The JSON Schema as a file editors use: valid 2020-12, every field described, examples pass."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers.repo import EXAMPLES, ROOT

SCHEMA = json.loads((ROOT / "schemas" / "pkiform.schema.json").read_text())


def properties(node: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{path}.{name}", sub
        for key, sub in node.items():
            yield from properties(sub, f"{path}.{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from properties(sub, f"{path}[{i}]")


def test_schema_is_valid_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_field_has_a_description() -> None:
    undescribed = [
        path
        for path, sub in properties(SCHEMA)
        # allOf holds if/then conditions on fields described elsewhere, not fields
        if "allOf" not in path and not (isinstance(sub, dict) and sub.get("description"))
    ]
    assert undescribed == []


def test_unknown_fields_are_rejected_everywhere() -> None:
    objects = [
        path
        for path, sub in properties(SCHEMA)
        if isinstance(sub, dict) and sub.get("type") == "object"
    ]
    open_objects = [p for p in objects if p.split(".")[-1] != "identities" and _open(p)]
    assert open_objects == []


def _open(path: str) -> bool:
    node: Any = SCHEMA
    for part in path.split(".")[1:]:
        node = node[part] if part in node else node["properties"][part]
    return node.get("additionalProperties", True) is not False


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_satisfy_the_schema(example: Any) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(yaml.safe_load(example.read_text()))
    assert example.read_text().startswith(
        "# yaml-language-server: $schema=../schemas/pkiform.schema.json"
    )
