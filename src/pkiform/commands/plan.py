from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pkiform.commands import seed, up_to_date
from pkiform.commands.spec_input import SpecInput
from pkiform.disk.store import Store

EXIT_CHANGES = 2


def run(
    spec_input: SpecInput,
    out: Path,
    *,
    now: datetime,
    rekey: Sequence[str],
    renew: Sequence[str] = (),
    prune: bool,
    seed_file: Path | None,
    allow_paths: Sequence[Path] = (),
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Show what apply would do; change nothing. Exit 2 when there is something to do."""
    Store(out).check_usable()  # an output directory apply would refuse: no plan for it
    if not rekey and not renew and not seed.asked(seed_file):
        answer = up_to_date.plan(spec_input.source(), out, now, as_json=as_json)
        if answer is not None:
            stdout.write(answer)
            return 0
    # imported here: an up-to-date directory needs neither the spec nor cryptography
    from pkiform.api import Spec
    from pkiform.commands.common import load
    from pkiform.render import plan_json, plan_text

    spec = Spec(
        load(spec_input, stderr, allow_paths=allow_paths),
        base=spec_input.base,
        allow_paths=allow_paths,
    )
    the_plan = spec.plan(
        out, at=now, rekey=rekey, renew=renew, prune=prune, seed=seed.read(seed_file)
    )
    valid = spec.valid
    stdout.write(
        plan_json(the_plan, valid.warnings) if as_json else plan_text(the_plan, valid.spec)
    )
    if the_plan.blocked:
        return 1  # apply would refuse
    return EXIT_CHANGES if the_plan.has_changes else 0
