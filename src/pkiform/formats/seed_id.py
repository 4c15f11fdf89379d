"""seed-id: the file beside each key derived from a seed, naming the seed by its public id
(reproducible mode, x509/derive.py)."""

from __future__ import annotations


def seed_id_file(fingerprint: str) -> bytes:
    """The bytes of a seed-id file for the seed with this (public) fingerprint."""
    return f"{fingerprint}\n".encode()


def seed_id_of(data: bytes | None) -> str | None:
    """The fingerprint a seed-id file names, None when there is none; a file pkiform did
    not write reads as `garbled` (never shown as it is: it could be anything)."""
    if data is None:
        return None
    text = data.removesuffix(b"\n")
    hex_digits = len(text) == 32 and all(c in b"0123456789abcdef" for c in text)
    return text.decode() if hex_digits else "garbled"
