"""The PEM (and DER) files every identity has, made from certificates: cert.pem,
chain.pem, fullchain.pem, ca.pem, trust-bundle.pem, a CA's crl.pem and crl.der, and a
new root's cross.pem."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pkiform.formats import git_files
from pkiform.layout import (
    CA_FILE,
    CERT_FILE,
    CHAIN_FILE,
    CRL_DER,
    CRL_PEM,
    FULLCHAIN_FILE,
    TRUST_BUNDLE,
)
from pkiform.spec.model import IdentityName


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def derived_files(
    cert: x509.Certificate,
    issuer_chain: Sequence[x509.Certificate],
    *,
    cross: x509.Certificate | None = None,
    partners: Sequence[x509.Certificate] = (),
) -> dict[str, bytes]:
    """cert.pem, chain.pem, fullchain.pem and ca.pem for a certificate and the certificates
    of its issuers, nearest first (empty for a root). In a root rotation (spec/rotation.py)
    chain.pem ends with the `cross` certificate of its new root, and ca.pem holds the
    `partners` (the other root) after its own root."""
    root = issuer_chain[-1] if issuer_chain else cert
    above = [*issuer_chain[:-1], *([cross] if cross is not None else [])]  # root excluded
    chain_pem = b"".join(cert_pem(c) for c in above)
    own = cert_pem(cert)
    return {
        CERT_FILE: own,
        CHAIN_FILE: chain_pem,
        FULLCHAIN_FILE: own + chain_pem,
        CA_FILE: b"".join(cert_pem(c) for c in (root, *partners)),
    }


def trust_bundle(anchors: Mapping[IdentityName, x509.Certificate]) -> bytes:
    """trust-bundle.pem: the root certificates of `anchors` (plan/adopted.trust_anchors),
    in the order of the names of the identities they anchor, each once."""
    pems = [cert_pem(anchors[name]) for name in sorted(anchors)]
    return b"".join(dict.fromkeys(pems))


def trust_bundle_problem(
    have: bytes | None, anchors: Mapping[IdentityName, x509.Certificate | None]
) -> str | None:
    """Why trust-bundle.pem does not hold the roots it should, or None (also when a root
    has no certificate yet: the bundle is made after it is issued)."""
    certs = {n: c for n, c in anchors.items() if c is not None}
    wanted = trust_bundle(certs)
    if len(certs) != len(anchors) or have == wanted:
        return None
    if have is None:
        return f"{TRUST_BUNDLE} is missing"
    if git_files.crlf_only(have, wanted):
        return f"{TRUST_BUNDLE} {git_files.CRLF_REASON}"
    return f"{TRUST_BUNDLE} is out of date"


def crl_files(crl: x509.CertificateRevocationList) -> dict[str, bytes]:
    """crl.pem and crl.der: the same CRL, for readers of either encoding."""
    return {
        CRL_PEM: crl.public_bytes(serialization.Encoding.PEM),
        CRL_DER: crl.public_bytes(serialization.Encoding.DER),
    }
