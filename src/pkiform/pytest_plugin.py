"""pytest plugin: the `pkiform` fixture, a PKI issued once per test session.

    def test_handshake(pkiform):
        pki = pkiform("examples/mtls.yaml")        # a path, YAML text, or a dict
        context = pki["web"].server_context()

Registered through the `pytest11` entry point, so installing pkiform is enough. pkiform
itself (and cryptography) is imported only when a test asks for a PKI.
"""

from __future__ import annotations

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
        self._issued: dict[tuple[str, datetime | None, str], PKI] = {}

    def __call__(
        self, spec: SpecSource, *, at: datetime | None = None, base: str | Path | None = None
    ) -> PKI:
        """The PKI `spec` describes: a Path or a str naming a .yaml/.yml file, other
        text as YAML, or a dict. A bad spec fails the test with every problem listed.
        `base`: the folder the files text or a dict names (password files, csr, adopt) are
        relative to (default: the working directory; a file's are relative to its own)."""
        from pkiform.errors import SpecError, diagnostics_text

        key = (_content(spec), at, str(base))
        if key not in self._issued:  # a spec is checked once, like it is issued once
            try:
                loaded = _load(spec, base)
            except SpecError as e:
                pytest.fail(f"pkiform: invalid spec\n{diagnostics_text(e.diagnostics)}", False)
            out = self._tmp_path_factory.mktemp("pkiform")
            self._issued[key] = loaded.apply(out, at=at).pki
        return self._issued[key]


def _path(spec: SpecSource) -> Path | None:
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.endswith((".yaml", ".yml"))):
        return Path(spec)
    return None


def _content(spec: SpecSource) -> str:
    """What identifies a spec in the session cache: its text (and file), or its data."""
    if isinstance(spec, Mapping):
        return json.dumps(spec, sort_keys=True, default=str)
    path = _path(spec)
    return f"{path.resolve()}\n{path.read_text()}" if path else str(spec)


def _load(spec: SpecSource, base: str | Path | None) -> Spec:
    from pkiform import api

    if isinstance(spec, Mapping):
        return api.from_dict(spec, base=base)
    path = _path(spec)
    if path:
        return api.load(path)
    return api.loads(str(spec), file="<pkiform fixture>", base=base)


@pytest.fixture(scope="session")
def pkiform(tmp_path_factory: pytest.TempPathFactory) -> PKIFactory:
    """A factory: `pkiform(spec)` issues the spec (once per session) and returns its
    identities: `pki["web"].cert`, `.key_pem`, `.server_context()`, `.client_context()`."""
    return PKIFactory(tmp_path_factory)
