"""Signed revocation data: CRLs (RFC 5280 §5) and OCSP responses for stapling (RFC 6960)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp

from pkiform.keys import PrivateKey, spec_of
from pkiform.profile import hash_for

REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}
_REASON_NAMES = {flag: name for name, flag in REASONS.items()}


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Revoked:
    """One CRL entry."""

    serial: int
    at: datetime
    reason: str  # a key of REASONS


def _signing_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    spec = spec_of(key.public_key())
    assert spec is not None
    return hash_for(spec)


def build_crl(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    entries: Iterable[Revoked],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """A version 2 CRL with a CRL number, the CA's key identifier and a reason per entry."""
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    for entry in sorted(entries):
        revoked = (
            x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.at)
        )
        # RFC 5280 §5.3.1: the reason code "unspecified" SHOULD be absent, not encoded
        if entry.reason != "unspecified":
            revoked = revoked.add_extension(x509.CRLReason(REASONS[entry.reason]), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(ca_key, _signing_hash(ca_key))  # type: ignore[arg-type]


def crl_entries(crl: x509.CertificateRevocationList) -> set[Revoked]:
    """The entries of a CRL, read back."""
    out = set()
    for revoked in crl:
        try:
            flag = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
            reason = _REASON_NAMES.get(flag, "unspecified")
        except x509.ExtensionNotFound:
            reason = "unspecified"
        out.add(
            Revoked(serial=revoked.serial_number, at=revoked.revocation_date_utc, reason=reason)
        )
    return out


def crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def crl_signed_by(crl: x509.CertificateRevocationList, ca_cert: x509.Certificate) -> bool:
    try:
        return crl.issuer == ca_cert.subject and crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]
    except (InvalidSignature, TypeError, ValueError):
        return False


def crl_files(crl: x509.CertificateRevocationList) -> dict[str, bytes]:
    return {
        "crl.pem": crl.public_bytes(serialization.Encoding.PEM),
        "crl.der": crl.public_bytes(serialization.Encoding.DER),
    }


def build_ocsp_response(
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    revoked: Revoked | None,
    *,
    this_update: datetime,
    next_update: datetime,
) -> ocsp.OCSPResponse:
    """A successful OCSP response for `cert`, signed by its CA directly (RFC 6960 §4.2.2.2)."""
    status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=ca_cert,
            # the CertID hash: SHA-1 is what every client looks up stapled responses by
            algorithm=hashes.SHA1(),
            cert_status=status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revoked.at if revoked else None,
            revocation_reason=REASONS[revoked.reason] if revoked else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca_cert)
    )
    return builder.sign(ca_key, _signing_hash(ca_key))


def ocsp_signed_by(response: ocsp.OCSPResponse, ca_cert: x509.Certificate) -> bool:
    """Whether the CA's current key signed this response."""
    key = ca_cert.public_key()
    data, signature = response.tbs_response_bytes, response.signature
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def ocsp_status(response: ocsp.OCSPResponse) -> str:
    """`good`, `revoked` or `unknown`, as `openssl ocsp` prints it."""
    return response.certificate_status.name.lower()


def ocsp_revocation(response: ocsp.OCSPResponse) -> tuple[str, datetime] | None:
    """The reason and time a `revoked` response gives, or None for any other status."""
    if response.certificate_status is not ocsp.OCSPCertStatus.REVOKED:
        return None
    when = response.revocation_time_utc
    assert when is not None  # RFC 6960 §4.2.1: revocationTime is not optional
    flag = response.revocation_reason
    return (_REASON_NAMES.get(flag, "unspecified") if flag else "unspecified"), when
