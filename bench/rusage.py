"""Run a command; print its wall time, CPU times and peak RSS as JSON; exit with its code.

Usage: python bench/rusage.py COMMAND [ARG...]

Why a wrapper: Linux counts the memory of the process a child was spawned from
in the child's ru_maxrss (exec records the old image's high-water mark), so a
child of the harness, which holds results, would report at least the harness's
size. This wrapper is small (a bare interpreter, only `os`, `sys`, `time` and
`json`), so what it reports is the command's own peak, or this wrapper's few MiB
when the command is smaller. The command's stdout goes to /dev/null; its stderr
passes through.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    discard = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=discard)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    report = {
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
    }
    print(json.dumps(report))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
