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


def plan(source: bytes | None, out: Path, now: datetime, *, fmt: str) -> str | None:
    """What `pkiform plan --format FMT` prints, if the mark holds for the spec's bytes
    `source`; None to plan in full (also when the spec could not be read: that says what
    is wrong)."""
    found = settled.check(source, out, now) if source is not None else None
    skipped = _skipped(out, found.order) if found is not None else None
    if found is None or skipped is None:
        return None
    summary = f"No changes: {len(found.order) - len(skipped)} identities up to date"
    summary += f"{_count(skipped)}."
    if fmt == "text":
        lines = "".join(f"    {n}: skip\n      {NEVER_ISSUED}\n" for n in skipped)
        return f"{lines}{summary}\n"
    if fmt == "markdown":
        from pkiform.plan_markdown import Row, comment

        rows = [
            Row(symbol=" ", name=n, kind=None, change="skip", reasons=(NEVER_ISSUED,))
            for n in skipped
        ]
        return comment(rows, summary)
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
    source: bytes | None, out: Path, now: datetime, *, as_json: bool, lock_timeout: float
) -> str | None:
    """What `pkiform apply` prints, if the mark holds for the spec's bytes `source`; None
    to apply in full. The files are read under the lock, as an apply in full reads
    them: never half-way through another apply's writes."""
    if source is None or settled.check(source, out, now, files=False) is None:
        return None  # and the lock is not taken: it would create a missing directory
    with Store(out).locked(timeout=lock_timeout):
        found = settled.check(source, out, now)
    skipped = _skipped(out, found.order) if found is not None else None
    if found is None or skipped is None:
        return None
    unchanged = [n for n in found.order if n not in set(skipped)]
    if not as_json:
        lines = "".join(f"    {n}: skip ({NEVER_ISSUED})\n" for n in skipped)
        counts = f"{len(unchanged)} unchanged{_count(skipped)}"
        return f"{lines}Apply complete in {out}: 0 changed, {counts}.\n"
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


def _skipped(out: Path, order: tuple[str, ...]) -> list[str] | None:
    """The identities plan skips: revoked before they were ever issued. An apply leaves
    the mark only where each of them has no folder (execute._settled), and every other
    identity has one; the mark holds while that is so. One listing of the directory;
    None if it cannot be read (planning in full says why)."""
    try:
        folders = {entry.name for entry in os.scandir(out)}
    except OSError:
        return None
    return [name for name in order if name not in folders]


def _count(skipped: list[str]) -> str:
    return f", {len(skipped)} skipped" if skipped else ""


def _action(name: str, skipped: list[str]) -> dict[str, object]:
    if name in skipped:
        return {"name": name, "verb": "skip", "reasons": [NEVER_ISSUED], "cascade_from": None}
    return {"name": name, "verb": "unchanged", "reasons": [], "cascade_from": None}


def _dump(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"
