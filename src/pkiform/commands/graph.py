from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pkiform.api import Spec
from pkiform.commands.common import load


def run(spec_path: Path, *, fmt: str, stdout: TextIO, stderr: TextIO) -> int:
    """Print the issuer tree."""
    stdout.write(Spec(load(spec_path, stderr)).graph(fmt))
    return 0
