from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pkiform.commands.common import load
from pkiform.commands.planning import observe_and_plan
from pkiform.commands.read_passwords import read_passwords
from pkiform.passwords import require_upfront
from pkiform.render import plan_json, plan_text
from pkiform.store import Store

EXIT_CHANGES = 2


def run(
    spec_path: Path,
    out: Path,
    *,
    now: datetime,
    rekey: Sequence[str],
    prune: bool,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Show what apply would do; change nothing. Exit 2 when there is something to do."""
    valid = load(spec_path, stderr)
    store = Store(out)
    found = read_passwords(valid.spec, spec_path)
    require_upfront(valid.spec, found, new=store.absent(valid.spec.identities))
    _, the_plan = observe_and_plan(valid, store, now, rekey=rekey, prune=prune, passwords=found)
    stdout.write(
        plan_json(the_plan, valid.warnings) if as_json else plan_text(the_plan, valid.spec)
    )
    if the_plan.blocked:
        return 1  # apply would refuse
    return EXIT_CHANGES if the_plan.has_changes else 0
