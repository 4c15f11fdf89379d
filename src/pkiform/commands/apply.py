from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pkiform import execute
from pkiform.commands.common import load
from pkiform.commands.planning import observe_and_plan
from pkiform.commands.progress import Progress
from pkiform.render import applied_json, applied_text
from pkiform.store import Store


def run(
    spec_path: Path,
    out: Path,
    *,
    now: datetime,
    stamp: str,
    rekey: Sequence[str],
    prune: bool,
    lock_timeout: float,
    quiet: bool,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Make the output directory match the spec."""
    valid = load(spec_path, stderr)
    store = Store(out)
    with store.locked(timeout=lock_timeout):
        store.recover()
        observed, the_plan = observe_and_plan(valid, store, now, rekey=rekey, prune=prune)
        progress = Progress(len(the_plan.changes), stderr, enabled=not quiet and stderr.isatty())
        try:
            applied = execute.apply(
                the_plan,
                valid.spec,
                valid.graph,
                observed,
                store,
                now,
                stamp=stamp,
                on_done=progress.step,
            )
        finally:
            progress.close()
    render = applied_json if as_json else applied_text
    stdout.write(render(the_plan, applied.warnings))
    return 0
