"""The step plan and apply share: read the output directory, decide what to do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pkiform.commands.common import rekey_names
from pkiform.observe import Observed, observe
from pkiform.passwords import PasswordError, Passwords, by_identity
from pkiform.planner import Plan, archives_to_read, plan
from pkiform.store import Store
from pkiform.validation import ValidSpec


def observe_and_plan(
    valid: ValidSpec,
    store: Store,
    now: datetime,
    *,
    rekey: Sequence[str],
    prune: bool,
    passwords: Passwords,
) -> tuple[Observed, Plan]:
    """What is on disk, and the plan that makes it match the spec: apply runs exactly
    the plan that plan prints. A password it needs and lacks is an error here."""
    names = rekey_names(valid.spec, rekey)
    observed = observe(
        store,
        valid.spec.identities,
        with_archive=archives_to_read(valid.spec, valid.graph),
        keep_keys={n for n, ident in valid.spec.identities.items() if ident.kind.is_ca},
        passwords=by_identity(valid.spec, passwords),
    )
    the_plan = plan(
        valid.spec, valid.graph, observed, now, rekey=names, prune=prune, passwords=passwords
    )
    if the_plan.password_problems:
        raise PasswordError(the_plan.password_problems)
    return observed, the_plan
