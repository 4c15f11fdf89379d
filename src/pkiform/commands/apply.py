from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pkiform.commands import up_to_date

if TYPE_CHECKING:
    from pkiform.derive import Seed


def run(
    spec_path: Path,
    out: Path,
    *,
    now: datetime,
    rekey: Sequence[str],
    prune: bool,
    seed: Seed | None,
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
    if not rekey and seed is None and emit is None:
        answer = up_to_date.apply(spec_path, out, now, as_json=as_json, lock_timeout=lock_timeout)
        if answer is not None:
            stdout.write(answer)
            return 0
    # imported here: an up-to-date directory needs neither the spec nor cryptography
    from pkiform.api import Spec
    from pkiform.commands.common import load
    from pkiform.commands.progress import Progress
    from pkiform.render import applied_json, applied_text, kubernetes_stream

    spec = Spec(load(spec_path, stderr), base=spec_path.parent, allow_paths=allow_paths)
    progress = Progress(stderr, enabled=not quiet and stderr.isatty())
    try:
        applied = spec.apply(
            out,
            at=now,
            rekey=rekey,
            prune=prune,
            seed=seed,
            lock_timeout=lock_timeout,
            on_planned=lambda plan: progress.start(len(plan.changes)),
            on_done=progress.step,
        )
    finally:
        progress.close()
    render = applied_json if as_json else applied_text
    (stderr if emit else stdout).write(render(applied.plan, applied.warnings))
    if emit == "kubernetes":
        if not applied.secrets:
            stderr.write("pkiform: warning: no identity asks for outputs.kubernetes\n")
        stdout.write(kubernetes_stream(applied.secrets))
    return 0
