"""A SoftHSM2 token store of the test session's own, under a temporary SOFTHSM2_CONF.

The `softhsm` fixture initialises token 'pki' (user PIN 1234) once per session; tests
give their keys labels of their own (`softhsm.label(request)`), so they share it without
meeting. `softhsm.store(name)` makes a separate store, for a test that needs tokens in a
state the shared one must not take (a locked PIN, twin labels).
"""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pkiform.spec.token_uri import TokenUri, parse_token_uri
from tests.helpers.tools import missing_tool, require_tool

# where Debian (and Ubuntu, Fedora's x86_64 build) put the module
MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
)
PIN = b"1234"
SO_PIN = "5678"
_COUNTER = itertools.count()


@dataclass(frozen=True)
class SoftHsm:
    module: str
    util: Path
    conf: Path
    token: str = "pki"

    def uri(self, label: str, *, id: str = "", token: str | None = None) -> TokenUri:
        """The URI of key `label` in this store's token, with the module's path."""
        ident = f";id={id}" if id else ""
        text = f"pkcs11:token={token or self.token};object={label}{ident}"
        return parse_token_uri(f"{text}?module-path={self.module}")

    def label(self, request: pytest.FixtureRequest) -> str:
        """A key label no other test uses: the test's name, made URI-safe, and a number."""
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:48]
        return f"{name}-{next(_COUNTER)}"

    def init_token(self, label: str) -> None:
        """A new token `label` in this store (user PIN 1234)."""
        pins = ("--pin", PIN.decode(), "--so-pin", SO_PIN)
        subprocess.run(
            [self.util, "--init-token", "--free", "--label", label, *pins],
            check=True,
            capture_output=True,
            env={"SOFTHSM2_CONF": str(self.conf), "PATH": "/usr/bin:/bin"},
        )

    def store(self, directory: Path) -> SoftHsm:
        """Another, empty token store in `directory`: point SOFTHSM2_CONF at its conf to
        use it (the module reads the variable at each initialisation)."""
        return make_store(directory, self.module, self.util)


def make_store(directory: Path, module: str, util: Path) -> SoftHsm:
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    return SoftHsm(module=module, util=util, conf=conf)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """Token 'pki' in a fresh store, with SOFTHSM2_CONF pointing at it for the session."""
    util = require_tool("softhsm2-util", "softhsm2")
    module = next((m for m in MODULES if Path(m).is_file()), None)
    if module is None:
        missing_tool("libsofthsm2.so", "apt-get install softhsm2")
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        missing_tool("python-pkcs11", "pip install -e '.[test]'")
    assert module is not None
    hsm = make_store(tmp_path_factory.mktemp("softhsm"), module, util)
    hsm.init_token(hsm.token)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(hsm.conf))
        yield hsm
