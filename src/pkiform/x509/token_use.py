"""The CA keys of one run that live in PKCS#11 tokens: opened once, found, made, replaced.

    with TokenKeys(spec, pins, module_env=environ.get("PKCS11_MODULE")) as tokens:
        tokens.recover(now)                  # apply: finish what a crash interrupted
        found = tokens.find()                # name -> TokenFound, before planning
        key = tokens.make(name, now)         # apply: a new key pair in the token
        key.private_key                      # what certificates, CRLs and OCSP are signed with

python-pkcs11 is imported only when a spec names a token key (token_session.login).
Every error names the identity and its URI, never the PIN; a key of another type than
the spec's is a located spec error (a mismatch is never a reason for a new key).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import ParamSpec, TypeVar

from pkiform.errors import Diagnostic, PkiformError, SpecError
from pkiform.secrets.passwords import Password, guard
from pkiform.spec.model import IdentityName, ResolvedSpec, TokenKey
from pkiform.spec.token_uri import TokenUri, parse_token_uri
from pkiform.x509 import token_changes, token_recovery
from pkiform.x509.token_errors import KeyMismatch, TokenError
from pkiform.x509.token_keys import TokenKey as FoundKey
from pkiform.x509.token_keys import check_spec, find_key
from pkiform.x509.token_session import TokenRun, TokenSession


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenFound:
    """What the token holds for one identity: its key, if there is one, and whether a
    crashed run left a key change unfinished there."""

    uri: TokenUri
    key: FoundKey | None
    interrupted: bool = False


P = ParamSpec("P")
T = TypeVar("T")


def token_keys(spec: ResolvedSpec) -> dict[IdentityName, TokenKey]:
    """The identities whose key the spec puts in a token."""
    return {
        n: i.key_source for n, i in spec.identities.items() if isinstance(i.key_source, TokenKey)
    }


class TokenKeys:
    """The token keys of a spec, for one run: one login per token, closed at the end."""

    def __init__(
        self,
        spec: ResolvedSpec,
        pins: Mapping[IdentityName, Password | None],
        *,
        module_env: str | None,
    ) -> None:
        self._keys = token_keys(spec)
        self._specs = {n: spec.identities[n].key for n in self._keys}
        self._pins = pins
        self._run = TokenRun(module_env=module_env)
        self._sessions: dict[IdentityName, TokenSession] = {}
        self._found: dict[IdentityName, FoundKey] = {}

    def __enter__(self) -> TokenKeys:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._run.close()

    def __bool__(self) -> bool:
        return bool(self._keys)

    def where(self, name: IdentityName) -> str:
        """Where the identity's key lives, for messages (no PIN, ever)."""
        return f"the token {parse_token_uri(self._keys[name].uri).canonical}"

    @property
    def names(self) -> Collection[IdentityName]:
        return self._keys.keys()

    def find(
        self, *, rekey: Collection[str] = (), pinned_only: bool = False
    ) -> dict[IdentityName, TokenFound]:
        """Every token key of the spec as the token holds it now (`pinned_only`: those
        whose PIN was read; status checks what it can open). A key of another type than
        the spec asks for is a SpecError at its `key.pkcs11`, unless `rekey` names it (a
        new key of the spec's type replaces it)."""
        found: dict[IdentityName, TokenFound] = {}
        mismatched: list[Diagnostic] = []
        for name in self._keys:
            if pinned_only and self._pins.get(name) is None:
                continue
            uri, session = self._open(name)
            if self._call(name, token_recovery.interrupted, session, uri):
                found[name] = TokenFound(uri=uri, key=None, interrupted=True)
                continue
            key = self._call(name, find_key, session, uri)
            if key is not None:
                try:
                    check_spec(key, self._specs[name])
                except KeyMismatch as e:
                    if name not in rekey:
                        mismatched.append(self._mismatch(name, e))
                        continue
                self._found[name] = key
            found[name] = TokenFound(uri=uri, key=key)
        if mismatched:
            raise SpecError(mismatched)
        return found

    def recover(self, now: datetime) -> list[str]:
        """Finish or set aside what a crashed run left in the tokens; what was done."""
        done = []
        for name in self._keys:
            uri, session = self._open(name)
            outcome = self._call(name, token_recovery.recover, session, uri, now=now)
            if outcome is not None:
                done.append(f"{name}: {outcome.message}")
        return done

    def make(self, name: IdentityName, now: datetime) -> FoundKey:
        """A new key pair for `name` in its token: generated where there is none, a rekey
        (the old key kept under another label) where there is one."""
        uri, session = self._open(name)
        spec = self._specs[name]
        if name in self._found:
            key = self._call(name, token_changes.rekey, session, uri, spec, now=now)
        else:
            key = self._call(name, token_changes.generate_key, session, uri, spec, now=now)
        self._found[name] = key
        return key

    def replaced_by_pkiform(self, name: IdentityName, public_key: object) -> bool:
        """Whether `public_key` (a certificate's) is of the key a rekey by pkiform replaced
        in the token: its certificates were not yet written when that run stopped."""
        uri, session = self._open(name)
        label = self._call(name, token_recovery.replaced_label, session, uri, public_key)
        return label is not None

    def _open(self, name: IdentityName) -> tuple[TokenUri, TokenSession]:
        uri = parse_token_uri(self._keys[name].uri)  # checked when the spec was resolved
        session = self._sessions.get(name)
        if session is None:
            pin = self._pins.get(name)
            if pin is None:
                raise PkiformError(f"{name}: no PIN to open the token of {uri.canonical}")
            secret = pin.reveal()
            session = self._sessions[name] = guard(
                lambda: self._call(name, self._run.login, uri, secret),
                path=uri.canonical,
                doing=f"logging in to the token of {name!r}",
                passwords=[secret],
            )
        return uri, session

    def _call(
        self, name: IdentityName, action: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`action(*args)`, its TokenError said of the identity."""
        try:
            return action(*args, **kwargs)
        except TokenError as e:
            raise PkiformError(f"{name}: {e}") from None

    def _mismatch(self, name: IdentityName, error: KeyMismatch) -> Diagnostic:
        token = self._keys[name]
        loc = token.loc
        assert loc is not None
        return Diagnostic(
            loc=loc,
            path=f"identities.{name}.key.pkcs11",
            message=f"the token holds {error.found} for this key, and the spec asks for "
            f"{error.wanted}; pkiform never replaces a token key for it: correct the spec, "
            f"or pass --rekey {name} to make a new {error.wanted} key (the old one is kept)",
        )
