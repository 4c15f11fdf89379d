"""Certificate signing requests (PKCS#10) that a spec's `csr` names: read, checked, and
compared with what the spec says. A request contributes its public key and nothing else;
what else it asks for is reported as ignored."""

from __future__ import annotations

from collections.abc import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID

from pkiform.spec.model import Identity
from pkiform.x509.drift import KEY_DERIVED, SAN_TYPES
from pkiform.x509.keys import CURVE_NAMES, PublicKey
from pkiform.x509.profile import Profile, desired

# RSA below this is refused, as the spec refuses it (the schema's smallest size)
MIN_RSA_BITS = 2048
_PEM_REQUEST = b"-----BEGIN CERTIFICATE REQUEST-----"
_PEM_OLD_REQUEST = b"-----BEGIN NEW CERTIFICATE REQUEST-----"  # Windows certreq, Java keytool
_EXTENSION_NAMES = {
    ExtensionOID.BASIC_CONSTRAINTS: "basic constraints",
    ExtensionOID.KEY_USAGE: "key usage",
    ExtensionOID.EXTENDED_KEY_USAGE: "extended key usage",
    ExtensionOID.NAME_CONSTRAINTS: "name constraints",
    ExtensionOID.CRL_DISTRIBUTION_POINTS: "CRL distribution points",
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: "authority information access",
}


class RequestError(ValueError):
    """A file that is no usable certificate request; the message says why."""


def load_request(data: bytes) -> x509.CertificateSigningRequest:
    """A request from PEM (`openssl req -new`) or DER bytes."""
    stripped = data.lstrip()
    try:
        if stripped.startswith(_PEM_OLD_REQUEST):
            data = stripped.replace(b"NEW CERTIFICATE REQUEST", b"CERTIFICATE REQUEST")
            return x509.load_pem_x509_csr(data)
        if stripped.startswith(b"-----BEGIN "):
            if not stripped.startswith(_PEM_REQUEST):
                label = stripped.split(b"\n", 1)[0].decode("ascii", "replace").strip()
                raise RequestError(f"is not a certificate request (it starts with {label})")
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError as e:
        if isinstance(e, RequestError):
            raise
        raise RequestError(
            "is not a certificate request (PKCS#10, PEM or DER) that can be read"
        ) from None


def key_problem(key: object) -> str | None:
    """Why pkiform would not sign (or sign with) this key, or None: the key types a spec can
    ask for (RSA of at least 2048 bits, P-256, P-384, P-521, Ed25519, Ed448)."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            return (
                f"holds an RSA key of {key.key_size} bits; pkiform accepts RSA keys of at "
                f"least {MIN_RSA_BITS} bits"
            )
        return None
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if key.curve.name not in CURVE_NAMES:
            return (
                f"holds an EC key on curve {key.curve.name}; pkiform accepts P-256, P-384 and P-521"
            )
        return None
    if isinstance(key, _EDWARDS):
        return None
    # DSA named by its class: cryptography deprecates the module itself
    kind = "a DSA key" if "DSA" in type(key).__name__ else "a key"
    return (
        f"holds {kind} pkiform cannot use; it accepts RSA (2048 bits or more), EC (P-256, "
        "P-384, P-521), Ed25519 and Ed448 keys"
    )


_EDWARDS = (
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


def request_problem(csr: x509.CertificateSigningRequest) -> str | None:
    """Why the request cannot be signed, or None: its key must be one pkiform accepts, and
    its signature must verify with that key (proof that whoever made it holds the key)."""
    try:
        key = csr.public_key()
    except (ValueError, TypeError):  # a key type cryptography does not know
        return "holds a public key pkiform cannot read"
    problem = key_problem(key)
    if problem is not None:
        return problem
    try:
        valid = csr.is_signature_valid
    except (ValueError, TypeError):
        valid = False
    if not valid:
        return (
            "has a signature that does not verify with its own key: it was altered, or "
            "made without the private key (proof of possession fails)"
        )
    return None


def public_key(csr: x509.CertificateSigningRequest) -> PublicKey:
    """The key a checked request (request_problem) asks to certify."""
    key = csr.public_key()
    assert isinstance(key, _SIGNABLE), "request_problem refuses other keys first"
    return key


_SIGNABLE = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


def request_pem(csr: x509.CertificateSigningRequest) -> bytes:
    """csr.pem: the request as PEM, whatever encoding it came in."""
    return csr.public_bytes(serialization.Encoding.PEM)


def ignored(
    csr: x509.CertificateSigningRequest, ident: Identity, issuer: Identity | None
) -> list[str]:
    """What the request asks for that the certificate will not carry (another subject,
    names, extensions), each in words; empty when it asks for nothing more."""
    profile = desired(ident, issuer)
    found = []
    if len(csr.subject) and csr.subject != profile.subject:
        found.append(
            f"subject {csr.subject.rfc4514_string()} (the certificate's is "
            f"{profile.subject.rfc4514_string()})"
        )
    try:
        extensions = list(csr.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return [*found, "extensions that cannot be read"]
    found += _ignored_extensions(extensions, profile)
    return found


def _ignored_extensions(
    extensions: list[x509.Extension[x509.ExtensionType]], profile: Profile
) -> Iterator[str]:
    wanted = {e.oid: e for e in profile.extensions}
    others = []
    for ext in extensions:
        if ext.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
            yield from _ignored_names(ext.value, wanted.get(ext.oid))
        elif ext.oid not in KEY_DERIVED and wanted.get(ext.oid) != ext:
            others.append(_EXTENSION_NAMES.get(ext.oid, f"extension {ext.oid.dotted_string}"))
    if others:
        yield f"{', '.join(others)} (the certificate's come from the spec)"


def _ignored_names(
    requested: x509.ExtensionType, given: x509.Extension[x509.ExtensionType] | None
) -> Iterator[str]:
    assert isinstance(requested, x509.SubjectAlternativeName)
    have = given.value if given is not None else x509.SubjectAlternativeName([])
    assert isinstance(have, x509.SubjectAlternativeName)
    for label, kind in SAN_TYPES:
        extra = [
            str(n)
            for n in requested.get_values_for_type(kind)
            if n not in have.get_values_for_type(kind)
        ]
        if extra:
            yield f"{label} {', '.join(extra)} (not in the spec)"
    others = [n for n in requested if not isinstance(n, tuple(k for _, k in SAN_TYPES))]
    if others:
        yield f"{len(others)} other subject alternative name(s) (not in the spec)"
