from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pkiform import render
from pkiform.commands.common import load

FORMATS = {"text": render.graph_text, "dot": render.graph_dot, "mermaid": render.graph_mermaid}


def run(spec_path: Path, *, fmt: str, stdout: TextIO, stderr: TextIO) -> int:
    """Print the issuer tree."""
    valid = load(spec_path, stderr)
    stdout.write(FORMATS[fmt](valid.spec, valid.graph))
    return 0
