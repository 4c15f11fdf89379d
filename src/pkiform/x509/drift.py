"""How an existing certificate differs from what the spec now asks for, in words.

Comparison is by cryptography's value equality on the objects profile.desired()
builds, so a certificate pkiform just issued never shows a difference.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from pkiform.spec.model import Identity
from pkiform.x509.keys import spec_of
from pkiform.x509.profile import EKU_OIDS, Profile, desired

# issued from the keys (asked for or not), checked by the planner through the issuer link
KEY_DERIVED = {ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER}

_EXTENSION_NAMES = {
    ExtensionOID.BASIC_CONSTRAINTS: "basic constraints",
    ExtensionOID.KEY_USAGE: "key usage",
    ExtensionOID.EXTENDED_KEY_USAGE: "extended_key_usage",
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: "subject alternative names",
    ExtensionOID.NAME_CONSTRAINTS: "name_constraints",
    ExtensionOID.CRL_DISTRIBUTION_POINTS: "crl_url of the issuer",
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: "ocsp_url of the issuer",
}
_EKU_NAMES = {oid: name for name, oid in EKU_OIDS.items()}
SAN_TYPES: Sequence[tuple[str, Any]] = (
    ("dns", x509.DNSName),
    ("ip", x509.IPAddress),
    ("email", x509.RFC822Name),
    ("uri", x509.UniformResourceIdentifier),
)


def differences(identity: Identity, issuer: Identity | None, cert: x509.Certificate) -> list[str]:
    """Reasons the certificate no longer matches the spec; empty when it does."""
    profile = desired(identity, issuer)
    reasons = []
    if cert.subject != profile.subject:
        reasons.append(
            f"subject: {cert.subject.rfc4514_string()} -> {profile.subject.rfc4514_string()}"
        )
    have_key = spec_of(cert.public_key())
    if have_key != identity.key:
        reasons.append(f"key: {have_key or 'unsupported type'} -> {identity.key}")
    reasons.extend(_extension_differences(profile, cert))
    return reasons


def _extension_differences(profile: Profile, cert: x509.Certificate) -> Iterator[str]:
    have = {e.oid: e for e in cert.extensions if e.oid not in KEY_DERIVED}
    want = {e.oid: e for e in profile.extensions}
    for oid in sorted(have.keys() | want.keys(), key=lambda o: o.dotted_string):
        old, new = have.get(oid), want.get(oid)
        if old == new:
            continue
        label = _EXTENSION_NAMES.get(oid, f"extension {oid.dotted_string}")
        if oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
            yield from _san_differences(old, new)
        elif oid == ExtensionOID.EXTENDED_KEY_USAGE and old is not None and new is not None:
            yield f"{label}: {_eku(old)} -> {_eku(new)}"
        elif old is None:
            yield f"{label}: added"
        elif new is None:
            yield f"{label}: removed"
        elif old.critical != new.critical and old.value == new.value:
            yield f"{label}: criticality {old.critical} -> {new.critical}"
        else:
            yield f"{label}: changed"


def _eku(ext: x509.Extension[x509.ExtensionType]) -> str:
    assert isinstance(ext.value, x509.ExtendedKeyUsage)
    return ", ".join(_EKU_NAMES.get(o, o.dotted_string) for o in ext.value)


def _san_differences(
    old: x509.Extension[x509.ExtensionType] | None,
    new: x509.Extension[x509.ExtensionType] | None,
) -> Iterator[str]:
    def names(ext: x509.Extension[x509.ExtensionType] | None, kind: Any) -> list[str]:
        if ext is None:
            return []
        assert isinstance(ext.value, x509.SubjectAlternativeName)
        return [str(v) for v in ext.value.get_values_for_type(kind)]

    for label, kind in SAN_TYPES:
        before, after = names(old, kind), names(new, kind)
        if before == after:
            continue
        added = [f"+{n}" for n in after if n not in before]
        removed = [f"-{n}" for n in before if n not in after]
        yield f"{label}: {' '.join(added + removed) or 'reordered'}"
    if old is not None and new is not None and old.critical != new.critical:
        yield "subject alternative names: criticality changed"
