"""The digest of a spec's bytes, as the settled mark records it and Document carries it:
standard library only, so that the mark is checked without loading YAML."""

from __future__ import annotations

import hashlib


def spec_digest(source: bytes) -> str:
    """SHA-256 of the spec with CRLF line breaks read as LF, as YAML reads them: a spec
    checked out with CRLF (core.autocrlf) holds the mark its LF twin made on another
    machine, and the two write the same manifest.json."""
    return hashlib.sha256(source.replace(b"\r\n", b"\n")).hexdigest()
