"""Print a pip constraints file pinning every runtime dependency, and those of the extras
users install (`pkcs11`, `lint`), to the lowest version pyproject.toml declares
(`name>=X` -> `name==X`), so CI also tests the floors users may have: a floor that no
longer works fails there, not on a user's machine."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

FLOOR = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][A-Za-z0-9.]*)\s*(?:,.*)?$")


USER_EXTRAS = ("pkcs11", "lint")


def floors(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project["optional-dependencies"]
    pins = []
    for requirement in [*project["dependencies"], *(r for e in USER_EXTRAS for r in extras[e])]:
        found = FLOOR.match(requirement.split(";")[0])
        if found is None:
            sys.exit(f"{pyproject}: no '>=' floor in dependency {requirement!r}")
        pins.append(f"{found[1]}=={found[2]}")
    return pins


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    print("\n".join(floors(root / "pyproject.toml")))
