"""A SoftHSM2 token of the run's own, for the contenders whose intermediate key is in it.

The harness makes its own token store (SOFTHSM2_CONF and a token directory under the
work dir, deleted with it): nothing of the user's tokens is read or touched. Each
fresh apply makes a new key under a label of its own (`label`), so rounds never find
an earlier round's key. Standard library only: the harness does not import pkiform.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from measure import BenchError
from specs import HSM_PIN_ENV, HSM_TOKEN

# where Debian (and Ubuntu, Fedora's x86_64 build) put the module; as tests/helpers/softhsm.py
MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
)
_PIN, _SO_PIN = "1234", "5678"


@dataclass(frozen=True, slots=True)
class SoftHsm:
    """A token HSM_TOKEN (user PIN in HSM_PIN_ENV) and the environment pkiform finds it
    with; specs.token_key_yaml names a key in it."""

    env: Mapping[str, str]  # SOFTHSM2_CONF, PKCS11_MODULE and the PIN, to add to a run's
    _labels: itertools.count[int] = field(default_factory=itertools.count)

    def label(self, stem: str) -> str:
        """A key label no earlier call gave: `stem-1`, `stem-2`, ..."""
        return f"{stem}-{next(self._labels) + 1}"


def missing() -> str | None:
    """What keeps the SoftHSM2 contenders from running here, with its fix; None if nothing."""
    # pkiform runs on this interpreter (contenders.PKIFORM): its binding must be here too
    if importlib.util.find_spec("pkcs11") is None:
        return "python-pkcs11 is not installed (pip install 'pkiform[pkcs11]')"
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util is not installed (apt-get install softhsm2)"
    if _module() is None:
        return f"libsofthsm2.so is in none of {', '.join(MODULES)} (apt-get install softhsm2)"
    return None


def _module() -> str | None:
    return next((m for m in MODULES if Path(m).is_file()), None)


def make(directory: Path) -> SoftHsm:
    """A token store in `directory` holding one new, empty token; see `missing` first."""
    module = _module()
    assert module is not None, "hsm.missing() says why"
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = {"SOFTHSM2_CONF": str(conf), "PKCS11_MODULE": module, HSM_PIN_ENV: _PIN}
    init = ["softhsm2-util", "--init-token", "--free", "--label", HSM_TOKEN]
    done = subprocess.run(
        [*init, "--pin", _PIN, "--so-pin", _SO_PIN],
        env={**os.environ, "SOFTHSM2_CONF": env["SOFTHSM2_CONF"]},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"{' '.join(init)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return SoftHsm(env)
