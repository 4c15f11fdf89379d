"""Signed revocation data: CRLs (RFC 5280 §5) and OCSP responses for stapling (RFC 6960)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp

from pkiform.x509.crl_entry import Revoked
from pkiform.x509.issuing import authority_key_id
from pkiform.x509.keys import PrivateKey, deterministic_ecdsa, signing_hash

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
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(authority_key_id(ca_cert), critical=False)
    )
    for entry in sorted(entries):
        revoked = (
            x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.at)
        )
        # RFC 5280 §5.3.1: the reason code "unspecified" SHOULD be absent, not encoded
        if entry.reason != "unspecified":
            revoked = revoked.add_extension(x509.CRLReason(REASONS[entry.reason]), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(
        ca_key,
        signing_hash(ca_key),  # type: ignore[arg-type]
        # RFC 6979 ECDSA, so the same CRL content is the same bytes
        ecdsa_deterministic=deterministic_ecdsa(ca_key),
    )


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


def build_ocsp_response(
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    revoked: Revoked | None,
    *,
    this_update: datetime,
    next_update: datetime,
) -> ocsp.OCSPResponse:
    """A successful OCSP response for `cert`, signed by its CA directly (RFC 6960 §4.2.2.2)
    and carrying the CA's certificate. Its bytes depend on the arguments only: producedAt
    is `this_update` and the signature is deterministic (see _reproducible)."""
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
        # RFC 6960 §4.2.1 certs: a stapling server sends no root, so without it GnuTLS and
        # curl cannot verify a root-signed staple; for an intermediate it costs its size
        .certificates([ca_cert])
    )
    return _reproducible(builder.sign(ca_key, signing_hash(ca_key)), ca_key, this_update)


# the DER tags met on the way down to producedAt (X.690 §8.1.2), each one byte
_SEQUENCE = 0x30
_EXPLICIT_0 = 0xA0
_OCTET_STRING = 0x04
_BIT_STRING = 0x03
_GENERALIZED_TIME = 0x18


def _reproducible(
    response: ocsp.OCSPResponse, key: PrivateKey, produced_at: datetime
) -> ocsp.OCSPResponse:
    """`response` with producedAt set to `produced_at` and signed again deterministically.

    cryptography's OCSPResponseBuilder stamps producedAt from the clock and signs ECDSA
    with a random nonce, and takes neither as an argument. So the BasicOCSPResponse
    (RFC 6960 §4.2.1) is taken apart, its ResponseData gets the new producedAt, the
    signature is made again over it, and the envelopes are re-encoded around it."""
    status, wrapped = _children(response.public_bytes(serialization.Encoding.DER))
    response_type, octets = _children(_content(wrapped, _EXPLICIT_0))
    tbs, algorithm, _signature, *certs = _children(_content(octets, _OCTET_STRING))
    # ResponseData: version [0] (left out: v1 is its DEFAULT), responderID ([1] or [2]),
    # producedAt, responses, ...: producedAt is its only direct GeneralizedTime
    fields = _children(tbs)
    index = next(i for i, f in enumerate(fields) if f[0] == _GENERALIZED_TIME)
    fields[index] = _der(_GENERALIZED_TIME, _generalized_time(produced_at))
    tbs = _der(_SEQUENCE, b"".join(fields))
    signature = _der(_BIT_STRING, b"\0" + _sign(key, tbs))  # no unused bits
    basic = _der(_SEQUENCE, tbs + algorithm + signature + b"".join(certs))
    response_bytes = _der(_SEQUENCE, response_type + _der(_OCTET_STRING, basic))
    der = _der(_SEQUENCE, status + _der(_EXPLICIT_0, response_bytes))
    return ocsp.load_der_ocsp_response(der)


def _sign(key: PrivateKey, data: bytes) -> bytes:
    """The signature cryptography's builders make with this key, always the same bytes:
    RSA PKCS #1 v1.5 and EdDSA are deterministic, ECDSA is made so (RFC 6979)."""
    algorithm = signing_hash(key)
    if isinstance(key, rsa.RSAPrivateKey) and algorithm is not None:
        return key.sign(data, padding.PKCS1v15(), algorithm)
    if isinstance(key, ec.EllipticCurvePrivateKey) and algorithm is not None:
        deterministic = bool(deterministic_ecdsa(key))
        return key.sign(data, ec.ECDSA(algorithm, deterministic_signing=deterministic))
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key.sign(data)
    raise TypeError(f"cannot sign an OCSP response with {type(key).__name__}")


def _generalized_time(when: datetime) -> bytes:
    """RFC 5280 §4.1.2.5.2's form: UTC, whole seconds, YYYYMMDDHHMMSSZ. A naive datetime
    is UTC, as cryptography takes it."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y%m%d%H%M%SZ").encode()


def _der(tag: int, content: bytes) -> bytes:
    """One DER element (X.690 §8.1.3: short length form below 128 bytes, else long)."""
    if len(content) < 0x80:
        return bytes((tag, len(content))) + content
    size = (len(content).bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + len(content).to_bytes(size) + content


def _content(element: bytes, tag: int) -> bytes:
    """The content octets of a whole DER element with one-byte `tag`."""
    if element[0] != tag:
        raise ValueError(f"expected DER tag {tag:#04x}, found {element[0]:#04x}")
    start, end = _span(element, 0)
    if end != len(element):
        raise ValueError("DER length does not match the element")
    return element[start:end]


def _children(element: bytes) -> list[bytes]:
    """The whole DER elements inside a SEQUENCE, in order."""
    content = _content(element, _SEQUENCE)
    out, offset = [], 0
    while offset < len(content):
        _, end = _span(content, offset)
        out.append(content[offset:end])
        offset = end
    return out


def _span(data: bytes, offset: int) -> tuple[int, int]:
    """Where the content of the DER element at `offset` starts and ends (X.690 §8.1.3)."""
    length, start = data[offset + 1], offset + 2
    if length & 0x80:
        start += length & 0x7F
        length = int.from_bytes(data[offset + 2 : start])
    return start, start + length


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


def ocsp_carries(response: ocsp.OCSPResponse, ca_cert: x509.Certificate) -> bool:
    """Whether the response carries the CA's certificate, as build_ocsp_response makes it."""
    return response.certificates == [ca_cert]


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
