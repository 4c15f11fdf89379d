from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pkiform import execute
from pkiform.commands.common import load, rekey_names
from pkiform.commands.progress import Progress
from pkiform.observe import observe
from pkiform.planner import archives_to_read, plan
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
    names = rekey_names(valid.spec, rekey)
    store = Store(out)
    with store.locked(timeout=lock_timeout):
        store.recover()
        observed = observe(
            store, valid.spec.identities, with_archive=archives_to_read(valid.spec, valid.graph)
        )
        the_plan = plan(valid.spec, valid.graph, observed, now, rekey=names, prune=prune)
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
