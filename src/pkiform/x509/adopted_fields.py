"""The identity of an adopted CA completed from its certificate: what the spec leaves out
(subject, key, validity, path_length, name_constraints) is taken from it, and what the
spec writes must say the same, or the spec would stop telling the truth about a
certificate pkiform never re-signs implicitly."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

from cryptography import x509

from pkiform.durations import BACKDATE, format_span
from pkiform.spec.model import (
    SUBJECT_FIELDS,
    Duration,
    Identity,
    KeySpec,
    NameConstraints,
    NameSet,
)
from pkiform.x509.keys import spec_of
from pkiform.x509.profile import NAME_OIDS

# a path below the identity, and what is wrong there
Problem = tuple[tuple[str, ...], str]
# whether the spec writes a field of the identity itself (not through defaults)
Written = Callable[[tuple[str, ...]], bool]

_FIELD_OIDS = {oid: field for field, oid in NAME_OIDS.items()}
_YEAR = timedelta(days=365)
_HOUR = timedelta(hours=1)
_NEVER = "an adopted certificate is never re-signed implicitly"


def completed(
    ident: Identity, cert: x509.Certificate, written: Written
) -> tuple[Identity, list[Problem]]:
    """The identity with what the spec leaves out taken from the adopted certificate
    (subject, key, validity, path_length, name_constraints), and where what it writes
    contradicts the certificate. `defaults` do not reach these fields: the certificate
    is what sets them."""
    subject, subject_problems = _subject(ident, cert, written)
    key, key_problems = _key(ident, cert, written)
    validity, validity_problems = _validity(ident, cert, written)
    path_length, path_problems = _path_length(ident, cert, written)
    constraints, nc_problems = _name_constraints(ident, cert, written)
    changes: dict[str, object] = {
        "subject": subject,
        "key": key,
        "validity": validity,
        "path_length": path_length,
        "name_constraints": constraints,
        "rotate_key": False,  # defaults.rotate_key does not reach it (written, an error)
    }
    if not written(("renew_before",)):  # defaults.renew_before does not reach it either
        changes["renew_before"] = validity.third()
    problems = subject_problems + key_problems + validity_problems + path_problems + nc_problems
    return dataclasses.replace(ident, **changes), problems  # type: ignore[arg-type]


def _subject(
    ident: Identity, cert: x509.Certificate, written: Written
) -> tuple[tuple[tuple[str, str], ...], list[Problem]]:
    values: dict[str, list[str]] = {}
    for attribute in cert.subject:
        field = _FIELD_OIDS.get(attribute.oid)
        if field is not None:
            values.setdefault(field, []).append(str(attribute.value))
    problems: list[Problem] = []
    own = dict(ident.subject)
    for field in SUBJECT_FIELDS:
        if written(("subject", field)) and own.get(field) not in values.get(field, []):
            has = values.get(field)
            what = f"is {has[0]!r}" if has else "has none"
            problems.append(
                (
                    ("subject", field),
                    f"the adopted certificate's {field} {what}, not {own.get(field)!r}; "
                    f"{_NEVER}: write what it says, or leave subject.{field} out",
                )
            )
    return tuple((f, values[f][0]) for f in SUBJECT_FIELDS if f in values), problems


def _key(
    ident: Identity, cert: x509.Certificate, written: Written
) -> tuple[KeySpec, list[Problem]]:
    have = spec_of(cert.public_key())
    assert have is not None, "ca_problem refuses other keys first"
    field = ident.key.contradicted(have, lambda f: written(("key", f)))
    if field is None:
        return have, []
    why = (
        f"the adopted key is {have}, not {ident.key}; {_NEVER}: write what it is, or leave key out"
    )
    return have, [(("key", field), why)]


def validity_of(cert: x509.Certificate) -> Duration:
    """A certificate's validity as a spec would write it: `7d`, `10y`. One that pkiform
    re-signed (--renew) spans its validity and the 5 minutes it is backdated by: those
    are not counted, or each renewal would add them again."""
    length = cert.not_valid_after_utc - cert.not_valid_before_utc
    if length % _HOUR and not (length - BACKDATE) % _HOUR:
        length -= BACKDATE
    years, rest = divmod(length, _YEAR)
    text = f"{years}y" if years and not rest else format_span(length)
    return Duration(text=text, delta=length)


def _validity(
    ident: Identity, cert: x509.Certificate, written: Written
) -> tuple[Duration, list[Problem]]:
    have = validity_of(cert)
    if not written(("validity",)):
        return have, []
    # a tool may backdate as pkiform does, or count years by the calendar (leap days)
    leeway = BACKDATE + timedelta(seconds=1) + timedelta(days=ident.validity.delta // _YEAR)
    if abs(have.delta - ident.validity.delta) <= leeway:
        return ident.validity, []
    message = (
        f"the adopted certificate is valid for {have}, not {ident.validity} (from "
        f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M}Z to "
        f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z); "
        f"{_NEVER}: write what it says, or leave validity out"
    )
    return ident.validity, [(("validity",), message)]


def _path_length(
    ident: Identity, cert: x509.Certificate, written: Written
) -> tuple[int | None, list[Problem]]:
    have = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    if written(("path_length",)) and ident.path_length != have:
        says = "no path length" if have is None else f"path length {have}"
        return have, [
            (
                ("path_length",),
                f"the adopted certificate has {says}, not {ident.path_length}; {_NEVER}: "
                "write what it says, or leave path_length out",
            )
        ]
    return have, []


def _name_constraints(
    ident: Identity, cert: x509.Certificate, written: Written
) -> tuple[NameConstraints | None, list[Problem]]:
    try:
        value = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        have = None
    else:
        have = NameConstraints(
            permitted=_name_set(value.permitted_subtrees),
            excluded=_name_set(value.excluded_subtrees),
        )
    mine = ident.name_constraints
    if written(("name_constraints",)) and _canonical(mine) != _canonical(have):
        return have, [
            (
                ("name_constraints",),
                f"the adopted certificate's name constraints are {_describe(have)}, not "
                f"{_describe(mine)}; {_NEVER}: write what it says, or leave name_constraints out",
            )
        ]
    return have, []


def _name_set(subtrees: list[x509.GeneralName] | None) -> NameSet:
    trees = subtrees or []
    return NameSet(
        dns=tuple(t.value for t in trees if isinstance(t, x509.DNSName)),
        ip=tuple(t.value for t in trees if isinstance(t, x509.IPAddress)),  # type: ignore[misc]
        email=tuple(t.value for t in trees if isinstance(t, x509.RFC822Name)),
    )


def _canonical(nc: NameConstraints | None) -> object:
    if nc is None or not (nc.permitted or nc.excluded):
        return None
    return tuple(
        (frozenset(s.dns), frozenset(s.ip), frozenset(s.email)) for s in (nc.permitted, nc.excluded)
    )


def _describe(nc: NameConstraints | None) -> str:
    if _canonical(nc) is None:
        return "none"
    assert nc is not None
    parts = []
    for side, names in (("permitted", nc.permitted), ("excluded", nc.excluded)):
        listed = [*names.dns, *map(str, names.ip), *names.email]
        if listed:
            parts.append(f"{side} {', '.join(listed)}")
    return "; ".join(parts)
