"""Opening tokens: one loaded PKCS#11 module per file and one logged-in session per token.

PKCS#11 logs in once per token per process (a second C_Login fails with
CKR_USER_ALREADY_LOGGED_IN), so sessions are kept in a registry that every TokenRun of
the process shares; the last run to end closes them and finalises the module. The PIN
is the caller's bytes, used for the one login and then kept only as a keyed digest, to
tell a second, different PIN for the same token.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from pkiform.spec.token_uri import TokenUri
from pkiform.x509.token_errors import (
    PKCS11_EXTRA,
    ModuleError,
    Pkcs11Missing,
    TokenFailure,
    TokenLocked,
    TokenNotFound,
    WrongPin,
    ckr_name,
)

if TYPE_CHECKING:
    import pkcs11
    from pkcs11 import Attribute, Mechanism, ObjectClass
    from pkcs11._pkcs11 import lib as Pkcs11Lib

_PIN_KEY = secrets.token_bytes(32)
_LOAD_ERROR = "OS exception while loading "


def require_pkcs11(uri: TokenUri) -> None:
    """Import python-pkcs11 (43-51 ms), only once a spec names a token; Pkcs11Missing
    naming the extra to install when it is not there."""
    try:
        import pkcs11  # noqa: F401
    except ImportError as e:
        raise Pkcs11Missing(
            uri.canonical, f"a key in a token needs python-pkcs11: {PKCS11_EXTRA}"
        ) from e


class TokenSession:
    """A logged-in session with one token: what the key functions search and change.

    Every change pkiform makes to a token goes through `set` and `generate_pair`."""

    def __init__(
        self, session: pkcs11.Session, token: pkcs11.Token, *, pin_digest: bytes, rw: bool
    ) -> None:
        self.session = session
        self.label = token.label
        self.mechanisms = frozenset(token.slot.get_mechanisms())
        self.rw = rw
        self.pin_digest = pin_digest
        self._token = token

    def objects(
        self, cls: ObjectClass, *, label: str | None = None, id: bytes | None = None
    ) -> list[pkcs11.Object]:
        """The objects of class `cls` with this label and id (either left out: any)."""
        import pkcs11

        attrs: dict[Attribute, object] = {pkcs11.Attribute.CLASS: cls}
        if label is not None:
            attrs[pkcs11.Attribute.LABEL] = label
        if id is not None:
            attrs[pkcs11.Attribute.ID] = id
        return list(self.session.get_objects(attrs))

    def set(self, obj: pkcs11.Object, attribute: Attribute, value: str | bytes) -> None:
        """One C_SetAttributeValue: atomic for one attribute, so the order of calls is
        what a crash can interrupt (token_rekey.py relies on it)."""
        obj[attribute] = value

    def generate_pair(
        self,
        key_type: pkcs11.KeyType,
        key_length: int | None,
        *,
        public: dict[Attribute, object],
        private: dict[Attribute, object],
    ) -> tuple[pkcs11.PublicKey, pkcs11.PrivateKey]:
        """One C_GenerateKeyPair storing both objects in the token."""
        import pkcs11

        return self.session.generate_keypair(
            key_type,
            key_length,
            store=True,
            capabilities=pkcs11.MechanismFlag.SIGN | pkcs11.MechanismFlag.VERIFY,
            public_template=public,
            private_template=private,
        )

    def mechanism_sizes(self, mechanism: Mechanism) -> tuple[int | None, int | None]:
        """The least and greatest key sizes the token gives for a mechanism."""
        info = self._token.slot.get_mechanism_info(mechanism)
        return info.min_key_length, info.max_key_length


@dataclass(slots=True)
class _Module:
    lib: Pkcs11Lib
    users: int = 0
    sessions: dict[tuple[int, bytes], TokenSession] = field(default_factory=dict)


_MODULES: dict[str, _Module] = {}


class TokenRun:
    """The tokens one run uses: `with TokenRun(module_env=...) as run: run.login(uri, pin)`.

    `module_env` is the PKCS11_MODULE the caller read (used when a URI names no
    module-path). Closing it closes the sessions and finalises the modules no other
    open TokenRun uses."""

    def __init__(self, *, module_env: str | None = None) -> None:
        self._module_env = module_env or None
        self._used: dict[str, _Module] = {}

    def __enter__(self) -> TokenRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def login(self, uri: TokenUri, pin: bytes) -> TokenSession:
        """The logged-in session with the token `uri` names, opened once per process."""
        require_pkcs11(uri)
        module = self._module(uri)
        token = _find_token(module.lib, uri)
        digest = hmac.new(_PIN_KEY, pin, hashlib.sha256).digest()
        key = (token.slot.slot_id, token.serial)
        opened = module.sessions.get(key)
        if opened is not None:
            if not hmac.compare_digest(opened.pin_digest, digest):
                raise WrongPin(
                    uri.canonical,
                    f"token {token.label!r} is open with another PIN in this process",
                )
            return opened
        opened = _login(token, uri, pin, digest)
        module.sessions[key] = opened
        return opened

    def close(self) -> None:
        """End this run's use of its modules: the last user logs out and finalises."""
        used, self._used = self._used, {}
        for path, module in used.items():
            module.users -= 1
            if module.users == 0:
                _MODULES.pop(path, None)
                _shut(module)

    def _module(self, uri: TokenUri) -> _Module:
        path = uri.module_path or self._module_env
        if path is None:
            raise ModuleError(
                uri.canonical,
                "no PKCS#11 module: add ?module-path=/path/to/module.so to the URI "
                "or set PKCS11_MODULE",
            )
        real = os.path.realpath(path)
        module = self._used.get(real)
        if module is None:
            module = _MODULES.get(real)
            if module is None:
                module = _MODULES[real] = _load(uri, path)
            module.users += 1
            self._used[real] = module
        return module


def _load(uri: TokenUri, path: str) -> _Module:
    import pkcs11

    if not Path(path).exists():
        raise ModuleError(uri.canonical, f"PKCS#11 module {path!r} does not exist")
    if Path(path).is_dir():
        raise ModuleError(uri.canonical, f"PKCS#11 module {path!r} is a directory, not a file")
    try:
        return _Module(lib=pkcs11.lib(os.path.realpath(path)))
    except pkcs11.PKCS11Error as e:
        text = str(e)
        if text.startswith(_LOAD_ERROR):  # dlopen or dlsym refused it: dlerror's text
            why = text[len(_LOAD_ERROR) :].partition(": ")[2]
            raise ModuleError(uri.canonical, f"{path!r} is not a PKCS#11 module ({why})") from e
        raise ModuleError(
            uri.canonical, f"PKCS#11 module {path!r} failed to initialise ({ckr_name(e)})"
        ) from e


def _shut(module: _Module) -> None:
    import pkcs11

    # best effort: C_Finalize ends every session anyway, and nothing is left to undo
    for session in module.sessions.values():
        with contextlib.suppress(pkcs11.PKCS11Error):
            session.session.close()
    with contextlib.suppress(pkcs11.PKCS11Error):
        module.lib.finalize()


_TOKEN_FIELDS = (
    ("token", "label"),
    ("manufacturer", "manufacturer_id"),
    ("serial", "serial"),
    ("model", "model"),
)


def _find_token(lib: Pkcs11Lib, uri: TokenUri) -> pkcs11.Token:
    import pkcs11

    try:
        tokens = [slot.get_token() for slot in lib.get_slots(token_present=True)]
    except pkcs11.PKCS11Error as e:
        raise TokenFailure(uri.canonical, f"listing the tokens failed ({ckr_name(e)})") from e
    ready = [t for t in tokens if t.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED]
    matches = [t for t in ready if _matches(t, uri)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        seen = ", ".join(repr(t.label) for t in ready) or "none"
        raise TokenNotFound(
            uri.canonical, f"no token matches {_selector(uri)} (initialised tokens: {seen})"
        )
    listed = ", ".join(f"{t.label!r} (serial {_serial(t)})" for t in matches)
    raise TokenNotFound(
        uri.canonical,
        f"{len(matches)} tokens match {_selector(uri)}: {listed}; add serial=... to the URI",
    )


def _matches(token: pkcs11.Token, uri: TokenUri) -> bool:
    if uri.slot_id is not None and token.slot.slot_id != uri.slot_id:
        return False
    for attribute, field_name in _TOKEN_FIELDS:
        wanted = getattr(uri, attribute)
        have = _serial(token) if field_name == "serial" else getattr(token, field_name)
        if wanted is not None and have != wanted:
            return False
    return True


def _serial(token: pkcs11.Token) -> str:
    return token.serial.decode("ascii", "replace")


def _selector(uri: TokenUri) -> str:
    given = [
        f"{name}={value!r}"
        for name, value in (
            ("token", uri.token),
            ("manufacturer", uri.manufacturer),
            ("serial", uri.serial),
            ("model", uri.model),
            ("slot-id", uri.slot_id),
        )
        if value is not None
    ]
    return " and ".join(given) if given else "the URI (which names no token)"


def _login(token: pkcs11.Token, uri: TokenUri, pin: bytes, digest: bytes) -> TokenSession:
    import pkcs11

    name = f"token {token.label!r}"
    flags = token.flags
    if flags & pkcs11.TokenFlag.USER_PIN_LOCKED:
        raise TokenLocked(uri.canonical, f"the user PIN of {name} is locked: {_UNLOCK}")
    try:
        text = pin.decode("utf-8")  # python-pkcs11 takes the PIN as text
    except UnicodeDecodeError:
        raise WrongPin(uri.canonical, f"the PIN for {name} is not UTF-8 text") from None
    rw = True
    try:
        try:
            session = token.open(rw=True, user_pin=text)
        except pkcs11.TokenWriteProtected:
            rw = False  # signing needs no write access; generating a key says so
            session = token.open(rw=False, user_pin=text)
    except pkcs11.UserAlreadyLoggedIn:
        # logged in by code outside TokenRun in this process: the login holds for us too
        session = token.open(rw=rw)
    except pkcs11.PinIncorrect as e:
        raise WrongPin(uri.canonical, f"{name} refused the PIN{_tries_left(token)}") from e
    except pkcs11.PinLenRange as e:
        raise WrongPin(uri.canonical, f"{name} refused the PIN: its length is out of range") from e
    except pkcs11.PinLocked as e:
        raise TokenLocked(uri.canonical, f"the user PIN of {name} is locked: {_UNLOCK}") from e
    except pkcs11.UserPinNotInitialized as e:
        raise TokenLocked(uri.canonical, f"{name} has no user PIN yet: {_UNLOCK}") from e
    except pkcs11.PKCS11Error as e:
        raise TokenFailure(uri.canonical, f"logging in to {name} failed ({ckr_name(e)})") from e
    return TokenSession(session, token, pin_digest=digest, rw=rw)


_UNLOCK = "set a new one with the SO PIN (e.g. pkcs11-tool --init-pin --login --login-type so)"


def _tries_left(token: pkcs11.Token) -> str:
    import pkcs11

    try:
        flags = token.slot.get_token().flags  # the flags as the failed login left them
    except pkcs11.PKCS11Error:
        return ""
    if flags & pkcs11.TokenFlag.USER_PIN_FINAL_TRY:
        return " (one more wrong PIN locks it)"
    return ""
