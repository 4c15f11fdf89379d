"""Recovery: what a crashed generate_key or rekey left, finished or set aside, from the
labels alone (token_changes.py describes the labels and the order of the changes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pkiform.spec.token_uri import TokenUri
from pkiform.x509.token_changes import (
    abandon,
    check_kept,
    final_id,
    promote,
    replaced_id,
    retire,
    set_attribute,
)
from pkiform.x509.token_errors import TokenError, TokenFailure
from pkiform.x509.token_keys import (
    PENDING,
    PENDING_ID,
    REPLACED,
    pending_objects,
    read_key,
    read_public,
    stamp,
)

if TYPE_CHECKING:
    import pkcs11

    from pkiform.x509.token_session import TokenSession


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovery:
    """What recover() did: finished the interrupted run, or set its pending pair aside."""

    finished: bool
    message: str


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
        return _set_aside(session, uri, label, [*private, *public], when)
    public_class = pkcs11.ObjectClass.PUBLIC_KEY
    new_public = public[0] if public else _single(session.objects(public_class, label=label))
    try:
        new = read_key(session, uri, private[0], new_public)
        check_kept(session, uri, new)
    except TokenError:
        return _set_aside(session, uri, label, [*private, *public], when)
    if public:  # any public key labelled L now is the old one: set it aside first
        for old in session.objects(public_class, label=label):
            retire(session, uri, old, label, when)
    if uri.id is not None:
        for cls in (pkcs11.ObjectClass.PRIVATE_KEY, public_class):
            for old in session.objects(cls, label=label + REPLACED + when, id=uri.id):
                set_attribute(session, uri, old, pkcs11.Attribute.ID, replaced_id(uri.id, when))
    promote(session, uri, label, new.public_object, new.private_object, final_id(uri, new))
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


def _set_aside(
    session: TokenSession, uri: TokenUri, label: str, objects: list[pkcs11.Object], when: str
) -> Recovery:
    aside = abandon(session, uri, label, objects, when)
    return Recovery(
        finished=False,
        message=f"set aside the key pair an interrupted run left unfinished in token "
        f"{session.label!r}, as {aside!r}; the key labelled {label!r} is unchanged",
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
