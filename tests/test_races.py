"""Concurrent applies on one output directory: they take turns, or fail naming the holder.

Each apply is a real `python -m pkiform` process. To make them really meet at the lock,
every process first imports pkiform (the slow part of starting), says "ready", and
waits on its stdin; the test then releases them all at once. The first to take the lock
holds it for the whole apply of 122 identities (half a second or more), so the others
find it held: without --lock-timeout they must fail at once with the exact message,
naming the process that holds it; with it they wait and then find nothing left to do.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.faults import (
    NAMES,
    SPEC,
    check_each_identity_whole,
    run_counted,
    verify_with_openssl,
)
from tests.helpers.run import RunCli, pkiform_env

GATED = r"""
import runpy, sys
import pkiform.cli, pkiform.commands.apply, pkiform.spec.load  # start-up, before the gate
print("ready", flush=True)
sys.stdin.read(1)
sys.argv = ["pkiform", *sys.argv[1:]]
runpy.run_module("pkiform", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Outcome:
    pid: int
    code: int
    out: str
    err: str


def applies_at_once(n: int, *argv: str | Path) -> list[Outcome]:
    """`pkiform apply ARGV` in `n` processes released together."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GATED, "apply", *map(str, argv), "--quiet"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=pkiform_env(),
        )
        for _ in range(n)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
    for proc in procs:  # the gate opens
        assert proc.stdin is not None
        proc.stdin.write("go")
        proc.stdin.flush()
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        outcomes.append(Outcome(proc.pid, proc.returncode, out, err))
    return outcomes


def busy_message(out: Path, pid: int) -> str:
    return (
        f"pkiform: error: {out}/.lock is held by another pkiform apply (pid {pid}); "
        "wait for it to finish or pass --lock-timeout SECONDS\n"
    )


def check_consistent(run_cli: RunCli, spec: Path, out: Path) -> None:
    check_each_identity_whole(out)
    verify_with_openssl(out)
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0
    # nothing was ever replaced, so nothing was archived: no two applies interleaved
    assert not list(out.rglob("archive"))
    assert not list(out.rglob(".pending*")) and not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("n", [2, 4])
def test_applies_started_together_take_turns_or_fail_naming_the_holder(
    run_cli: RunCli, tmp_path: Path, n: int
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "pki"
    outcomes = applies_at_once(n, spec, "-o", out)
    winners = {o.pid for o in outcomes if o.code == 0}
    assert winners, [o.err for o in outcomes]
    for o in outcomes:
        if o.code == 0:
            continue
        assert o.code == 1, o.err
        holders = [pid for pid in winners if o.err == busy_message(out, pid)]
        assert holders, o.err
    assert len(winners) < n  # released together, some found the lock held
    created = [o for o in outcomes if f"Apply complete in {out}: {len(NAMES)} changed" in o.out]
    assert len(created) == 1  # one did the work; any other winner came after it
    check_consistent(run_cli, spec, out)


@pytest.mark.parametrize("n", [2, 4])
def test_applies_with_a_lock_timeout_all_succeed_one_after_another(
    run_cli: RunCli, tmp_path: Path, n: int
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "pki"
    outcomes = applies_at_once(n, spec, "-o", out, "--lock-timeout", "60")
    assert [o.code for o in outcomes] == [0] * n, [o.err for o in outcomes]
    summaries = sorted(o.out.splitlines()[-1] for o in outcomes)
    # the first did everything; each of the others, once it had the lock, found nothing to do
    assert summaries == [f"Apply complete in {out}: 0 changed, {len(NAMES)} unchanged."] * (
        n - 1
    ) + [f"Apply complete in {out}: {len(NAMES)} changed, 0 unchanged, 2 CRL/OCSP signed."]
    check_consistent(run_cli, spec, out)


def test_the_lock_of_a_killed_apply_does_not_block_the_next(
    run_cli: RunCli, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "pki"
    # SIGKILLed before its 300th change, well after it took the lock (its 2nd)
    killed = run_counted(out, "apply", spec, "-o", out, kill_at=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    result = run_cli("apply", spec, "-o", out)  # no --lock-timeout: it must not wait
    assert result.code == 0, result.err
    check_consistent(run_cli, spec, out)
