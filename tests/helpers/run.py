"""pkiform run in this process (the CLI's main) or as a real `python -m pkiform` process."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pkiform.cli import main
from tests.helpers.repo import ROOT


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


RunCli = Callable[..., Result]
ApplySpec = Callable[[str], tuple[Path, Path]]


def invoke(*argv: str | Path) -> Result:
    """Run pkiform in-process: invoke("plan", "spec.yaml") -> Result(code, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


def apply_quietly(spec: Path, out: Path, *extra: str) -> Path:
    """apply in this process, for fixtures that build PKIs to test: it must succeed."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["apply", str(spec), "-o", str(out), *extra], stdout=stdout, stderr=stderr)
    assert code == 0, stderr.getvalue()
    return out


def plan_json(
    run_cli: RunCli, spec: Path, out: Path, *extra: str, blocked: bool = False
) -> tuple[int, dict[str, Any]]:
    """`pkiform plan --json`: its exit code and the document. The code must say a plan was
    made: 0 (nothing to do) or 2 (changes); with `blocked`, 1 (an action is blocked)."""
    result = run_cli("plan", spec, "-o", out, "--json", *extra)
    assert result.code in ((1,) if blocked else (0, 2)), result.err
    return result.code, json.loads(result.out)


def actions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A plan document's actions by identity name."""
    return {a["name"]: a for a in document["actions"]}


def plan_actions(
    run_cli: RunCli, spec: Path, out: Path, *extra: str, blocked: bool = False
) -> tuple[int, dict[str, dict[str, Any]]]:
    """plan_json's exit code, and the plan's actions by identity name."""
    code, document = plan_json(run_cli, spec, out, *extra, blocked=blocked)
    return code, actions(document)


def pkiform_env(**extra: str) -> dict[str, str]:
    """This environment, with the source tree first on PYTHONPATH, and `extra`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_python(
    *argv: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`python ARGV` in a real subprocess (env: pkiform_env() unless given), its output
    captured as text."""
    return subprocess.run(
        [sys.executable, *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else pkiform_env(),
        timeout=timeout,
        check=False,
    )


def run_pkiform_process(
    *argv: str | Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """pkiform as a real subprocess (`python -m pkiform`)."""
    return run_python("-m", "pkiform", *argv, cwd=cwd)


def pkiform_process(
    *argv: str | Path, cwd: Path, env: dict[bytes, bytes] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """`python -m pkiform ARGV` as its own process, both output streams as raw bytes (a
    panic report is written to fd 2 directly, and not necessarily as UTF-8)."""
    environment = env if env is not None else environment_bytes()
    return subprocess.run(
        [sys.executable, "-m", "pkiform", *map(str, argv)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        timeout=timeout,
        check=False,
        preexec_fn=_limit_memory,
    )


def environment_bytes(**extra: bytes) -> dict[bytes, bytes]:
    """pkiform_env() as bytes, with `extra` (values that need not be UTF-8)."""
    env = {os.fsencode(k): os.fsencode(v) for k, v in pkiform_env().items()}
    env.update({k.encode(): v for k, v in extra.items()})
    return env


# a run that reads /dev/zero to the end fails at this size, not at the machine's
MEMORY_LIMIT = 3 << 29  # 1.5 GiB of address space


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
