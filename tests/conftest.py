"""Fixtures only: an in-process CLI runner, spec writing, applied PKIs, and a guard against
stray writes. What tests share besides fixtures lives in tests/helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers.java import all_javas, java, pkix_classes  # noqa: F401  (fixtures, likewise)
from tests.helpers.processes import spawn  # noqa: F401  (a fixture: registered for every test)
from tests.helpers.repo import EXAMPLES
from tests.helpers.run import ApplySpec, RunCli, invoke


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
