from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from pkiform.colour import palette
from pkiform.commands.common import open_spec
from pkiform.commands.spec_input import SpecInput
from pkiform.render import status_json, status_text


def run(
    spec_input: SpecInput,
    out: Path,
    *,
    now: datetime,
    warn_within: timedelta | None,
    lint: bool = False,
    public: bool = False,
    allow_paths: Sequence[Path] = (),
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Check what is on disk (and, with `lint`, lint it; with `public`, look for secrets
    in it); exit 1 if anything is broken, or expires within `warn_within`."""
    spec = open_spec(spec_input, stderr, allow_paths=allow_paths)
    report = spec.status(out, at=now, warn_within=warn_within, lint=lint, public=public)
    stdout.write(status_json(report) if as_json else status_text(report, palette(stdout)))
    return 0 if report.ok and not any(r.expiring for r in report) else 1
