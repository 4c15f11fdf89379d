"""RFC 7512 `pkcs11:` URIs: the name of a key in a PKCS#11 token, parsed into a TokenUri.

A URI has path attributes that select the token and the object (`token=pki;object=
root-ca;id=%01`) and query attributes that say how to reach it (`?module-path=/usr/lib/
softhsm/libsofthsm2.so&pin-source=file:/run/pin`). pkiform refuses `pin-value` (a PIN
never sits in a spec), attributes it does not act on, and malformed ones, each with a
message the caller turns into a located spec error. A TokenUri never holds a PIN, so
`str()` of one is safe to print and `canonical` is what a manifest records.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import string
from dataclasses import dataclass

from pkiform.errors import PkiformError

# what installs python-pkcs11, the one binding pkiform uses (MIT; PyKCS11 is GPL)
PKCS11_EXTRA = "pip install 'pkiform[pkcs11]'"


def pkcs11_installed() -> bool:
    """Whether python-pkcs11 is there, found without importing it (nor cryptography):
    for `pkiform validate` to refuse a token key with the extra to install."""
    return importlib.util.find_spec("pkcs11") is not None


SCHEME = "pkcs11:"

# RFC 7512 §2.3: pk11-pchar and pk11-qchar, the characters a value may hold unencoded
_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_RES_AVAIL = ":[]@!$'()*+,="
PATH_CHARS = frozenset(_UNRESERVED + _RES_AVAIL + "&")
QUERY_CHARS = frozenset(_UNRESERVED + _RES_AVAIL + "/?|")

# the path attributes pkiform selects a token and a key by, in the order it prints them
TOKEN_ATTRIBUTES = ("token", "manufacturer", "serial", "model", "slot-id")
OBJECT_ATTRIBUTES = ("object", "type", "id")
QUERY_ATTRIBUTES = ("module-path", "pin-source")
# RFC 7512 attributes pkiform does not act on, and what to write instead
_NOT_SUPPORTED = {
    "library-manufacturer": "pkiform picks the library by module-path",
    "library-description": "pkiform picks the library by module-path",
    "library-version": "pkiform picks the library by module-path",
    "slot-manufacturer": "select the token by token=LABEL, serial=... or slot-id=N",
    "slot-description": "select the token by token=LABEL, serial=... or slot-id=N",
    "module-name": "it needs p11-kit's module registry; give module-path=/path/to/module.so",
}
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class TokenUriError(PkiformError):
    """A `pkcs11:` URI pkiform cannot use; the message never quotes a PIN."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenUri:
    """A parsed `pkcs11:` URI: which token, which key, and how to reach them.

    Text attributes are percent-decoded; `id` is bytes. At least one of `object` (the
    key's CKA_LABEL) and `id` (its CKA_ID) is set."""

    token: str | None = None  # CKA_TOKEN_INFO label
    manufacturer: str | None = None
    serial: str | None = None
    model: str | None = None
    slot_id: int | None = None
    object: str | None = None  # CKA_LABEL
    id: bytes | None = None  # CKA_ID
    type: str | None = None  # "private" or None: pkiform names the private key
    module_path: str | None = None
    pin_source: str | None = None

    @property
    def canonical(self) -> str:
        """The path attributes alone, in one spelling: names the key wherever the module
        is; what a manifest records and compares."""
        parts = [f"{name}={_encode(value, PATH_CHARS)}" for name, value in self._path_items()]
        return SCHEME + ";".join(parts)

    @property
    def pin_file(self) -> str | None:
        """The file `pin-source` names (`file:/run/pin`, `file:///run/pin` or a path)."""
        if self.pin_source is None:
            return None
        source = self.pin_source
        if source.startswith("file://"):
            return source[len("file://") :]
        return source.removeprefix("file:")

    def __str__(self) -> str:
        query = "&".join(
            f"{name}={_encode(value, QUERY_CHARS)}"
            for name, value in (("module-path", self.module_path), ("pin-source", self.pin_source))
            if value is not None
        )
        return self.canonical + (f"?{query}" if query else "")

    def _path_items(self) -> list[tuple[str, str | bytes]]:
        values: dict[str, str | bytes | None] = {
            "token": self.token,
            "manufacturer": self.manufacturer,
            "serial": self.serial,
            "model": self.model,
            "slot-id": None if self.slot_id is None else str(self.slot_id),
            "object": self.object,
            "type": self.type,
            "id": self.id,
        }
        return [(name, value) for name, value in values.items() if value is not None]


def parse_token_uri(text: str) -> TokenUri:
    """The TokenUri `text` spells; TokenUriError saying what is wrong otherwise."""
    if not text.startswith(SCHEME):
        shown = text.partition(":")[0] if "pin-value" in text else text
        raise TokenUriError(f"expected a URI starting with 'pkcs11:'; got {shown!r}")
    path, _, query = text[len(SCHEME) :].partition("?")
    fields: dict[str, str | bytes] = {}
    for part in path.split(";") if path else []:
        _read_attribute(part, "path", fields)
    for part in query.split("&") if query else []:
        _read_attribute(part, "query", fields)
    return _build(fields)


def _read_attribute(part: str, where: str, fields: dict[str, str | bytes]) -> None:
    name, equals, raw = part.partition("=")
    if name == "pin-value":  # before anything quotes `raw`: it is a PIN
        raise TokenUriError(
            "pin-value: a PIN never goes in the spec; give pin_env or pin_file beside "
            "pkcs11, or pin-source=file:PATH in the URI"
        )
    if not equals:
        separator = ";" if where == "path" else "&"
        raise TokenUriError(
            f"expected NAME=VALUE in the URI's {where}; got {part!r} "
            f"(write a {separator!r} inside a value as {_encode(separator, frozenset())})"
        )
    _check_name(name, where)
    if name in fields:
        raise TokenUriError(f"{name}: given twice")
    if not raw:
        raise TokenUriError(f"{name}: empty value")
    decoded = _decode(name, raw, PATH_CHARS if where == "path" else QUERY_CHARS)
    fields[name] = decoded if name == "id" else _text(name, raw, decoded)


def _check_name(name: str, where: str) -> None:
    known = (TOKEN_ATTRIBUTES + OBJECT_ATTRIBUTES) if where == "path" else QUERY_ATTRIBUTES
    if name in known:
        return
    if name in _NOT_SUPPORTED:
        raise TokenUriError(f"{name}: not supported; {_NOT_SUPPORTED[name]}")
    other = "query" if where == "path" else "path"
    if name in (QUERY_ATTRIBUTES if where == "path" else TOKEN_ATTRIBUTES + OBJECT_ATTRIBUTES):
        place = "after '?', joined by '&'" if where == "path" else "before '?', joined by ';'"
        raise TokenUriError(f"{name}: a {other} attribute: write it {place}")
    if name.startswith("x-"):
        raise TokenUriError(f"{name}: vendor attributes are not supported")
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(known)})"
    raise TokenUriError(f"unknown attribute {name!r} in the URI's {where}{hint}")


def _decode(name: str, raw: str, allowed: frozenset[str]) -> bytes:
    """The bytes `raw` percent-encodes (RFC 3986 §2.1), refusing what RFC 7512 does."""
    bad = _PERCENT.search(raw)
    if bad is not None:
        escape = raw[bad.start() : bad.start() + 3]
        raise TokenUriError(
            f"{name}: {escape!r} is not a percent-encoded byte (expected % and two hex digits)"
        )
    out = bytearray()
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "%":
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        if char not in allowed:
            encoded = _encode(char, frozenset())
            raise TokenUriError(f"{name}: {char!r} must be percent-encoded, as {encoded!r}")
        out.append(ord(char))
        i += 1
    return bytes(out)


def _text(name: str, raw: str, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenUriError(f"{name}: {raw!r} is not UTF-8 once percent-decoded") from None


def _build(fields: dict[str, str | bytes]) -> TokenUri:
    text = {name: value for name, value in fields.items() if isinstance(value, str)}
    ident = fields.get("id")
    slot = text.get("slot-id")
    if slot is not None and not (slot.isascii() and slot.isdigit()):
        raise TokenUriError(f"slot-id: expected a decimal number; got {slot!r}")
    kind = text.get("type")
    if kind is not None and kind != "private":
        raise TokenUriError(
            f"type: expected 'private' or no type (pkiform signs with the private key); "
            f"got {kind!r}"
        )
    if "object" not in text and ident is None:
        raise TokenUriError("the URI names no key: add object=LABEL (its CKA_LABEL) or id=%XX...")
    pin_source = text.get("pin-source")
    if pin_source is not None:
        _check_pin_source(pin_source)
    return TokenUri(
        token=text.get("token"),
        manufacturer=text.get("manufacturer"),
        serial=text.get("serial"),
        model=text.get("model"),
        slot_id=None if slot is None else int(slot),
        object=text.get("object"),
        id=ident if isinstance(ident, bytes) else None,
        type=kind,
        module_path=text.get("module-path"),
        pin_source=pin_source,
    )


def _check_pin_source(source: str) -> None:
    if source.startswith("|"):
        raise TokenUriError(
            f"pin-source: pkiform runs no command to get a PIN; got {source!r} "
            "(give file:PATH, or pin_env beside pkcs11)"
        )
    if source.startswith("file://") and not source.startswith("file:///"):
        raise TokenUriError(
            f"pin-source: expected file:PATH or file:///PATH (a local file); got {source!r}"
        )
    if ":" in source.split("/", 1)[0] and not source.startswith("file:"):
        raise TokenUriError(f"pin-source: expected file:PATH or a path; got {source!r}")


def _encode(value: str | bytes, allowed: frozenset[str]) -> str:
    """`value` percent-encoded where RFC 7512 requires it; every byte of an id."""
    if isinstance(value, bytes):
        return "".join(f"%{b:02X}" for b in value)
    return "".join(
        char if char in allowed else "".join(f"%{b:02X}" for b in char.encode("utf-8"))
        for char in value
    )
