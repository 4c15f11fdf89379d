"""The test suite's own layering, checked with `ast`: a module under tests/ imports what
it shares from tests.helpers, never from a test module or conftest.py (so that without
an optional tool such as pkilint only the tests that use it skip, and a test module can
be read, run or deleted on its own). Subprocess snippets count: a string that imports a
test module, or runs one with `-m`, is an import too."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SHARED = "tests.helpers"
# calls that import the module their first argument names
IMPORTERS = {"import_module", "run_module", "__import__"}
# the imports in a snippet that does not parse on its own (an f-string with holes)
IMPORT_TEXT = re.compile(r"\bfrom\s+([\w.]+)\s+import\s+([\w, ]+)|\bimport\s+([\w.]+)")


def _allowed(module: str) -> bool:
    """Whether a module under tests/ may import `module`: anything outside the suite, and
    the suite's helpers."""
    inside = module.startswith("tests.")  # `tests` itself is an empty package
    return not inside or module == SHARED or module.startswith(SHARED + ".")


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> Iterator[str]:
    """The modules an import statement loads, relative ones resolved against `package`."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        if not package:
            return  # a snippet run with -c has no package to be relative to
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    yield base
    if base == "tests":  # `from tests import test_x` imports the module tests.test_x
        yield from (f"tests.{alias.name}" for alias in node.names if alias.name != "*")


def _snippet_imports(text: str) -> Iterator[str]:
    """The modules a string of Python code imports, if it is code at all."""
    if "import" not in text:
        return
    try:
        tree = ast.parse(text)
    except SyntaxError:
        for match in IMPORT_TEXT.finditer(text):
            yield match[1] or match[3]
            if match[1] == "tests":
                yield from (f"tests.{name.strip()}" for name in match[2].split(","))
        return
    yield from (name for _, name in _scan(tree, ""))  # a snippet run with -c: no package


def _text(node: ast.expr) -> str | None:
    """A string literal's text; an f-string's with its holes filled by `_`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "_" for v in node.values)
    return None


def _loads(node: ast.AST, package: str) -> Iterator[str]:
    """The modules `node` itself imports, runs or names in code it passes on."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield from _imported(node, package)
    elif isinstance(node, ast.Constant | ast.JoinedStr):
        yield from _snippet_imports(_text(node) or "")
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in IMPORTERS and node.args and (first := _text(node.args[0])):
            yield first
    # `python -m tests.test_x`, spelled as a call's arguments or a list
    items = node.args if isinstance(node, ast.Call) else getattr(node, "elts", None)
    for flag, value in pairwise(items or []):
        if _text(flag) == "-m" and (module := _text(value)):
            yield module


def _scan(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every module the code in `tree` loads."""
    nodes = list(ast.walk(tree))
    # an f-string's pieces are read as one text, holes filled, not one by one
    pieces = {id(v) for n in nodes if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in nodes:
        if id(node) not in pieces:
            yield from ((getattr(node, "lineno", 0), name) for name in _loads(node, package))


def forbidden_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """`LINE: MODULE` for each test module (or conftest) that `source`, the module named
    `module`, imports."""
    package = module if is_package else module.rpartition(".")[0]
    found = {(line, name) for line, name in _scan(ast.parse(source), package) if not _allowed(name)}
    return [f"{line}: {name}" for line, name in sorted(found)]


def test_no_module_under_tests_imports_a_test_module() -> None:
    offences = []
    for path in sorted(TESTS.rglob("*.py")):
        parts = path.relative_to(TESTS.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        found = forbidden_imports(path.read_text(), module, is_package=is_package)
        offences += [f"{path.relative_to(TESTS.parent)}:{f}" for f in found]
    assert offences == [], "import these from tests/helpers instead:\n" + "\n".join(offences)


def test_the_check_finds_every_way_a_test_module_is_imported() -> None:
    # SUITE stands for tests, so that this file itself imports nothing it must not
    source = (
        "import json\n"
        "from tests.helpers.run import invoke\n"
        "from tests import helpers\n"
        "from . import helpers as h\n"
        "from .helpers.tls import exchange\n"
        "from SUITE.test_a import x\n"
        "import SUITE.test_b\n"
        "from SUITE import test_c, helpers\n"
        "from .test_d import y\n"
        "from . import conftest\n"
        "from SUITE.conftest import z\n"
        'SNIPPET = "import sys\\nfrom SUITE.test_e import f\\n"\n'
        'FSTRING = f"from SUITE.test_f import g\\nrun({x!r})\\n"\n'
        'importlib.import_module("SUITE.test_g")\n'
        'run_python("-m", "SUITE.test_h", "--flag")\n'
        'ARGV = [sys.executable, "-m", "SUITE.test_i"]\n'
        'JUST_A_NAME = "SUITE.test_j"\n'  # a module name that nothing loads
        'CLEAN = "from tests.helpers.panics import panic_type\\n"\n'
    ).replace("SUITE", "tests")
    assert forbidden_imports(source, "tests.test_example") == [
        "6: tests.test_a",
        "7: tests.test_b",
        "8: tests.test_c",
        "9: tests.test_d",
        "10: tests.conftest",
        "11: tests.conftest",
        "12: tests.test_e",
        "13: tests.test_f",
        "14: tests.test_g",
        "15: tests.test_h",
        "16: tests.test_i",
    ]
    # inside tests/helpers, a relative import reaches other helpers, or the tests above
    assert forbidden_imports("from .run import invoke\n", "tests.helpers.tls") == []
    assert forbidden_imports("from .. import test_a\n", "tests.helpers.tls") == ["1: tests.test_a"]
    assert forbidden_imports("from . import run\n", "tests.helpers", is_package=True) == []
