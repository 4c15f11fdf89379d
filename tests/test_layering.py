"""The package's rooms and what each may import (README, Development), checked on the
source with `ast`; and only the store writes files."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pkiform"

# each room (a sub-package, or a module of the package root) and the rooms it may import;
# a room always imports its own modules. The pipeline reads downwards: spec, secrets,
# x509, formats, disk, plan, then what carries a plan out and the shells around it.
BASE = {"_version", "errors", "durations", "layout"}
ROLES: dict[str, set[str]] = {
    "_version": set(),
    "errors": set(),
    "colour": set(),  # standard library only: when to colour a terminal
    "plan_markdown": set(),  # standard library only: a plan as a pull-request comment
    "durations": set(),
    "layout": set(),
    "spec": {"errors", "durations", "layout"},
    "secrets": BASE | {"spec"},
    "x509": BASE | {"spec", "secrets"},
    "formats": BASE | {"spec", "secrets", "x509"},
    "disk": BASE | {"spec", "secrets", "x509", "formats"},
    "plan": BASE | {"spec", "secrets", "x509", "formats", "disk"},
    "cache": BASE | {"spec", "disk"},
    "lint": BASE | {"spec", "disk"},  # pkilint, the optional extra, on what is on disk
    "status": BASE | {"spec", "secrets", "x509", "formats", "disk", "plan", "lint"},
    "issued": BASE | {"spec", "secrets", "x509", "disk"},  # an output directory read back
    "reproducible": BASE | {"spec", "secrets", "x509", "formats", "disk"},  # the seed's guard
    "apply": BASE | {"spec", "secrets", "x509", "formats", "disk", "plan", "cache"},
    "render": BASE | {"spec", "formats", "plan", "status", "lint", "colour", "plan_markdown"},
    "api": BASE
    | {
        "spec",
        "secrets",
        "x509",
        "formats",
        "disk",
        "plan",
        "cache",
        "status",
        "lint",
        "issued",
        "reproducible",
        "apply",
        "render",
    },
    "commands": BASE
    | {"spec", "disk", "plan", "cache", "render", "api", "commands", "colour", "plan_markdown"},
    "cli": BASE | {"commands"},
    "pytest_plugin": {"errors", "api"},
    "__main__": {"cli"},
    "__init__": BASE | {"api", "plan", "errors"},
}
# modules a room may not import although the room may import their package
FORBIDDEN = {
    "plan": {"disk.store", "x509.issuing"},  # plan decides from facts; it never reads or signs
    # the shells build and render plans (plan.types), and take the lock or write a file
    # through the store; they never plan or read what is on disk themselves
    "commands": {
        "plan.planner",
        "plan.identities",
        "plan.revocations",
        "plan.passwords",
        "plan.due",
        "disk.observe",
        "disk.manifest",
    },
}
# modules whose imports, followed to the end, must never load cryptography: what
# `pkiform --version`, `validate` and an up-to-date plan or apply run
LIGHT = (
    "cli",
    "commands.validate",
    "commands.up_to_date",
    "cache.settled",
    "disk.store",
    "plan.types",
    "render",
    "spec.load",
)
# imports that break the roles, being moved out room by room (this list only shrinks)
NOT_YET: set[tuple[str, str]] = set()
NOT_YET_HEAVY: set[str] = set()
# presentation and process control stay in the shells
SHELL_ONLY = {"argparse", "sys"}
SHELLS = {"commands", "cli", "pytest_plugin", "__main__"}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


MODULES = {
    _module_name(p): p
    for p in sorted(PACKAGE.rglob("*.py"))
    if p.stem != "__init__" or p.parent == PACKAGE
}


def imports(path: Path, *, top_level_only: bool = False) -> tuple[set[str], set[str]]:
    """The pkiform modules (dotted, below the package) and the outside packages that
    `path` imports; with top_level_only, those imported when the module itself loads
    (not inside functions, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    nodes = list(ast.walk(tree)) if not top_level_only else list(_loaded_on_import(tree.body))
    internal, external = set(), set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{path}: relative import")
            if node.module == "pkiform":
                internal |= {a.name for a in node.names}
                continue
            base = node.module.split(".")
            if base[0] == "pkiform":
                module = ".".join(base[1:])
                internal.add(module)
                # `from pkiform.x509 import keys` imports the module pkiform.x509.keys
                internal |= {
                    f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES
                }
            else:
                external.add(base[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "pkiform" and len(parts) > 1:
                    internal.add(".".join(parts[1:]))
                elif parts[0] != "pkiform":
                    external.add(parts[0])
    return internal, external


def _loaded_on_import(body: list[ast.stmt]) -> list[ast.stmt]:
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.dump(node.test):
            found += _loaded_on_import(node.body) + _loaded_on_import(node.orelse)
        elif isinstance(node, ast.Try):
            found += _loaded_on_import(node.body)
    return found


def room(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_room_imports_only_the_rooms_its_role_allows(module: str) -> None:
    me = room(module)
    assert me in ROLES, f"{module}: no role for room {me!r}: add it to ROLES and to README"
    internal, external = imports(MODULES[module])
    for other in sorted(internal):
        assert other != "__version__", f"{module} imports the package root for the version"
        if other == "pkiform" or room(other) == me or (module, other) in NOT_YET:
            continue
        assert room(other) in ROLES[me], f"{module} ({me}) must not import {other}"
        assert other not in FORBIDDEN.get(me, set()), f"{module} ({me}) must not import {other}"
    if me not in SHELLS:
        assert not external & SHELL_ONLY, f"{module} imports {external & SHELL_ONLY}"


@pytest.mark.parametrize("module", [m for m in LIGHT if m not in NOT_YET_HEAVY])
def test_light_modules_never_load_cryptography(module: str) -> None:
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen or current not in MODULES:
            continue
        seen.add(current)
        internal, external = imports(MODULES[current], top_level_only=True)
        assert "cryptography" not in external, f"{module} loads cryptography through {current}"
        todo += [m for m in internal if m in MODULES]
        # importing a module runs its package's __init__ too
        todo += [".".join(m.split(".")[:i]) for m in internal for i in range(1, m.count(".") + 1)]


WRITES = re.compile(
    r"(?<![\w.])open\(|os\.open\(|write_bytes\(|write_text\(|os\.replace|\.mkdir\(|unlink\(|rmdir\("
)
# open files themselves, and only ever to read them: password and seed files (without
# blocking, the type checked on the open descriptor); every file of the output
# directory, for the secrets `status --public` looks for (never through a link)
READ_ONLY_OPENERS = frozenset({"secrets.read", "disk.public"})
WRITE_FLAGS = re.compile(r"O_(WRONLY|RDWR|CREAT|TRUNC|APPEND)")


def test_the_store_imports_no_cryptography_and_is_the_only_writer() -> None:
    _, external = imports(MODULES["disk.store"])
    assert "cryptography" not in external
    writers = []
    for module, path in MODULES.items():
        text = path.read_text()
        if module in READ_ONLY_OPENERS:
            assert not WRITE_FLAGS.search(text), module
            text = text.replace("os.open(", "")
        if module != "disk.store" and WRITES.search(text):
            writers.append(module)
    assert writers == []
