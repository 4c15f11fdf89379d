"""Read the passwords the spec names, from the environment and from files: the only place
pkiform reads a password. What cannot be read is recorded, not raised: the core decides
whether this run needs it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pkiform.model import PasswordSource, Spec
from pkiform.passwords import Password, Passwords, sources


def read_passwords(spec: Spec, base: Path, environ: Mapping[str, str] | None = None) -> Passwords:
    """Every password source of the spec: its password, or why there is none. Password
    files are found relative to `base`, the spec file's folder."""
    environ = os.environ if environ is None else environ
    found: dict[PasswordSource, Password] = {}
    missing: dict[PasswordSource, str] = {}
    for source in sources(spec):
        value, problem = _read(source, base, environ)
        if value is not None:
            found[source] = Password(value)
        else:
            missing[source] = problem
    return Passwords(found=found, missing=missing)


def read_password(
    source: PasswordSource, base: Path, environ: Mapping[str, str] | None = None
) -> Password | None:
    """One source's password, or None when it cannot be read: for a caller that needs
    only this one (no other source of the spec is touched)."""
    value, _ = _read(source, base, os.environ if environ is None else environ)
    return Password(value) if value is not None else None


def _read(
    source: PasswordSource, base: Path, environ: Mapping[str, str]
) -> tuple[bytes | None, str]:
    if source.env is not None:
        text = environ.get(source.env)
        if text is None:
            return None, "is not set"
        value = os.fsencode(text)
    else:
        assert source.file is not None
        try:
            value = (base / source.file).read_bytes()
        except OSError as e:
            return None, f"cannot be read: {e.strerror}"
        # `echo secret > file` ends it with a newline that is no part of the password
        value = value.removesuffix(b"\n").removesuffix(b"\r")
    if not value:
        return None, "is empty"
    return value, ""
