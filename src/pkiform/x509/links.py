"""How certificates link to their issuers, by name, key identifier and signature: what the
planner and status compare when chains may take more than one path (a cross certificate,
a root that left the spec). Pure functions of certificates."""

from __future__ import annotations

from cryptography import x509


def key_id(
    cert: x509.Certificate,
    kind: type[x509.SubjectKeyIdentifier] | type[x509.AuthorityKeyIdentifier],
) -> bytes | None:
    """The certificate's subject or authority key identifier, if it has one."""
    try:
        value = cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest
    return value.key_identifier


def names_as_issuer(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `cert` names `issuer` as its issuer, by name and key identifier (for a CA
    another tool made without an SKI, the one issuing.authority_key_id gives its key)."""
    if cert.issuer != issuer.subject:
        return False
    aki = key_id(cert, x509.AuthorityKeyIdentifier)
    ski = key_id(issuer, x509.SubjectKeyIdentifier)
    if ski is None and aki is not None:
        ski = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    return aki == ski


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` issued `cert`: named as its issuer, and its signature verifies."""
    return names_as_issuer(cert, issuer) and signature_verifies(cert, issuer)


def signature_verifies(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key signed `cert` and its subject is `cert`'s issuer name (key
    identifiers aside: another tool's chain may carry none)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, ValueError, TypeError: all mean "not issued by"
        return False
    return True


def is_root(cert: x509.Certificate) -> bool:
    """A self-issued CA certificate."""
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False
    return ca and cert.issuer == cert.subject


def pem_certs(data: bytes | None) -> list[x509.Certificate]:
    """The certificates of a PEM file's bytes; none when empty, missing or unreadable."""
    if not data:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def one_cert(data: bytes | None) -> x509.Certificate | None:
    """The certificate of a PEM file that holds exactly one readable one."""
    found = pem_certs(data)
    return found[0] if len(found) == 1 else None
