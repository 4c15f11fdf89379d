"""pytest plugin: the `pkiform` fixture, a PKI issued once per test session.

    def test_handshake(pkiform):
        pki = pkiform("examples/mtls.yaml")        # a path, YAML text, or a dict
        context = pki["web"].server_context()

Registered through the `pytest11` entry point, so installing pkiform is enough. pkiform
itself (and cryptography) is imported only when a test asks for a PKI.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pkiform.api import PKI, Spec

SpecSource = str | Path | Mapping[str, Any]


class PKIFactory:
    """Issues each distinct spec once per session, into its own temporary directory."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._issued: dict[str, PKI] = {}

    def __call__(self, spec: SpecSource, *, at: datetime | None = None) -> PKI:
        """The PKI `spec` describes: a Path or a str naming a .yaml/.yml file, other
        text as YAML, or a dict. A bad spec fails the test with every problem listed."""
        from pkiform.errors import SpecError, diagnostics_text

        try:
            loaded, content = _load(spec)
        except SpecError as e:
            pytest.fail(f"pkiform: invalid spec\n{diagnostics_text(e.diagnostics)}", False)
        key = hashlib.sha256(json.dumps([content, at and at.isoformat()]).encode()).hexdigest()
        if key not in self._issued:
            out = self._tmp_path_factory.mktemp("pkiform")
            self._issued[key] = loaded.apply(out, at=at).pki
        return self._issued[key]


def _load(spec: SpecSource) -> tuple[Spec, str]:
    """The checked spec and the text that identifies it in the session cache."""
    from pkiform import api

    if isinstance(spec, Mapping):
        return api.from_dict(spec), json.dumps(spec, sort_keys=True, default=str)
    if isinstance(spec, Path) or spec.endswith((".yaml", ".yml")):
        path = Path(spec)
        return api.load(path), f"{path.resolve()}\n{path.read_text()}"
    return api.loads(spec, file="<pkiform fixture>"), spec


@pytest.fixture(scope="session")
def pkiform(tmp_path_factory: pytest.TempPathFactory) -> PKIFactory:
    """A factory: `pkiform(spec)` issues the spec (once per session) and returns its
    identities: `pki["web"].cert`, `.key_pem`, `.server_context()`, `.client_context()`."""
    return PKIFactory(tmp_path_factory)
