"""Every change pkiform makes to a token: a new key pair, a rekey, and the recovery of
either after a crash. pkiform only creates key pairs and relabels them; it never deletes
or overwrites an object.

With L the URI's object label and S a UTC stamp (`20260601T120000Z`):

    L                     the key in use: at no moment do two private keys have it
    L.pending             a new pair while it is made and checked (id `pkiform-pending:S`)
    L.replaced-S          the key a rekey replaced (when the URI names an id, its id
                          becomes `<id>.replaced-S`, so that the id moves to the new key)
    L.abandoned-S         a pending pair a run left before its commit, set aside

generate_key: make L.pending and check it (sensitive, never extractable, made in the
token, of the spec's type, a test signature that verifies); then the new public key
takes its final id and then L, and the new private key likewise.
rekey: the same, with, between the check and the promotion, the commit: the old private
key takes L.replaced-S (then its new id), and the old public key after it.

Each step is one C_SetAttributeValue, so a crash (SIGKILL, power) stops between two,
and token_recovery.recover() tells from the labels alone where:
- no L.pending object: nothing to do;
- a private key still labelled L (a rekey before its commit), or no pending private key
  (killed inside C_GenerateKeyPair): L.pending becomes L.abandoned-S, the key in use is
  the one it was;
- otherwise (after a rekey's commit, or a generation with nothing to replace): the
  pending pair is checked again and the run is finished: a public key still labelled L
  while the pending one waits is the old one and is set aside, a replaced object that
  still holds the URI's id gives it up, and the new pair takes its id and L.
The final id is the URI's id or else the key's subject key identifier (RFC 5280
§4.2.1.2 (1), as in the certificate), the same however often recovery runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509

from pkiform.spec.model import KeySpec, KeyType
from pkiform.spec.token_uri import TokenUri
from pkiform.x509.token_errors import (
    GenerationUnsupported,
    KeyInterrupted,
    KeyNotProtected,
    TokenError,
    TokenFailure,
    ckr_name,
)
from pkiform.x509.token_keys import (
    ABANDONED,
    PENDING,
    PENDING_ID,
    REPLACED,
    TokenKey,
    check_free,
    check_spec,
    find_key,
    not_found,
    only_one,
    pending_objects,
    read_key,
    require_label,
    stamp,
)
from pkiform.x509.token_read import CURVE_PARAMS, find_public_object, get, search

if TYPE_CHECKING:
    import pkcs11

    from pkiform.x509.token_session import TokenSession

_PARAMS = {spec: params for params, spec in CURVE_PARAMS.items() if params[0] == 0x06}


def generate_key(session: TokenSession, uri: TokenUri, spec: KeySpec, *, now: datetime) -> TokenKey:
    """A new key pair for `spec`, made in the token and labelled as `uri` says.

    KeyExists when the label (or the URI's id) is taken: pkiform never overwrites."""
    label = require_label(session, uri)
    _refuse_pending(session, uri, label)
    check_free(session, uri, label)
    when = stamp(now)
    new = _make_checked(session, uri, spec, label, when)
    promote(session, uri, label, new.public_object, new.private_object, final_id(uri, new))
    return _found(session, uri)


def rekey(session: TokenSession, uri: TokenUri, spec: KeySpec, *, now: datetime) -> TokenKey:
    """A new key pair that takes the label (and id) of the key `uri` names, which is
    kept, labelled `<label>.replaced-<stamp>` (`--rekey NAME`)."""
    label = require_label(session, uri)
    _refuse_pending(session, uri, label)
    old = _old_objects(session, uri)  # not read_key: a key unfit to sign is replaced too
    when = stamp(now)
    if _labelled(session, label + REPLACED + when):
        raise TokenFailure(
            uri.canonical,
            f"a key labelled {label!r} was already replaced at {when}: run it again in a second",
        )
    new = _make_checked(session, uri, spec, label, when)
    for obj in old:  # the commit: the old private key first
        retire(session, uri, obj, label, when)
    promote(session, uri, label, new.public_object, new.private_object, final_id(uri, new))
    return _found(session, uri)


def _old_objects(session: TokenSession, uri: TokenUri) -> list[pkcs11.Object]:
    """The private key object `uri` names, then its public key object if it has one."""
    import pkcs11

    found = search(session, uri, pkcs11.ObjectClass.PRIVATE_KEY, label=uri.object, id=uri.id)
    if not found:
        raise not_found(session, uri)
    private = only_one(session, uri, found)
    label = str(get(session, uri, private, pkcs11.Attribute.LABEL))
    public = find_public_object(session, uri, private, label)
    return [private] if public is None else [private, public]


def _refuse_pending(session: TokenSession, uri: TokenUri, label: str) -> None:
    if pending_objects(session, label):
        raise KeyInterrupted(
            uri.canonical,
            f"an interrupted key generation or rekey left {label + PENDING!r} in token "
            f"{session.label!r}: recover it first",
        )


def _make_checked(
    session: TokenSession, uri: TokenUri, spec: KeySpec, label: str, when: str
) -> TokenKey:
    """A new pair labelled L.pending, checked; set aside (and the error raised) if bad."""
    public, private = _generate(session, uri, spec, label, when)
    try:
        key = read_key(session, uri, private, public)
        check_kept(session, uri, key)
        check_spec(key, spec)
    except TokenError:
        abandon(session, uri, label, [private, public], when)
        raise
    return key


def _generate(
    session: TokenSession, uri: TokenUri, spec: KeySpec, label: str, when: str
) -> tuple[pkcs11.PublicKey, pkcs11.PrivateKey]:
    import pkcs11

    a, m = pkcs11.Attribute, pkcs11.Mechanism
    key_type, key_length, mechanisms = {
        KeyType.RSA: (pkcs11.KeyType.RSA, spec.size, (m.RSA_PKCS_KEY_PAIR_GEN, m.RSA_PKCS)),
        KeyType.EC: (pkcs11.KeyType.EC, None, (m.EC_KEY_PAIR_GEN, m.ECDSA)),
        KeyType.ED25519: (pkcs11.KeyType.EC_EDWARDS, None, (m.EC_EDWARDS_KEY_PAIR_GEN, m.EDDSA)),
        KeyType.ED448: (pkcs11.KeyType.EC_EDWARDS, None, (m.EC_EDWARDS_KEY_PAIR_GEN, m.EDDSA)),
    }[spec.type]
    missing = [f"CKM_{x.name}" for x in mechanisms if x not in session.mechanisms]
    if missing:
        raise GenerationUnsupported(
            uri.canonical, f"token {session.label!r} cannot make {spec} keys (no {missing[0]})"
        )
    _check_size(session, uri, spec)
    ident = PENDING_ID + when.encode()
    public: dict[pkcs11.Attribute, object] = {a.LABEL: label + PENDING, a.ID: ident}
    if spec.type is not KeyType.RSA:
        public[a.EC_PARAMS] = _PARAMS[spec]
    private: dict[pkcs11.Attribute, object] = {
        a.LABEL: label + PENDING,
        a.ID: ident,
        a.SENSITIVE: True,
        a.EXTRACTABLE: False,
    }
    try:
        return session.generate_pair(key_type, key_length, public=public, private=private)
    except (
        pkcs11.DomainParamsInvalid,
        pkcs11.KeySizeRange,
        pkcs11.MechanismInvalid,
        pkcs11.TemplateInconsistent,
        pkcs11.AttributeValueInvalid,
    ) as e:
        raise GenerationUnsupported(
            uri.canonical, f"token {session.label!r} cannot make {spec} keys ({ckr_name(e)})"
        ) from e
    except pkcs11.PKCS11Error as e:
        raise TokenFailure(
            uri.canonical,
            f"making a {spec} key in token {session.label!r} failed ({ckr_name(e)})",
        ) from e


def _check_size(session: TokenSession, uri: TokenUri, spec: KeySpec) -> None:
    import pkcs11

    if spec.type is not KeyType.RSA or spec.size is None:
        return
    low, high = session.mechanism_sizes(pkcs11.Mechanism.RSA_PKCS_KEY_PAIR_GEN)
    if (low is not None and spec.size < low) or (high is not None and spec.size > high):
        raise GenerationUnsupported(
            uri.canonical,
            f"token {session.label!r} makes RSA keys of {low} to {high} bits, not {spec.size}",
        )


def check_kept(session: TokenSession, uri: TokenUri, key: TokenKey) -> None:
    """KeyNotProtected unless the token keeps the new key as it was told to."""
    if not key.protection.kept:
        raise KeyNotProtected(
            uri.canonical,
            f"token {session.label!r} made a key that could leave it "
            f"({', '.join(key.protection.problems())}): it was set aside, not used",
        )


def final_id(uri: TokenUri, key: TokenKey) -> bytes:
    """The id a new key takes: the URI's, or its subject key identifier."""
    if uri.id is not None:
        return uri.id
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key).digest


def replaced_id(ident: bytes, when: str) -> bytes:
    """The id a replaced key gives the URI's up for: `<id>.replaced-S`."""
    return ident + REPLACED.encode() + when.encode()


def promote(
    session: TokenSession,
    uri: TokenUri,
    label: str,
    public: pkcs11.Object | None,
    private: pkcs11.Object,
    ident: bytes,
) -> None:
    """The new pair takes its id, then the label: public key first, private key last."""
    import pkcs11

    for obj in (public, private):
        if obj is not None:
            set_attribute(session, uri, obj, pkcs11.Attribute.ID, ident)
            set_attribute(session, uri, obj, pkcs11.Attribute.LABEL, label)


def retire(session: TokenSession, uri: TokenUri, obj: pkcs11.Object, label: str, when: str) -> None:
    """An old object takes L.replaced-S, then gives up the URI's id (if it names one)."""
    import pkcs11

    set_attribute(session, uri, obj, pkcs11.Attribute.LABEL, label + REPLACED + when)
    if uri.id is not None:
        set_attribute(session, uri, obj, pkcs11.Attribute.ID, replaced_id(uri.id, when))


def abandon(
    session: TokenSession, uri: TokenUri, label: str, objects: list[pkcs11.Object], when: str
) -> str:
    """Pending objects set aside as L.abandoned-S, never deleted; that label."""
    import pkcs11

    aside = label + ABANDONED + when
    for obj in objects:
        set_attribute(session, uri, obj, pkcs11.Attribute.LABEL, aside)
    return aside


def set_attribute(
    session: TokenSession,
    uri: TokenUri,
    obj: pkcs11.Object,
    attribute: pkcs11.Attribute,
    value: str | bytes,
) -> None:
    """One change to a token object, through TokenSession.set; TokenFailure if refused."""
    import pkcs11

    try:
        session.set(obj, attribute, value)
    except pkcs11.PKCS11Error as e:
        raise TokenFailure(
            uri.canonical,
            f"setting CKA_{attribute.name} in token {session.label!r} failed ({ckr_name(e)}); "
            "the next apply finishes the job",
        ) from e


def _found(session: TokenSession, uri: TokenUri) -> TokenKey:
    key = find_key(session, uri)
    if key is None:  # the token lost what it just stored
        raise TokenFailure(uri.canonical, f"token {session.label!r} did not keep the new key")
    return key


def _labelled(session: TokenSession, label: str) -> bool:
    import pkcs11

    return any(
        session.objects(cls, label=label)
        for cls in (pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.ObjectClass.PUBLIC_KEY)
    )
