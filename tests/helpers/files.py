"""What a directory holds, to prove what changed and what did not."""

from __future__ import annotations

import hashlib
from pathlib import Path


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file below `directory`: bytes, mtime (ns) and mode, to prove nothing changed."""
    found = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            st = path.stat()
            found[str(path.relative_to(directory))] = (
                path.read_bytes(),
                st.st_mtime_ns,
                st.st_mode,
            )
    return found


def digests(tree: Path) -> dict[str, str]:
    """Every file below `tree` -> the SHA-256 of its bytes (hex)."""
    return {
        str(p.relative_to(tree)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(tree.rglob("*"))
        if p.is_file()
    }
