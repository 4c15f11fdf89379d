"""Modules import only from the layers below them (style.md §6), and only store writes files."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pkiform"

# a module may import pkiform modules of a lower layer only (same layer: listed explicitly)
LAYERS = {
    "errors": 0,
    "durations": 0,
    "colour": 0,
    "plan_markdown": 0,
    "model": 1,
    "source": 1,
    "schema_compiled": 1,
    "kubernetes": 1,
    "schema": 2,
    "resolve": 2,
    "name_constraints": 2,
    "graph": 2,
    "store": 2,
    "forked": 2,
    "passwords": 2,
    "rules": 3,
    "profile": 3,
    "keys": 3,
    "seals": 3,
    "settled": 3,
    "validation": 4,
    "issuing": 4,
    "revocation": 4,
    "pkcs12": 4,
    "derive": 4,
    "observe": 5,
    "drift": 5,
    "revocation_planner": 6,
    "outputs": 6,
    "password_planner": 7,
    "planner": 8,
    "health": 9,
    "execute": 9,
    "render": 10,
    "read_passwords": 11,
    "api": 11,
    "commands": 12,
    "completion": 12,  # made from the argparse parser: a shell module
    "cli": 13,
    "pytest_plugin": 13,
}
SAME_LAYER_ALLOWED = {
    ("schema", "source"),
    ("resolve", "source"),
    ("rules", "resolve"),
    ("issuing", "derive"),  # reproducible serials; derive imports only keys and below
    ("api", "read_passwords"),  # the API reads passwords as the command line does
    ("commands", "completion"),  # `pkiform completion` prints its scripts
}
# presentation and process control stay in the shell
SHELL_ONLY = {"argparse", "sys"}


def pkiform_imports(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text())
    internal, external = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "pkiform" and len(parts) > 1:
                internal.add(parts[1])
            elif parts[0] != "pkiform":
                external.add(parts[0])
    return internal, external


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.stem not in ("__init__", "__main__"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path) -> None:
    me = layer_of(path)
    internal, external = pkiform_imports(path)
    for other in internal - {me, "__version__"}:
        assert other in LAYERS, f"{me} imports unknown module {other}"
        ok = LAYERS[other] < LAYERS[me] or (me, other) in SAME_LAYER_ALLOWED
        assert ok, f"{me} (layer {LAYERS[me]}) must not import {other} (layer {LAYERS[other]})"
    if LAYERS[me] < LAYERS["commands"]:
        assert not external & SHELL_ONLY, f"{me} imports {external & SHELL_ONLY}"


WRITES = re.compile(
    r"(?<![\w.])open\(|os\.open\(|write_bytes\(|write_text\(|os\.replace|\.mkdir\(|unlink\(|rmdir\("
)


# opens password and seed files itself (without blocking, the type checked on the open
# descriptor), and only ever to read them
READ_ONLY_OPENERS = frozenset({"read_passwords.py"})
WRITE_FLAGS = re.compile(r"O_(WRONLY|RDWR|CREAT|TRUNC|APPEND)")


def test_store_imports_no_cryptography_and_is_the_only_writer() -> None:
    _, external = pkiform_imports(PACKAGE / "store.py")
    assert "cryptography" not in external
    writers = []
    for path in MODULES:
        text = path.read_text()
        if path.name in READ_ONLY_OPENERS:
            assert not WRITE_FLAGS.search(text), path.name
            text = text.replace("os.open(", "")
        if path.name != "store.py" and WRITES.search(text):
            writers.append(path.name)
    assert writers == []
