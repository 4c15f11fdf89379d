"""The machine and software a benchmark ran on, for the record beside its numbers."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend


def describe(work: Path) -> dict[str, str]:
    """Name → value: date, CPUs, memory, OS, Python and crypto versions, file system."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cryptography": f"{cryptography.__version__} ({backend.openssl_version_text()})",
        "openssl CLI": _output(["openssl", "version"]),
        "work dir": f"{work} ({_filesystem(work)})",
        # other work on a shared machine shows here, and in wide min–max ranges
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _proc_field(path: str, field: str) -> str | None:
    """The value of the first `field: value` line of a /proc file."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == field:
            return value.strip()
    return None


def _memory() -> str:
    total = _proc_field("/proc/meminfo", "MemTotal")  # "24684096 kB"
    return f"{int(total.split()[0]) / 2**20:.1f} GiB" if total else "unknown"


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def _filesystem(path: Path) -> str:
    """The file system type of the mount holding `path` (fsync costs depend on it)."""
    target = str(path.resolve())
    best, kind = "", "unknown"
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, fstype
    return kind
