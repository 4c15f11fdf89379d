"""Shared fixtures: an in-process CLI runner, spec writing, and a guard against stray writes."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pkiform.cli import main
from tests.processes import spawn  # noqa: F401  (a fixture: registered for every test)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# every key type of design.md §1, as a spec writes it
KEY_TYPES: dict[str, dict[str, Any]] = {
    "rsa2048": {"type": "rsa", "size": 2048},
    "rsa3072": {"type": "rsa", "size": 3072},
    "rsa4096": {"type": "rsa", "size": 4096},
    "p256": {"type": "ec", "curve": "P-256"},
    "p384": {"type": "ec", "curve": "P-384"},
    "p521": {"type": "ec", "curve": "P-521"},
    "ed25519": {"type": "ed25519"},
    "ed448": {"type": "ed448"},
}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


RunCli = Callable[..., Result]


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory, so the default ./pki never lands in the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _no_colour_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs are compared byte for byte: a FORCE_COLOR or NO_COLOR set where the tests
    run (some CI services set FORCE_COLOR) must not change them. Tests of colour set them."""
    for name in ("FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fixed_now() -> datetime:
    return datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def invoke(*argv: str | Path) -> Result:
    """Run pkiform in-process: invoke("plan", "spec.yaml") -> Result(code, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def run_cli() -> RunCli:
    """`invoke` as a fixture: run_cli("plan", "spec.yaml") -> Result(code, out, err)."""
    return invoke


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """write_spec(text, name="spec.yaml") -> the path of a spec file in the test's directory."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def leaf_lines(names: Sequence[str], *, client_every: int, domain: str) -> list[str]:
    """Spec lines for leaves under `issuing`: a client at every index divisible by
    `client_every`, elsewhere a server named NAME.DOMAIN (big PKIs for the crash tests)."""
    return [
        f"  {name}: {{kind: client, issuer: issuing}}"
        if i % client_every == 0
        else f"  {name}: {{kind: server, issuer: issuing, dns: [{name}.{domain}]}}"
        for i, name in enumerate(names)
    ]


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


def apply_quietly(spec: Path, out: Path) -> Path:
    """apply in this process, for fixtures that build PKIs to test: it must succeed."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["apply", str(spec), "-o", str(out)], stdout=stdout, stderr=stderr)
    assert code == 0, stderr.getvalue()
    return out


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file below `directory`: bytes, mtime (ns) and mode, to prove nothing changed."""
    found = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            st = path.stat()
            found[str(path.relative_to(directory))] = (
                path.read_bytes(),
                st.st_mtime_ns,
                st.st_mode,
            )
    return found


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


ApplySpec = Callable[[str], tuple[Path, Path]]


@pytest.fixture
def applied(run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path) -> ApplySpec:
    """applied(text) -> (spec file, output directory), after a first apply that succeeded."""

    def apply(text: str) -> tuple[Path, Path]:
        spec = write_spec(text)
        out = tmp_path / "pki"
        assert run_cli("apply", spec, "-o", out).code == 0
        return spec, out

    return apply


@pytest.fixture
def apply_example(run_cli: RunCli, tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """apply_example("mtls") -> the output directory of applying examples/mtls.yaml."""

    def apply(name: str) -> Path:
        out = tmp_path / f"pki-{name}"
        result = run_cli("apply", EXAMPLES / f"{name}.yaml", "-o", out)
        assert result.code == 0, result.err
        return out

    yield apply
