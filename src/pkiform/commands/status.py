from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from pkiform import health
from pkiform.commands.common import load
from pkiform.commands.read_passwords import read_passwords
from pkiform.errors import PkiformError
from pkiform.observe import observe
from pkiform.passwords import by_identity
from pkiform.render import status_json, status_text
from pkiform.store import Store


def run(
    spec_path: Path,
    out: Path,
    *,
    now: datetime,
    warn_within: timedelta | None,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Check what is on disk; exit 1 if anything is broken, or expires within `warn_within`."""
    valid = load(spec_path, stderr)
    store = Store(out)
    if not store.exists():
        raise PkiformError(f"{out}: no such directory (run pkiform apply first)")
    found = read_passwords(valid.spec, spec_path)  # status checks what they open, needs none
    observed = observe(store, valid.spec.identities, passwords=by_identity(valid.spec, found))
    report = health.check(valid.spec, valid.graph, observed, now, warn_within=warn_within)
    stdout.write(status_json(report) if as_json else status_text(report))
    failed = any(r.health is health.Health.ERROR or r.expiring for r in report)
    return 1 if failed else 0
