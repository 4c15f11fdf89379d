from __future__ import annotations

from typing import TextIO

from pkiform.schema import schema_text


def run(*, stdout: TextIO) -> int:
    """Print the JSON Schema, byte for byte as shipped."""
    stdout.write(schema_text())
    return 0
