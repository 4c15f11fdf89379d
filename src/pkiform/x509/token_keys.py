"""CA keys that stay in a PKCS#11 token: find one, check it against a KeySpec.

The token layer, as a caller uses it (python-pkcs11 is imported only by `login`):

    uri = parse_token_uri(text)                  # token_uri: TokenUriError, for the spec
    with TokenRun(module_env=environ.get("PKCS11_MODULE")) as run:   # token_session
        session = run.login(uri, pin)             # pin: bytes; one login per token
        recover(session, uri, now=now)           # token_recovery: finish a crashed run
        key = find_key(session, uri)             # TokenKey | None (require_key: or raise)
        check_spec(key, spec)                    # KeyMismatch: never a silent rekey
        key = generate_key(session, uri, spec, now=now)   # token_changes: when missing
        key = rekey(session, uri, spec, now=now)           # token_changes: --rekey NAME
        builder.sign(key.private_key, ...)       # certificates, CRLs, OCSP responses

A TokenKey's `private_key` is a cryptography private key whose sign() goes through the
token (token_signers); it refuses to be exported. Every failure is a TokenError
(token_errors) whose message names the URI, never the PIN. pkiform never deletes or
overwrites a token object: it creates key pairs and relabels them (token_changes says
how; token_recovery finishes what a crash interrupted, and tells a key pkiform replaced
from one that changed behind its back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pkiform.spec.model import KeySpec
from pkiform.spec.token_uri import TokenUri
from pkiform.x509.token_errors import (
    KeyAmbiguous,
    KeyCannotSign,
    KeyExists,
    KeyInterrupted,
    KeyMismatch,
    KeyNotFound,
    KeyUnusable,
    TokenFailure,
)
from pkiform.x509.token_read import (
    KeyProtection,
    find_public_object,
    get,
    get_bytes,
    id_text,
    ids_text,
    key_spec,
    pairs,
    protection,
    public_key_from,
    search,
    unpaired,
)
from pkiform.x509.token_signers import (
    TokenPrivateKey,
    TokenPublicKey,
    TokenSigning,
    token_private_key,
)

if TYPE_CHECKING:
    import pkcs11

    from pkiform.x509.token_session import TokenSession

# the labels of objects in between (token_changes.py): `<label>.pending` while a new pair
# is made and checked; `<label>.replaced-<stamp>` for the key a rekey replaced;
# `<label>.abandoned-<stamp>` for a pair an interrupted run left unfinished
PENDING = ".pending"
REPLACED = ".replaced-"
ABANDONED = ".abandoned-"
PENDING_ID = b"pkiform-pending:"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenKey:
    """A key pair in a token, found or made by pkiform."""

    uri: TokenUri
    token_label: str
    label: str  # CKA_LABEL
    id: bytes  # CKA_ID
    spec: KeySpec
    public_key: TokenPublicKey
    private_key: TokenPrivateKey  # what cryptography's builders sign with
    protection: KeyProtection
    private_object: pkcs11.Object = field(repr=False, compare=False)
    public_object: pkcs11.Object | None = field(repr=False, compare=False)


def find_key(session: TokenSession, uri: TokenUri) -> TokenKey | None:
    """The key pair `uri` names, or None when the token has no such private key.

    KeyInterrupted when there is none because a crashed run left it in between (call
    token_recovery.recover); KeyAmbiguous, KeyUnusable or KeyCannotSign for a key pkiform
    cannot sign with."""
    import pkcs11

    found = search(session, uri, pkcs11.ObjectClass.PRIVATE_KEY, label=uri.object, id=uri.id)
    if not found:
        if uri.object is not None and pending_objects(session, uri.object):
            raise KeyInterrupted(
                uri.canonical,
                f"an interrupted key generation or rekey left {uri.object + PENDING!r} in "
                f"token {session.label!r}: the next apply finishes it",
            )
        return None
    return read_key(session, uri, only_one(session, uri, found))


def only_one(session: TokenSession, uri: TokenUri, found: list[pkcs11.Object]) -> pkcs11.Object:
    """The one private key object found; KeyAmbiguous when the URI matches several."""
    if len(found) > 1:
        raise KeyAmbiguous(
            uri.canonical,
            f"{len(found)} private keys in token {session.label!r} match; "
            f"name one by its id ({ids_text(found)})",
        )
    return found[0]


def require_key(session: TokenSession, uri: TokenUri) -> TokenKey:
    """The key pair `uri` names; KeyNotFound when the token has no such private key."""
    key = find_key(session, uri)
    if key is None:
        raise not_found(session, uri)
    return key


def not_found(session: TokenSession, uri: TokenUri) -> KeyNotFound:
    """The KeyNotFound for a URI whose private key the token does not have."""
    return KeyNotFound(
        uri.canonical, f"token {session.label!r} has no private key {described(uri)}"
    )


def described(uri: TokenUri) -> str:
    """How the URI names its key: `labelled 'root-ca' with id %01`."""
    parts = [f"labelled {uri.object!r}" if uri.object is not None else ""]
    parts.append(f"with id {id_text(uri.id)}" if uri.id is not None else "")
    return " ".join(p for p in parts if p)


def check_spec(key: TokenKey, wanted: KeySpec) -> None:
    """KeyMismatch when the token's key is not of the spec's type, size or curve."""
    if key.spec != wanted:
        raise KeyMismatch(
            key.uri.canonical,
            f"the key {key.label!r} in token {key.token_label!r} is {key.spec}; "
            f"the spec says {wanted}",
            found=key.spec,
            wanted=wanted,
        )


def read_key(
    session: TokenSession,
    uri: TokenUri,
    private: pkcs11.Object,
    public_object: pkcs11.Object | None = None,
) -> TokenKey:
    """A TokenKey for this private key object and its public half (the public key
    object with its id, unless given), checked with a test signature."""
    import pkcs11

    a = pkcs11.Attribute
    label = str(get(session, uri, private, a.LABEL))
    spec = key_spec(session, uri, private, label)
    if not get(session, uri, private, a.SIGN) or not isinstance(private, pkcs11.types.SignMixin):
        raise KeyCannotSign(
            uri.canonical,
            f"the key {label!r} in token {session.label!r} may not sign (CKA_SIGN is false)",
        )
    if public_object is None:
        public_object = find_public_object(session, uri, private, label)
    public = public_key_from(session, uri, private, public_object, spec, label)
    signing = TokenSigning(private, uri=uri.canonical, label=label)
    signer = token_private_key(signing, public)
    if not pairs(signer, public):
        raise KeyUnusable(uri.canonical, unpaired(label, session))
    return TokenKey(
        uri=uri,
        token_label=session.label,
        label=label,
        id=get_bytes(session, uri, private, a.ID),
        spec=spec,
        public_key=public,
        private_key=signer,
        protection=protection(session, uri, private),
        private_object=private,
        public_object=public_object,
    )


def read_public(session: TokenSession, uri: TokenUri, public: pkcs11.Object) -> TokenPublicKey:
    """The public key a public key object holds."""
    import pkcs11

    label = str(get(session, uri, public, pkcs11.Attribute.LABEL))
    spec = key_spec(session, uri, public, label)
    return public_key_from(session, uri, public, public, spec, label)


def pending_objects(session: TokenSession, label: str) -> list[pkcs11.Object]:
    """The objects an interrupted generation or rekey of `label` left in between."""
    import pkcs11

    return [
        obj
        for cls in (pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.ObjectClass.PUBLIC_KEY)
        for obj in session.objects(cls, label=label + PENDING)
    ]


def stamp(now: datetime) -> str:
    """The UTC time in a label: `20260601T120000Z`."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def require_label(session: TokenSession, uri: TokenUri) -> str:
    """The label a key pkiform makes gets; the URI must give it, on a writable token."""
    if uri.object is None:
        raise KeyUnusable(
            uri.canonical, "pkiform labels the keys it makes: add object=LABEL to the URI"
        )
    if not session.rw:
        raise TokenFailure(
            uri.canonical,
            f"token {session.label!r} is write-protected: pkiform cannot make a key in it",
        )
    return uri.object


def check_free(session: TokenSession, uri: TokenUri, label: str) -> None:
    """KeyExists unless no private key has the label (or the URI's id) yet."""
    import pkcs11

    private = pkcs11.ObjectClass.PRIVATE_KEY
    what = f"labelled {label!r}" if search(session, uri, private, label=label) else None
    if what is None and uri.id is not None:
        holders = search(session, uri, private, id=uri.id)
        if holders:
            other = get(session, uri, holders[0], pkcs11.Attribute.LABEL)
            what = f"with id {id_text(uri.id)} (labelled {other!r})"
    if what is not None:
        raise KeyExists(
            uri.canonical,
            f"token {session.label!r} already has a private key {what}: "
            "pkiform never overwrites a token key",
        )
