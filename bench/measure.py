"""Run one contender as its own process and measure it: wall time, CPU time, peak RSS."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

RUSAGE = Path(__file__).resolve().parent / "rusage.py"


class BenchError(Exception):
    """A contender failed or did not do what it is measured for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One run of one contender."""

    wall_s: float  # from spawn to exit, time.perf_counter()
    # CPU time of the process and every child it waited for
    user_s: float
    sys_s: float
    peak_rss_mib: float  # the largest resident set of the process or any one such child


def measure(argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str]) -> Sample:
    """Run `argv` through rusage.py (see there why); raise BenchError unless it exits 0."""
    wrapped = [sys.executable, RUSAGE, *argv]
    done = subprocess.run(wrapped, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        command = " ".join(map(str, argv))
        raise BenchError(f"{command}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return Sample(**json.loads(done.stdout))
