"""The errors of the token layer: each a PkiformError whose message names the key's URI
(its canonical form, which never holds a PIN) and says what to do."""

from __future__ import annotations

import re

from pkiform.errors import PkiformError
from pkiform.spec.model import KeySpec
from pkiform.spec.token_uri import PKCS11_EXTRA as PKCS11_EXTRA  # re-exported


class TokenError(PkiformError):
    """A problem with a token or a key in it: `str()` is `URI: reason`; `.uri` and
    `.reason` apart, for a caller that names the URI itself."""

    def __init__(self, uri: str, reason: str) -> None:
        self.uri = uri
        self.reason = reason
        super().__init__(f"{uri}: {reason}")


class Pkcs11Missing(TokenError):
    """python-pkcs11, the optional dependency, is not installed."""


class ModuleError(TokenError):
    """No PKCS#11 module was named, or the file named is missing or not a module."""


class TokenNotFound(TokenError):
    """No initialised token matches the URI, or more than one does."""


class WrongPin(TokenError):
    """The token refused the PIN."""


class TokenLocked(TokenError):
    """The token's user PIN is locked (too many wrong PINs) or was never set."""


class KeyNotFound(TokenError):
    """No private key in the token matches the URI."""


class KeyAmbiguous(TokenError):
    """More than one private (or public) key matches the URI."""


class KeyMismatch(TokenError):
    """The key exists, but its type, size or curve is not the spec's."""

    def __init__(self, uri: str, reason: str, *, found: KeySpec, wanted: KeySpec) -> None:
        super().__init__(uri, reason)
        self.found = found
        self.wanted = wanted


class KeyCannotSign(TokenError):
    """The key's CKA_SIGN is false."""


class KeyUnusable(TokenError):
    """The key cannot serve as a CA key: a type pkiform does not sign with, no public key
    object, or a public key object that does not match it."""


class KeyExists(TokenError):
    """A key pkiform was asked to create already exists: it is never overwritten."""


class KeyInterrupted(TokenError):
    """An interrupted key generation or rekey left the label in between: recover() first."""


class KeyNotProtected(TokenError):
    """The token made a key that is extractable or not sensitive, against the template."""


class GenerationUnsupported(TokenError):
    """The token cannot generate a key pair of the spec's type, size or curve."""


class SigningError(TokenError):
    """The token failed in the middle of a signature."""


class NotExportable(TokenError):
    """Something asked a token key for its private value, which never leaves the token."""


class TokenFailure(TokenError):
    """Any other PKCS#11 failure, named by its CKR_ code."""


def ckr_name(error: BaseException) -> str:
    """python-pkcs11's exception as the PKCS#11 return value it stands for
    (`PinIncorrect` -> `CKR_PIN_INCORRECT`), the name a token's manual uses."""
    name = type(error).__name__
    if name == "PKCS11Error":
        return str(error) or "a PKCS#11 error"
    return "CKR_" + re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()
