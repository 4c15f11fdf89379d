from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pkiform.errors import PkiformError
from pkiform.model import IdentityName, Spec
from pkiform.observe import observe
from pkiform.planner import Plan, plan
from pkiform.render import diagnostics_text, plan_json, plan_text
from pkiform.store import Store
from pkiform.validation import validate_path

EXIT_CHANGES = 2


def check_rekey_names(spec: Spec, rekey: Sequence[str]) -> list[IdentityName]:
    unknown = [n for n in rekey if n not in spec.identities]
    if unknown:
        raise PkiformError(f"--rekey names no identity of the spec: {', '.join(unknown)}")
    return [IdentityName(n) for n in rekey]


def compute(
    spec_path: Path, out: Path, now: datetime, rekey: Sequence[str], stderr: TextIO
) -> tuple[Spec, Plan, str]:
    valid = validate_path(spec_path)
    stderr.write(diagnostics_text(valid.warnings))
    names = check_rekey_names(valid.spec, rekey)
    observed = observe(Store(out), valid.spec.identities)
    the_plan = plan(valid.spec, valid.graph, observed, now, rekey=names)
    return valid.spec, the_plan, plan_json(the_plan, valid.warnings)


def run(
    spec_path: Path,
    out: Path,
    *,
    now: datetime,
    rekey: Sequence[str],
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Show what apply would do; change nothing. Exit 2 when there is something to do."""
    spec, the_plan, json_text = compute(spec_path, out, now, rekey, stderr)
    stdout.write(json_text if as_json else plan_text(the_plan, spec))
    if the_plan.blocked:
        return 1
    return EXIT_CHANGES if the_plan.changes else 0
