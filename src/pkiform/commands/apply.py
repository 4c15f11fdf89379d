from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pkiform import execute
from pkiform.commands.common import load
from pkiform.commands.planning import observe_and_plan
from pkiform.commands.progress import Progress
from pkiform.commands.read_passwords import read_passwords
from pkiform.passwords import require_upfront
from pkiform.render import applied_json, applied_text, kubernetes_stream
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
    emit: str | None = None,
) -> int:
    """Make the output directory match the spec. With `emit="kubernetes"`, stdout gets
    only the Secrets, as one YAML stream, and the summary goes to stderr."""
    valid = load(spec_path, stderr)
    store = Store(out)
    # a missing password is reported before the lock creates the output directory
    found = read_passwords(valid.spec, spec_path)
    require_upfront(valid.spec, found, new=store.absent(valid.spec.identities))
    with store.locked(timeout=lock_timeout):
        store.recover()
        observed, the_plan = observe_and_plan(
            valid, store, now, rekey=rekey, prune=prune, passwords=found
        )
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
                passwords=found,
            )
        finally:
            progress.close()
    render = applied_json if as_json else applied_text
    (stderr if emit else stdout).write(render(the_plan, applied.warnings))
    if emit == "kubernetes":
        if not applied.secrets:
            stderr.write("pkiform: warning: no identity asks for outputs.kubernetes\n")
        stdout.write(kubernetes_stream(applied.secrets))
    return 0
