from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TextIO

from pkiform import health
from pkiform.commands.common import load
from pkiform.errors import PkiformError
from pkiform.observe import observe
from pkiform.render import status_json, status_text
from pkiform.store import Store


def run(
    spec_path: Path,
    out: Path,
    *,
    now: datetime,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Check what is on disk; exit 1 if any identity has an error."""
    valid = load(spec_path, stderr)
    store = Store(out)
    if not store.exists():
        raise PkiformError(f"{out}: no such directory (run pkiform apply first)")
    observed = observe(store, valid.spec.identities)
    report = health.check(valid.spec, valid.graph, observed, now)
    stdout.write(status_json(report) if as_json else status_text(report))
    return 1 if any(r.health is health.Health.ERROR for r in report) else 0
