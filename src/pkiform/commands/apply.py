from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pkiform.colour import palette
from pkiform.commands import seed, up_to_date
from pkiform.commands.spec_input import SpecInput

if TYPE_CHECKING:
    from pkiform.plan.types import Plan


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
    lock_timeout: float,
    quiet: bool,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
    emit: str | None = None,
) -> int:
    """Make the output directory match the spec. With `emit="kubernetes"`, stdout gets
    only the Secrets, as one YAML stream, and the summary goes to stderr."""
    if not rekey and not renew and not seed.asked(seed_file) and emit is None:
        source = spec_input.source()
        answer = up_to_date.apply(
            source, out, now, as_json=as_json, lock_timeout=lock_timeout, palette=palette(stdout)
        )
        if answer is not None:
            stdout.write(answer)
            return 0
    # imported here: an up-to-date directory needs neither the spec nor cryptography
    from pkiform.api import ca_secrets
    from pkiform.commands import near_git
    from pkiform.commands.common import open_spec
    from pkiform.commands.progress import Progress
    from pkiform.render import applied_json, applied_text, kubernetes_stream

    spec = open_spec(spec_input, stderr, allow_paths=allow_paths)
    progress = Progress(stderr, enabled=not quiet and stderr.isatty())

    def planned(plan: Plan) -> None:
        # before the first key is written: the user can still keep it out of git
        stderr.write(near_git.keys_warning(out, plan, spec.valid.spec))
        progress.start(len(plan.changes))

    try:
        applied = spec.apply(
            out,
            at=now,
            rekey=rekey,
            renew=renew,
            prune=prune,
            seed=seed.read(seed_file),
            lock_timeout=lock_timeout,
            on_planned=planned,
            on_done=progress.step,
        )
    finally:
        progress.close()
    to = stderr if emit else stdout
    summary = (
        applied_json(applied.plan, applied.warnings)
        if as_json
        else applied_text(applied.plan, applied.warnings, out, palette(to))
    )
    to.write(summary)
    stderr.write(_signed_ahead(applied.plan, now, datetime.now(UTC)))
    if emit == "kubernetes":
        if not applied.secrets:
            stderr.write("pkiform: warning: no identity asks for outputs.kubernetes\n")
        for warning in ca_secrets(spec, applied.secrets):
            stderr.write(f"pkiform: warning: {warning}\n")
        stdout.write(kubernetes_stream(applied.secrets))
    return 0


def _signed_ahead(plan: Plan, now: datetime, clock: datetime) -> str:
    """The warning for `--at` later than the clock (beyond the backdating) when the apply
    signed something: relying parties refuse it until then, and plan finds it due."""
    from pkiform.durations import BACKDATE, format_rounded
    from pkiform.plan.types import ListVerb

    start = now.replace(microsecond=0) - BACKDATE
    signed = any(a.new_cert for a in plan.actions) or any(
        r.verb is not ListVerb.REWRITE for r in plan.revocations
    )
    if start <= clock or not signed:
        return ""
    return (
        f"pkiform: warning: --at is {format_rounded(now - clock)} ahead of the clock: what "
        f"this apply signed is not valid before {start:%Y-%m-%d %H:%M}Z; plan and apply "
        "without --at will sign it again\n"
    )
