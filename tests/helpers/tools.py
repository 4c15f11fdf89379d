"""The independent verifiers the tests run: found, skipped or failed when missing, run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

STRICT = os.environ.get("PKIFORM_TEST_STRICT") == "1"


def missing_tool(what: str, how: str) -> None:
    """A verifier a test needs is not installed: skip on a developer's machine, fail in
    CI (PKIFORM_TEST_STRICT=1, set by .ci/run, which installs every one of them)."""
    message = f"{what} is not installed ({how})"
    if STRICT:
        pytest.fail(f"{message}; .ci/run installs it", pytrace=False)
    pytest.skip(message)


def require_tool(name: str, package: str) -> Path:
    """The path of program `name`, from Debian package `package` (.ci/system-packages)."""
    found = shutil.which(name)
    if found is None:
        missing_tool(name, f"apt-get install {package}")
    return Path(str(found))


def openssl(*args: str | Path, input_: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.fail("openssl is required for the end-to-end tests")
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, input=input_, timeout=60, check=False
    )
