"""plan and apply on an output directory whose settled mark holds (cache/settled.py): their
answer, nothing to do, without loading the spec, cryptography or a certificate. The
answer is a Plan of identities left as they are, rendered as planning in full renders
its plan (tests/test_settled.py holds the two to the same bytes)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from pkiform.cache import settled
from pkiform.colour import PLAIN, Palette
from pkiform.plan.types import NEVER_ISSUED, Action, Plan, Verb
from pkiform.render import applied_json, applied_text, plan_json, plan_markdown, plan_text
from pkiform.spec.names import IdentityName


def plan(
    source: bytes | None, out: Path, now: datetime, *, fmt: str, palette: Palette = PLAIN
) -> str | None:
    """What `pkiform plan --format FMT` prints, if the mark holds for the spec's bytes
    `source`; None to plan in full (also when the spec could not be read: that says what
    is wrong)."""
    found = settled.check(source, out, now) if source is not None else None
    answer = _plan(out, found)
    if answer is None:
        return None
    if fmt == "json":
        return plan_json(answer)
    if fmt == "markdown":
        return plan_markdown(answer, None)
    return plan_text(answer, None, palette)


def apply(
    source: bytes | None,
    out: Path,
    now: datetime,
    *,
    as_json: bool,
    lock_timeout: float,
    palette: Palette = PLAIN,
) -> str | None:
    """What `pkiform apply` prints, if the mark holds for the spec's bytes `source`; None
    to apply in full. The files are read under the lock, as an apply in full reads
    them: never half-way through another apply's writes."""
    found = settled.check_locked(source, out, now, lock_timeout=lock_timeout) if source else None
    answer = _plan(out, found)
    if answer is None:
        return None
    return applied_json(answer, ()) if as_json else applied_text(answer, (), out, palette)


def _plan(out: Path, found: settled.Settled | None) -> Plan | None:
    """The plan a mark that holds stands for: every identity left as it is, those revoked
    before they were ever issued skipped. An apply leaves the mark only where each of
    those has no folder (apply/run.py), and every other identity has one; it holds while
    that is so. One listing of the directory; None if it cannot be read (planning in full
    says why)."""
    if found is None:
        return None
    try:
        folders = {entry.name for entry in os.scandir(out)}
    except OSError:
        return None
    return Plan(
        actions=tuple(
            Action(name=IdentityName(name), verb=Verb.UNCHANGED)
            if name in folders
            else Action(name=IdentityName(name), verb=Verb.SKIP, reasons=(NEVER_ISSUED,))
            for name in found.order
        )
    )
