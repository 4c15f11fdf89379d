from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pkiform.colour import palette
from pkiform.commands import seed, up_to_date
from pkiform.commands.spec_input import SpecInput
from pkiform.disk.store import Store
from pkiform.errors import Severity, diagnostics_text

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
    key_passwords: bool = True,
    fmt: str = "text",
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Show what apply would do; change nothing. Exit 2 when there is something to do.
    `fmt`: text, json or markdown (a pull-request comment)."""
    Store(out).check_usable()  # an output directory apply would refuse: no plan for it
    if not rekey and not renew and not seed.asked(seed_file):
        answer = up_to_date.plan(spec_input.source(), out, now, fmt=fmt, palette=palette(stdout))
        if answer is not None:
            stdout.write(answer)
            return 0
    # imported here: an up-to-date directory needs neither the spec nor cryptography
    from pkiform.commands import near_git
    from pkiform.commands.common import open_spec
    from pkiform.render import plan_json, plan_markdown, plan_text

    spec = open_spec(spec_input, stderr, allow_paths=allow_paths)
    the_plan = spec.plan(
        out,
        at=now,
        rekey=rekey,
        renew=renew,
        prune=prune,
        seed=seed.read(seed_file),
        key_passwords=key_passwords,
    )
    valid = spec.valid
    # without the keys' passwords, what apply will need them for is said, not refused
    left = [replace(d, severity=Severity.WARNING) for d in the_plan.password_problems]
    stderr.write(diagnostics_text(left))
    stderr.write(near_git.keys_warning(out, the_plan, valid.spec, planning=True))
    warnings = [*valid.warnings, *left]
    if fmt == "json":
        stdout.write(plan_json(the_plan, warnings))
    elif fmt == "markdown":
        stdout.write(plan_markdown(the_plan, valid.spec, warnings))
    else:
        stdout.write(plan_text(the_plan, valid.spec, palette(stdout)))
    if the_plan.blocked:
        return 1  # apply would refuse
    return EXIT_CHANGES if the_plan.has_changes else 0
