"""The suite's warning filter: pkiform's own warnings fail a test, a test tool's do not."""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module: str) -> None:
    warnings.warn_explicit(
        "deprecated", DeprecationWarning, filename=f"{module}.py", lineno=1, module=module
    )


@pytest.mark.parametrize("module", ["pkiform.x509.keys", "pkiform.commands.plan", "tests.test_api"])
def test_a_warning_from_pkiform_or_its_tests_is_an_error(module: str) -> None:
    with pytest.raises(DeprecationWarning):
        _warn_from(module)


def test_a_warning_from_pkilint_is_shown_not_raised() -> None:
    # the filters pyproject.toml sets are in force here; record=True only captures
    with warnings.catch_warnings(record=True) as caught:
        _warn_from("pkilint.pkix.key")
    assert [str(w.message) for w in caught] == ["deprecated"]
