"""The certificate profile: what a certificate for an identity must contain.

Both issuing (which signs these values) and the planner (which compares them
with what is on disk) use this module, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from pkiform.spec.model import Identity, KeyType, Kind, NameSet

NAME_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}

EKU_OIDS = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
_DEFAULT_EKU = {Kind.SERVER: ("serverAuth",), Kind.CLIENT: ("clientAuth",)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """The desired subject and extensions of one certificate, keys aside (SKI and AKI
    follow from the keys themselves and are added at signing time)."""

    subject: x509.Name
    extensions: tuple[x509.Extension[x509.ExtensionType], ...]


def subject_name(identity: Identity) -> x509.Name:
    return x509.Name([x509.NameAttribute(NAME_OIDS[f], v) for f, v in identity.subject])


def _ext(value: x509.ExtensionType, *, critical: bool) -> x509.Extension[x509.ExtensionType]:
    return x509.Extension(value.oid, critical, value)


def desired(identity: Identity, issuer: Identity | None) -> Profile:
    """Everything the spec says a certificate for `identity` must contain."""
    exts = []
    if identity.kind.is_ca:
        exts.append(
            _ext(x509.BasicConstraints(ca=True, path_length=identity.path_length), critical=True)
        )
        # digitalSignature only where the CA itself signs OCSP responses (design.md §2)
        exts.append(_ext(_key_usage(cert_sign=True, sign_ocsp=identity.ocsp), critical=True))
        nc = identity.name_constraints
        if nc is not None and (nc.permitted or nc.excluded):
            # RFC 5280 §4.2.1.10: conforming CAs MUST mark this extension critical
            exts.append(
                _ext(
                    x509.NameConstraints(
                        permitted_subtrees=_subtrees(nc.permitted),
                        excluded_subtrees=_subtrees(nc.excluded),
                    ),
                    critical=True,
                )
            )
    else:
        encipher = identity.kind is Kind.SERVER and identity.key.type is KeyType.RSA
        exts.append(_ext(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        exts.append(_ext(_key_usage(key_encipherment=encipher), critical=True))
        usages = identity.extended_key_usage or _DEFAULT_EKU[identity.kind]
        exts.append(_ext(x509.ExtendedKeyUsage([_eku_oid(u) for u in usages]), critical=False))
        sans = _general_names(identity)
        if sans:
            exts.append(_ext(x509.SubjectAlternativeName(sans), critical=False))
    if issuer is not None and issuer.crl_url:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(issuer.crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        exts.append(_ext(x509.CRLDistributionPoints([point]), critical=False))
    if issuer is not None and issuer.ocsp_url:
        access = x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP,
            x509.UniformResourceIdentifier(issuer.ocsp_url),
        )
        exts.append(_ext(x509.AuthorityInformationAccess([access]), critical=False))
    return Profile(subject=subject_name(identity), extensions=tuple(exts))


def _key_usage(
    *, cert_sign: bool = False, key_encipherment: bool = False, sign_ocsp: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign or sign_ocsp,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _eku_oid(usage: str) -> ObjectIdentifier:
    return EKU_OIDS.get(usage) or ObjectIdentifier(usage)


def _general_names(identity: Identity) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in identity.dns]
    names += [x509.IPAddress(a) for a in identity.ip]
    names += [x509.RFC822Name(e) for e in identity.email]
    names += [x509.UniformResourceIdentifier(u) for u in identity.uri]
    return names


def _subtrees(names: NameSet) -> list[x509.GeneralName] | None:
    trees: list[x509.GeneralName] = [x509.DNSName(n) for n in names.dns]
    trees += [x509.IPAddress(n) for n in names.ip]
    trees += [x509.RFC822Name(e) for e in names.email]
    # an empty subtree list is not allowed in DER; None leaves the field out
    return trees or None
