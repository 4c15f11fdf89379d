"""Passwords as data: read by the command layer, handed down, never shown.

A `Password` has no repr or str that reveals it, so one caught in an exception, a
log line or a dataclass repr prints as `Password(***)`. Messages name where a
password comes from (`environment variable P12_PASSWORD`), never what it is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

from pkiform.errors import Diagnostic, Location, SpecError
from pkiform.model import IdentityName, PasswordSource, Spec


class Password:
    """A password's bytes, kept out of every repr and message."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        """The bytes, for the one call that encrypts or decrypts with them."""
        return self._value

    def __repr__(self) -> str:
        return "Password(***)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Password is not pickled")


@dataclass(frozen=True, slots=True, kw_only=True)
class Passwords:
    """Every password the spec names: those read, and why the others could not be."""

    found: Mapping[PasswordSource, Password] = field(default_factory=dict)
    missing: Mapping[PasswordSource, str] = field(default_factory=dict)  # "is not set"

    def get(self, source: PasswordSource | None) -> Password | None:
        return None if source is None else self.found.get(source)

    def why_missing(self, source: PasswordSource) -> str:
        """`environment variable X is not set`: what to fix, naming the source."""
        return f"{source} {self.missing.get(source, 'was not read')}"


NO_PASSWORDS = Passwords()


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityPasswords:
    """The passwords that open one identity's files, where it has them."""

    key: Password | None = None
    pkcs12: Password | None = None
    truststore: Password | None = None


class PasswordError(SpecError):
    """A password the run needs is missing or wrong; located where the spec names it."""


def sources(spec: Spec) -> list[PasswordSource]:
    """Every password source of the spec, once each, at the first place it is written."""
    seen: dict[PasswordSource, PasswordSource] = {}
    for ident in spec.identities.values():
        for _, source in _sources_of(spec, ident.name):
            seen.setdefault(source, source)
    return list(seen.values())


def _sources_of(spec: Spec, name: IdentityName) -> Iterator[tuple[str, PasswordSource]]:
    ident = spec.identities[name]
    if ident.key_password is not None:
        yield "key", ident.key_password
    for what, output in (
        ("pkcs12", ident.outputs.pkcs12),
        ("truststore", ident.outputs.truststore),
    ):
        if output is not None:
            yield what, output.password


def by_identity(spec: Spec, passwords: Passwords) -> dict[IdentityName, IdentityPasswords]:
    """For each identity with encrypted files, the passwords that open them (when read)."""
    out = {}
    for name in spec.identities:
        found = {what: passwords.get(source) for what, source in _sources_of(spec, name)}
        if found:
            out[name] = IdentityPasswords(**found)
    return out


def diagnostic(source: PasswordSource, message: str) -> Diagnostic:
    """An error located where the spec names the password source."""
    loc = source.loc or Location(file="<spec>", line=1, col=1)
    return Diagnostic(loc=loc, path=source.path, message=message)


def require_upfront(spec: Spec, passwords: Passwords, *, new: Collection[str]) -> None:
    """Raise PasswordError for every missing password that plan and apply need whatever is
    on disk: those of the PKCS#12 outputs (to check and write them), and those of the
    encrypted keys of the `new` identities (no folder yet: their keys are made now).
    Called before anything is written, so a missing variable leaves no trace."""
    needs: dict[PasswordSource, list[str]] = {}
    for name, ident in spec.identities.items():
        if ident.revoked is not None:
            continue  # frozen: nothing of it is read or written
        for what, source in _sources_of(spec, name):
            if source in passwords.found or (what == "key" and name not in new):
                continue
            needs.setdefault(source, []).append(
                f"to encrypt the new key of {name!r}"
                if what == "key"
                else f"to check and write the {_FILES[what]} of {name!r}"
            )
    if needs:
        raise PasswordError([missing(passwords, source, *why) for source, why in needs.items()])


def missing(passwords: Passwords, source: PasswordSource, need: str, *more: str) -> Diagnostic:
    """`environment variable X is not set; needed to ...`, at the source, once for all uses."""
    others = f" (and {len(more)} more)" if more else ""
    return diagnostic(source, f"{passwords.why_missing(source)}; needed {need}{others}")


_FILES = {"pkcs12": "bundle.p12", "truststore": "truststore.p12"}
