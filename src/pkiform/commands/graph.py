from __future__ import annotations

from typing import TextIO

from pkiform.api import Spec
from pkiform.commands.common import load
from pkiform.commands.spec_input import SpecInput


def run(spec: SpecInput, *, fmt: str, stdout: TextIO, stderr: TextIO) -> int:
    """Print the issuer tree."""
    stdout.write(Spec(load(spec, stderr)).graph(fmt))
    return 0
