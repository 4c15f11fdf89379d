"""`pkiform completion SHELL`: the completion script for bash, zsh or fish; and
`pkiform completion --names SPEC`, the identity names the scripts offer for --rekey."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TextIO

from pkiform._version import __version__
from pkiform.commands import completion_scripts as completion
from pkiform.errors import PkiformError

# the pattern of identity names (schemas/pkiform.schema.json, identities' propertyNames):
# a name printed here is one a shell may take as it is
_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?")


def run(
    shell: str | None, names: Path | None, *, parser: argparse.ArgumentParser, stdout: TextIO
) -> int:
    """Print the script for `shell`, or the identity names of the spec `names`."""
    if names is not None:
        stdout.write("".join(f"{name}\n" for name in identity_names(names)))
        return 0
    script = {"bash": completion.bash, "zsh": completion.zsh, "fish": completion.fish}
    assert shell is not None  # the parser asks for one of the two
    stdout.write(script[shell](completion.describe(parser), __version__))
    return 0


def identity_names(spec: Path) -> list[str]:
    """The names under `identities:` in the YAML of `spec`, valid or not otherwise; none
    if it cannot be read (a completion says nothing rather than an error). Only the YAML
    reader runs: no schema, no cryptography."""
    from pkiform.spec.source import load_path

    try:
        data = load_path(spec, keep_going=True).data
    except PkiformError:
        return []
    identities = data.get("identities") if isinstance(data, dict) else None
    if not isinstance(identities, dict):
        return []
    return [name for name in identities if isinstance(name, str) and _NAME.fullmatch(name)]
