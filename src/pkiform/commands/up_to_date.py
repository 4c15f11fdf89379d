"""plan and apply on an output directory whose settled mark holds (settled.py): their
answer, nothing to do, without loading the spec, cryptography or a certificate. They
print what planning in full prints when it finds nothing to do (tests/test_settled.py
holds the two to the same bytes)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from pkiform import settled
from pkiform.store import Store


def plan(source: bytes | None, out: Path, now: datetime, *, as_json: bool) -> str | None:
    """What `pkiform plan` prints, if the mark holds for the spec's bytes `source`; None
    to plan in full (also when the spec could not be read: that says what is wrong)."""
    found = settled.check(source, out, now) if source is not None else None
    if found is None:
        return None
    if not as_json:
        return f"No changes: {len(found.order)} identities up to date.\n"
    actions: list[dict[str, object]] = [
        {"name": n, "verb": "unchanged", "reasons": [], "cascade_from": None} for n in found.order
    ]
    return _dump(
        {
            "changes": False,
            "actions": actions,
            "revocations": [],
            "on_disk_only": [],
            "retire": [],
            "trust_bundle": None,
            "warnings": [],
        }
    )


def apply(
    source: bytes | None, out: Path, now: datetime, *, as_json: bool, lock_timeout: float
) -> str | None:
    """What `pkiform apply` prints, if the mark holds for the spec's bytes `source`; None
    to apply in full. The files are read under the lock, as an apply in full reads
    them: never half-way through another apply's writes."""
    if source is None or settled.check(source, out, now, files=False) is None:
        return None  # and the lock is not taken: it would create a missing directory
    with Store(out).locked(timeout=lock_timeout):
        found = settled.check(source, out, now)
    if found is None:
        return None
    if not as_json:
        return f"Apply complete in {out}: 0 changed, {len(found.order)} unchanged.\n"
    return _dump(
        {
            "changed": [],
            "unchanged": list(found.order),
            "revocations": [],
            "on_disk_only": [],
            "retired": [],
            "warnings": [],
        }
    )


def _dump(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"
