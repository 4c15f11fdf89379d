"""An existing CA a spec adopts: its certificate, key and the chain above it, read and
checked; and the identity completed from the certificate, which the spec may leave out
but never contradict (an adopted certificate is never re-signed implicitly)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from pkiform.durations import BACKDATE, format_span
from pkiform.spec.model import (
    SUBJECT_FIELDS,
    Duration,
    Identity,
    KeySpec,
    Kind,
    NameConstraints,
    NameSet,
)
from pkiform.x509.keys import PrivateKey, spec_of, spki_der
from pkiform.x509.requests import key_problem

# a path below the identity, and what is wrong there
Problem = tuple[tuple[str, ...], str]
# whether the spec writes a field of the identity itself (not through defaults)
Written = Callable[[tuple[str, ...]], bool]

_FIELD_OIDS = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
}
_YEAR = timedelta(days=365)
_HOUR = timedelta(hours=1)
_PEM_CERT = b"-----BEGIN CERTIFICATE-----"
_NEVER = "an adopted certificate is never re-signed implicitly"


class InputError(ValueError):
    """A file that is not what the spec says it is; the message says why."""


class WrongPassword(InputError):
    """An encrypted key that does not open with the password given."""


def load_certificate(data: bytes) -> x509.Certificate:
    """One certificate, PEM or DER."""
    try:
        if _PEM_CERT in data:
            certs = x509.load_pem_x509_certificates(data)
        elif data.lstrip().startswith(b"-----BEGIN "):
            raise InputError("is not a certificate (PEM, but no CERTIFICATE in it)")
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        if isinstance(e, InputError):
            raise
        raise InputError("is not a certificate (PEM or DER) that can be read") from None
    if len(certs) != 1:
        raise InputError(f"holds {len(certs)} certificates; give the CA's own alone")
    return certs[0]


def load_chain(data: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM file, in their order."""
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InputError("is not a PEM file of certificates that can be read") from None


def is_encrypted_key(data: bytes) -> bool:
    """Whether a key file is encrypted: PKCS#8 (ENCRYPTED PRIVATE KEY) or OpenSSL's
    traditional PEM (`Proc-Type: 4,ENCRYPTED`, PKCS#1 keys), or DER EncryptedPrivateKeyInfo."""
    head = data.lstrip()
    if head.startswith(b"-----BEGIN "):
        return b"ENCRYPTED PRIVATE KEY-----" in head[:64] or b"Proc-Type: 4,ENCRYPTED" in head
    return _der_encrypted(head)


def _der_encrypted(der: bytes) -> bool:
    # an EncryptedPrivateKeyInfo opens with an AlgorithmIdentifier (a SEQUENCE), a
    # PrivateKeyInfo with its version (an INTEGER); RFC 5958 §2, §3
    if len(der) < 2 or der[0] != 0x30:
        return False
    first = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    return len(der) > first and der[first] == 0x30


def load_key(data: bytes, password: bytes | None) -> PrivateKey:
    """A private key from PEM (PKCS#8 or PKCS#1 and the like, encrypted or not) or DER
    PKCS#8; `password` opens an encrypted one. Raises InputError saying what is wrong."""
    encrypted = is_encrypted_key(data)
    if encrypted and password is None:
        raise InputError("is encrypted; give its password with password_env or password_file")
    pem = data.lstrip().startswith(b"-----BEGIN ")
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        key = loader(data, password if encrypted else None)
    except ValueError:
        if encrypted:
            raise WrongPassword("does not open with its password") from None
        raise InputError("is not a private key (PEM or DER) that can be read") from None
    except TypeError:  # encrypted in a way is_encrypted_key did not see
        raise InputError("is encrypted in a form pkiform does not read") from None
    problem = key_problem(key)
    if problem is not None:
        raise InputError(problem)
    return key  # type: ignore[return-value]


def ca_problem(cert: x509.Certificate, kind: Kind) -> str | None:
    """Why the certificate cannot be adopted as a CA of this kind, or None: it must be a
    CA (basicConstraints CA:TRUE; keyCertSign where it has a key usage), hold a key
    pkiform can sign with, and, for a root, be self-signed."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "is not a CA certificate: it has no basicConstraints (CA:TRUE)"
    except ValueError:
        return "has extensions that cannot be read"
    if not constraints.ca:
        return "is not a CA certificate: its basicConstraints says CA:FALSE"
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None  # RFC 5280 §4.2.1.3: no key usage, no restriction
    if usage is not None and not usage.key_cert_sign:
        return "is not a CA certificate: its key usage lacks keyCertSign"
    try:
        public = cert.public_key()
    except (ValueError, TypeError):
        return "holds a public key pkiform cannot read"
    problem = key_problem(public)
    if problem is not None:
        return problem
    if kind is Kind.ROOT and not signed_by(cert, cert):
        issuer = cert.issuer.rfc4514_string()
        return (
            f"is not a root: it is not self-signed (its issuer is {issuer or 'empty'}); "
            "adopt it as an intermediate"
        )
    return None


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key signed `cert` and its subject is `cert`'s issuer."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    return spki_der(key.public_key()) == spki_der(cert.public_key())


def chain_problem(cert: x509.Certificate, chain: list[x509.Certificate]) -> str | None:
    """Why `chain` is not the certificates above `cert`, nearest first, up to a
    self-signed root, or None."""
    if not chain:
        return "holds no certificate"
    for child, parent in zip([cert, *chain], chain, strict=False):
        if not signed_by(child, parent):
            who = child.subject.rfc4514_string()
            return (
                f"does not go up from {who!r}: {parent.subject.rfc4514_string()!r} did not sign it"
            )
    if not signed_by(chain[-1], chain[-1]):
        return "does not end with a self-signed root"
    return None


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
        third = validity.delta / 3
        changes["renew_before"] = Duration(text=format_span(third), delta=third)
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
    problems: list[Problem] = []
    for field, mine, theirs in (
        ("type", ident.key.type, have.type),
        ("size", ident.key.size, have.size),
        ("curve", ident.key.curve, have.curve),
    ):
        if written(("key", field)) and mine != theirs:
            problems.append(
                (
                    ("key", field),
                    f"the adopted key is {have}, not {ident.key}; {_NEVER}: write what it "
                    "is, or leave key out",
                )
            )
            break
    return have, problems


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


def outside_chain(
    files_chain: bytes | None, files_ca: bytes | None
) -> tuple[x509.Certificate, ...]:
    """The certificates above an adopted intermediate whose issuer lives elsewhere, as its
    own chain.pem and ca.pem hold them since it was adopted: nearest first, root last."""
    found: list[x509.Certificate] = []
    for data in (files_chain, files_ca):
        if data:
            try:
                found += x509.load_pem_x509_certificates(data)
            except ValueError:
                return ()
    return tuple(found)
