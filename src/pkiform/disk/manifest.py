"""manifest.json: the one module that writes it and reads it back.

    {"pkiform_manifest": 1, "trust_bundle": "trust-bundle.pem", "reproducible": {...},
     "identities": {
      "NAME": {"kind": ..., "serial": ..., "fingerprints": {...}, "files": {...}, "seal": ...},
      ...
    }, "settled": {...}}

Derived, not state: every entry is made from the certificate on disk, and a deleted or
damaged manifest costs the next run time, never correctness. The identities' block is
one identity a line (diffable, and written by json's C encoder, which indent= is not).
The settled mark (cache/settled.py) is a trailer after that block, so a plan can find it
and check a digest of the body without parsing the identities: only this module knows
that byte layout. Seals (cache/seals.py) ride in the entries under the key `seal`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pkiform.layout import TRUST_BUNDLE

VERSION = 1
_REPRODUCIBLE = "reproducible"
# the mark follows the identities' block: `\n}` ends that block, then the field
_FIELD = b', "settled": '
_MARK = b"\n}" + _FIELD
_CLOSE = b"}\n"


def line(name: str, entry: Mapping[str, object]) -> str:
    """One identity's line of the identities' block."""
    return f"  {json.dumps(name)}: {json.dumps(entry, sort_keys=True)}"


def body(lines: Iterable[str], *, seed: str | None = None) -> bytes:
    """manifest.json up to the end of the identities' block (what the settled mark's
    digest covers); `seed`: the fingerprint of the seed a reproducible PKI came from."""
    top = f'"pkiform_manifest": {VERSION}, "trust_bundle": {json.dumps(TRUST_BUNDLE)}'
    if seed:
        top += f', "{_REPRODUCIBLE}": {{"seed": "{seed}"}}'
    block = ",\n".join(lines)
    return f'{{{top}, "identities": {{\n{block}\n}}'.encode()


def close(body_bytes: bytes, mark: Mapping[str, object] | None = None) -> bytes:
    """The whole manifest.json: `body_bytes` closed, with the settled mark if given."""
    if mark is None:
        return body_bytes + _CLOSE
    return body_bytes + _FIELD + json.dumps(dict(mark)).encode() + _CLOSE


@dataclass(frozen=True, slots=True)
class Marked:
    """A manifest's settled mark as written, and the body it follows."""

    body: bytes
    fields: Any  # parsed JSON: cache/settled.py checks what it holds


def marked(data: bytes | None) -> Marked | None:
    """The settled mark of a manifest and its body, found by the trailer alone (the
    identities are not parsed); None when there is none or it is not JSON."""
    at = data.rfind(_MARK) if data is not None else -1
    if data is None or at < 0 or not data.endswith(_CLOSE):
        return None
    try:
        fields = json.loads(data[at + len(_MARK) : -len(_CLOSE)])
    except ValueError:
        return None
    return Marked(body=data[: at + len(_MARK) - len(_FIELD)], fields=fields)


def entries(data: bytes | None) -> dict[str, Any]:
    """The identities' entries, by name; none when the manifest is missing or unreadable."""
    found = _parsed(data).get("identities")
    return found if isinstance(found, dict) else {}


def seed(data: bytes | None) -> str | None:
    """The seed fingerprint a manifest is marked with; None when unmarked or unreadable."""
    mark = _parsed(data).get(_REPRODUCIBLE)
    value = mark.get("seed") if isinstance(mark, dict) else None
    return value if isinstance(value, str) else None


def _parsed(data: bytes | None) -> dict[str, Any]:
    try:
        document = json.loads(data or b"{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
