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
and recover() tells from the labels alone where:
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

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509

from pkiform.model import KeySpec, KeyType
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
    read_public,
    require_label,
    stamp,
)
from pkiform.x509.token_read import CURVE_PARAMS, find_public_object, get, search
from pkiform.x509.token_uri import TokenUri

if TYPE_CHECKING:
    import pkcs11

    from pkiform.x509.token_session import TokenSession

_PARAMS = {spec: params for params, spec in CURVE_PARAMS.items() if params[0] == 0x06}


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovery:
    """What recover() did: finished the interrupted run, or set its pending pair aside."""

    finished: bool
    message: str


def generate_key(session: TokenSession, uri: TokenUri, spec: KeySpec, *, now: datetime) -> TokenKey:
    """A new key pair for `spec`, made in the token and labelled as `uri` says.

    KeyExists when the label (or the URI's id) is taken: pkiform never overwrites."""
    label = require_label(session, uri)
    _refuse_pending(session, uri, label)
    check_free(session, uri, label)
    when = stamp(now)
    new = _make_checked(session, uri, spec, label, when)
    _promote(session, uri, label, new.public_object, new.private_object, _final_id(uri, new))
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
        _retire(session, uri, obj, label, when)
    _promote(session, uri, label, new.public_object, new.private_object, _final_id(uri, new))
    return _found(session, uri)


def interrupted(session: TokenSession, uri: TokenUri) -> bool:
    """Whether a crashed generation or rekey of this key awaits recover() (read only:
    for plan to say so)."""
    return uri.object is not None and bool(pending_objects(session, uri.object))


def recover(session: TokenSession, uri: TokenUri, *, now: datetime) -> Recovery | None:
    """Finish or set aside what a crashed generate_key or rekey left; None when there
    was nothing. Running it again finds nothing."""
    import pkcs11

    label = uri.object
    if label is None:
        return None
    private = session.objects(pkcs11.ObjectClass.PRIVATE_KEY, label=label + PENDING)
    public = session.objects(pkcs11.ObjectClass.PUBLIC_KEY, label=label + PENDING)
    if not private and not public:
        return None
    if len(private) > 1 or len(public) > 1:
        raise TokenFailure(
            uri.canonical,
            f"several objects in token {session.label!r} are labelled {label + PENDING!r}: "
            "pkiform did not make them; relabel or delete them by hand",
        )
    when = _pending_stamp([*private, *public]) or stamp(now)
    in_use = session.objects(pkcs11.ObjectClass.PRIVATE_KEY, label=label)
    if in_use or not private:
        return _abandon(session, uri, label, [*private, *public], when)
    public_class = pkcs11.ObjectClass.PUBLIC_KEY
    new_public = public[0] if public else _single(session.objects(public_class, label=label))
    try:
        new = read_key(session, uri, private[0], new_public)
        _check_kept(session, uri, new)
    except TokenError:
        return _abandon(session, uri, label, [*private, *public], when)
    if public:  # any public key labelled L now is the old one: set it aside first
        for old in session.objects(public_class, label=label):
            _retire(session, uri, old, label, when)
    if uri.id is not None:
        for cls in (pkcs11.ObjectClass.PRIVATE_KEY, public_class):
            for old in session.objects(cls, label=label + REPLACED + when, id=uri.id):
                _set(session, uri, old, pkcs11.Attribute.ID, _replaced_id(uri.id, when))
    _promote(session, uri, label, new.public_object, new.private_object, _final_id(uri, new))
    return Recovery(
        finished=True,
        message=f"finished an interrupted key generation or rekey: the new key took the "
        f"label {label!r} in token {session.label!r}",
    )


def replaced_label(session: TokenSession, uri: TokenUri, public_key: object) -> str | None:
    """The label of the key pkiform replaced that has this public key (`L.replaced-S`),
    or None: tells a key a rekey replaced from one that changed behind pkiform's back."""
    import pkcs11

    if uri.object is None:
        return None
    prefix = uri.object + REPLACED
    for obj in session.objects(pkcs11.ObjectClass.PUBLIC_KEY):
        label = obj[pkcs11.Attribute.LABEL]
        if isinstance(label, str) and label.startswith(prefix):
            try:
                if read_public(session, uri, obj) == public_key:
                    return label
            except TokenError:
                continue  # not a key pkiform can read: not one it replaced
    return None


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
        _check_kept(session, uri, key)
        check_spec(key, spec)
    except TokenError:
        _abandon(session, uri, label, [private, public], when)
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


def _check_kept(session: TokenSession, uri: TokenUri, key: TokenKey) -> None:
    if not key.protection.kept:
        raise KeyNotProtected(
            uri.canonical,
            f"token {session.label!r} made a key that could leave it "
            f"({', '.join(key.protection.problems())}): it was set aside, not used",
        )


def _final_id(uri: TokenUri, key: TokenKey) -> bytes:
    if uri.id is not None:
        return uri.id
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key).digest


def _replaced_id(ident: bytes, when: str) -> bytes:
    return ident + REPLACED.encode() + when.encode()


def _promote(
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
            _set(session, uri, obj, pkcs11.Attribute.ID, ident)
            _set(session, uri, obj, pkcs11.Attribute.LABEL, label)


def _retire(
    session: TokenSession, uri: TokenUri, obj: pkcs11.Object, label: str, when: str
) -> None:
    """An old object takes L.replaced-S, then gives up the URI's id (if it names one)."""
    import pkcs11

    _set(session, uri, obj, pkcs11.Attribute.LABEL, label + REPLACED + when)
    if uri.id is not None:
        _set(session, uri, obj, pkcs11.Attribute.ID, _replaced_id(uri.id, when))


def _abandon(
    session: TokenSession, uri: TokenUri, label: str, objects: list[pkcs11.Object], when: str
) -> Recovery:
    import pkcs11

    aside = label + ABANDONED + when
    for obj in objects:
        _set(session, uri, obj, pkcs11.Attribute.LABEL, aside)
    return Recovery(
        finished=False,
        message=f"set aside the key pair an interrupted run left unfinished in token "
        f"{session.label!r}, as {aside!r}; the key labelled {label!r} is unchanged",
    )


def _set(
    session: TokenSession,
    uri: TokenUri,
    obj: pkcs11.Object,
    attribute: pkcs11.Attribute,
    value: str | bytes,
) -> None:
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


def _pending_stamp(objects: list[pkcs11.Object]) -> str | None:
    import pkcs11

    for obj in objects:
        ident = obj[pkcs11.Attribute.ID]
        if isinstance(ident, bytes) and ident.startswith(PENDING_ID):
            return ident[len(PENDING_ID) :].decode("ascii", "replace")
    return None


def _single(objects: list[pkcs11.Object]) -> pkcs11.Object | None:
    return objects[0] if len(objects) == 1 else None
