"""An existing CA a spec adopts: its certificate, key and the chain above it, read and
checked (x509/adopted_fields.py completes the spec from the certificate)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pkiform.spec.model import Kind
from pkiform.x509.keys import PrivateKey, spki_der
from pkiform.x509.links import signature_verifies
from pkiform.x509.requests import key_problem

_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


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
    PKCS#8; `password` opens an encrypted one. Raises InputError saying what is wrong.
    RSA's slow self-check is skipped, as keys.load_pem skips it: the key must match the
    certificate (adoption checks it), and every RSA signature is verified (issuing)."""
    encrypted = is_encrypted_key(data)
    if encrypted and password is None:
        raise InputError("is encrypted; give its password with password_env or password_file")
    pem = data.lstrip().startswith(b"-----BEGIN ")
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        key = loader(data, password if encrypted else None, unsafe_skip_rsa_key_validation=True)
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
    if kind is Kind.ROOT and not signature_verifies(cert, cert):
        issuer = cert.issuer.rfc4514_string()
        return (
            f"is not a root: it is not self-signed (its issuer is {issuer or 'empty'}); "
            "adopt it as an intermediate"
        )
    return None


def key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    return spki_der(key.public_key()) == spki_der(cert.public_key())


def chain_problem(cert: x509.Certificate, chain: list[x509.Certificate]) -> str | None:
    """Why `chain` is not the certificates above `cert`, nearest first, up to a
    self-signed root, or None."""
    if not chain:
        return "holds no certificate"
    for child, parent in zip([cert, *chain], chain, strict=False):
        if not signature_verifies(child, parent):
            who = child.subject.rfc4514_string()
            return (
                f"does not go up from {who!r}: {parent.subject.rfc4514_string()!r} did not sign it"
            )
    if not signature_verifies(chain[-1], chain[-1]):
        return "does not end with a self-signed root"
    return None


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
