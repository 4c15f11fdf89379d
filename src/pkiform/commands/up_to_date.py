"""plan and apply on an output directory whose settled mark holds (settled.py): their
answer, nothing to do, without loading the spec, cryptography or a certificate. They
print what planning in full prints when it finds nothing to do (tests/test_settled.py
holds the two to the same bytes)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from pkiform import settled
from pkiform.store import Store


def plan(spec_path: Path, out: Path, now: datetime, *, as_json: bool) -> str | None:
    """What `pkiform plan` prints, if the mark holds; None to plan in full."""
    found = settled.check(spec_path, out, now)
    if found is None:
        return None
    skipped = _skipped(out, found.order)
    if not as_json:
        lines = "".join(f"    {n}: skip\n      {NEVER_ISSUED}\n" for n in skipped)
        up_to_date = len(found.order) - len(skipped)
        return f"{lines}No changes: {up_to_date} identities up to date{_count(skipped)}.\n"
    actions = [_action(n, skipped) for n in found.order]
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
    spec_path: Path, out: Path, now: datetime, *, as_json: bool, lock_timeout: float
) -> str | None:
    """What `pkiform apply` prints, if the mark holds; None to apply in full. The files
    are read under the lock, as an apply in full reads them: never half-way through
    another apply's writes."""
    if settled.check(spec_path, out, now, files=False) is None:
        return None  # and the lock is not taken: it would create a missing directory
    with Store(out).locked(timeout=lock_timeout):
        found = settled.check(spec_path, out, now)
    if found is None:
        return None
    skipped = _skipped(out, found.order)
    unchanged = [n for n in found.order if n not in set(skipped)]
    if not as_json:
        lines = "".join(f"    {n}: skip ({NEVER_ISSUED})\n" for n in skipped)
        counts = f"{len(unchanged)} unchanged{_count(skipped)}"
        return f"{lines}Apply complete: 0 changed, {counts}.\n"
    return _dump(
        {
            "changed": [],
            "unchanged": unchanged,
            "skipped": [_action(n, skipped) for n in skipped],
            "revocations": [],
            "on_disk_only": [],
            "retired": [],
            "warnings": [],
        }
    )


# planner.NEVER_ISSUED, as render prints it (planner imports cryptography; this may not)
NEVER_ISSUED = "revoked before it was ever issued: nothing to issue, nothing to list"


def _skipped(out: Path, order: tuple[str, ...]) -> list[str]:
    """The identities plan skips: revoked before they were ever issued. Where the mark
    holds, the directory is as an apply left it: every other identity has cert.pem or
    key.pem (apply made both, or froze a revoked one as it was), and those have neither
    (planner.never_issued)."""
    return [n for n in order if not any(os.path.lexists(out / n / f) for f in _ISSUED)]


_ISSUED = ("cert.pem", "key.pem")


def _count(skipped: list[str]) -> str:
    return f", {len(skipped)} skipped" if skipped else ""


def _action(name: str, skipped: list[str]) -> dict[str, object]:
    if name in skipped:
        return {"name": name, "verb": "skip", "reasons": [NEVER_ISSUED], "cascade_from": None}
    return {"name": name, "verb": "unchanged", "reasons": [], "cascade_from": None}


def _dump(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"
