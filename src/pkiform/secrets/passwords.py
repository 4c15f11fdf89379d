"""Passwords as data: read by the command layer, handed down, never shown.

A `Password` has no repr or str that reveals it, so one caught in an exception, a
log line or a dataclass repr prints as `Password(***)`. Messages name where a
password comes from (`environment variable P12_PASSWORD`), never what it is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import TypeVar

from pkiform.errors import Diagnostic, Location, PkiformError, SpecError
from pkiform.layout import BUNDLE, TRUSTSTORE
from pkiform.spec.model import IdentityName, PasswordSource, ResolvedSpec

# cryptography's OpenSSL backend encrypts a PEM key with at most 1023 bytes of password,
# and `openssl ... -passin file:` reads no more (apps/lib/apps.c, APP_PASS_LEN - 1)
MAX_PASSWORD_BYTES = 1023
UTF8_HINT = "a password must be UTF-8 text (encode a binary secret, e.g. with base64)"


def password_problem(value: bytes) -> str | None:
    """Why these bytes cannot be a password (`is empty`, `holds a NUL byte; ...`), or
    None. Never quotes them. A NUL ends a C string: cryptography panics on one in a
    PKCS#12 password, and its panic spells the whole password out."""
    if not value:
        return "is empty"
    if b"\0" in value:
        return "holds a NUL byte; a password must be text"
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:  # its message quotes the byte: not kept
        return f"is not valid UTF-8; {UTF8_HINT}"
    if len(value) > MAX_PASSWORD_BYTES:
        return f"is longer than {MAX_PASSWORD_BYTES} bytes, the most OpenSSL reads"
    return None


class Password:
    """A password's bytes, kept out of every repr and message; checked when made, so
    that none pkiform holds can trip up the library it is handed to."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        problem = password_problem(value)
        if problem is not None:
            raise ValueError(problem)
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
    pin: Password | None = None  # the token's, for a key in a PKCS#11 token
    pkcs12: Password | None = None
    truststore: Password | None = None


class PasswordError(SpecError):
    """A password the run needs is missing or wrong; located where the spec names it."""

    spec_valid = True


class SecretError(PkiformError):
    """A library failed while it held a password or a private key. Its own message is
    withheld: it may quote what it was given."""


T = TypeVar("T")


def guard(
    call: Callable[[], T],
    *,
    path: str | PathLike[str],
    doing: str,
    passwords: Iterable[bytes | None] = (),
    keep: tuple[type[BaseException], ...] = (),
) -> T:
    """`call()`, a library call that handles a secret: whatever it raises, but `keep`,
    pkiform's own errors, KeyboardInterrupt and SystemExit, becomes a SecretError naming
    `path` and what was being done (`opening the bundle.p12 of 'web'`), never the
    library's message. A Rust panic in cryptography is a BaseException, past every
    `except Exception`, and spells its arguments out; it also reports them on stderr
    before Python sees it, so the `passwords` the call takes are checked first and a
    bad one is never handed over."""
    for password in passwords:
        problem = password_problem(password) if password is not None else None
        if problem is not None:
            reason = problem.split(";")[0]
            raise SecretError(
                f"{path}: refusing to hand the cryptography library a password that "
                f"{reason} while {doing}"
            )
    passing: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, PkiformError, *keep)
    try:
        return call()
    except passing:
        raise
    except BaseException as e:  # a panic from native code is one
        failure = type(e).__name__
    # raised outside the handler: no __context__ keeps the library's exception (and its
    # message) for a traceback to print
    raise SecretError(
        f"{path}: failed with {failure} while {doing}; its message is not shown: it may "
        "hold the secret"
    )


def sources(spec: ResolvedSpec) -> list[PasswordSource]:
    """Every password source of the spec, once each, at the first place it is written."""
    seen: dict[PasswordSource, PasswordSource] = {}
    for ident in spec.identities.values():
        for _, source in _sources_of(spec, ident.name):
            seen.setdefault(source, source)
    return list(seen.values())


def _sources_of(spec: ResolvedSpec, name: IdentityName) -> Iterator[tuple[str, PasswordSource]]:
    yield from spec.identities[name].password_sources()


def by_identity(spec: ResolvedSpec, passwords: Passwords) -> dict[IdentityName, IdentityPasswords]:
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


def require_upfront(
    spec: ResolvedSpec, passwords: Passwords, *, new: Collection[str], pins: bool = True
) -> None:
    """Raise PasswordError for every missing password that plan and apply need whatever is
    on disk: those of the PKCS#12 outputs (to check and write them), the PINs of tokens
    that hold CA keys (to find and check the key; unless not `pins`: a plan that leaves
    the keys to apply), and those of the encrypted keys of the `new` identities (no folder
    yet: their keys are made now).
    Called before anything is written, so a missing variable leaves no trace."""
    needs: dict[PasswordSource, list[str]] = {}
    for name, ident in spec.identities.items():
        if ident.revoked is not None:
            continue  # frozen: nothing of it is read or written
        for what, source in _sources_of(spec, name):
            if source in passwords.found or (what == "key" and name not in new):
                continue
            if what == "pin" and not pins:
                continue
            needs.setdefault(source, []).append(_need(what, name))
    if needs:
        raise PasswordError([missing(passwords, source, *why) for source, why in needs.items()])


def _need(what: str, name: str) -> str:
    if what == "key":
        return f"to encrypt the new key of {name!r}"
    if what == "pin":
        return f"to open the token that holds the key of {name!r}"
    return f"to check and write the {_FILES[what]} of {name!r}"


def missing(passwords: Passwords, source: PasswordSource, need: str, *more: str) -> Diagnostic:
    """`environment variable X is not set; needed to ...`, at the source, once for all uses."""
    others = f" (and {len(more)} more)" if more else ""
    return diagnostic(source, f"{passwords.why_missing(source)}; needed {need}{others}")


_FILES = {"pkcs12": BUNDLE, "truststore": TRUSTSTORE}
