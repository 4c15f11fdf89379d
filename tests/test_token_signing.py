"""Certificates, CRLs and OCSP responses signed by CA keys in a SoftHSM2 token, through
pkiform's own issuing and revocation code, judged by OpenSSL; each with a tampered twin."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pkiform.spec import resolve
from pkiform.spec.model import IdentityName, KeySpec, KeyType, ResolvedSpec
from pkiform.spec.source import load_text
from pkiform.x509 import issuing, keys, profile, revocation
from pkiform.x509.crl_entry import Revoked
from pkiform.x509.issuing import Signer
from pkiform.x509.token_changes import generate_key
from pkiform.x509.token_keys import TokenKey
from pkiform.x509.token_session import TokenRun
from tests.helpers.softhsm import PIN, SoftHsm, softhsm  # noqa: F401  (a fixture
from tests.helpers.specs import KEY_TYPES
from tests.helpers.tools import openssl

SPEC = """\
version: 1
identities:
  root: {{kind: root, key: {root}, subject: {{CN: Token Root CA}}, validity: 1y}}
  issuing:
    kind: intermediate
    issuer: root
    key: {issuing}
    subject: {{CN: Token Issuing CA}}
    validity: 30d
    ocsp: true
  web: {{kind: server, issuer: issuing, dns: [web.example.com], validity: 7d}}
"""


P256 = KeySpec(type=KeyType.EC, curve="P-256")


def flow(name: str) -> str:
    """A key type of tests/conftest.py's table as YAML flow text."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in KEY_TYPES[name].items()) + "}"


@dataclass
class Issued:
    root: x509.Certificate
    issuing: x509.Certificate
    web: x509.Certificate
    crl: x509.CertificateRevocationList
    ocsp: x509.ocsp.OCSPResponse
    files: Path

    def write(self, name: str, data: bytes) -> Path:
        path = self.files / name
        path.write_bytes(data)
        return path

    def pem(self, name: str, cert: x509.Certificate) -> Path:
        return self.write(name, cert.public_bytes(serialization.Encoding.PEM))


def issue_with_token(
    hsm: SoftHsm, request: pytest.FixtureRequest, root: str, ca: str, files: Path
) -> Issued:
    """root and issuing CA keys made in the token; web's key in software; a CRL that
    lists web and an OCSP response for it, both signed by the issuing CA's token key."""
    spec: ResolvedSpec
    spec, problems = resolve.build(load_text(SPEC.format(root=flow(root), issuing=flow(ca)), "t"))
    assert problems == []
    ids = {name: spec.identities[IdentityName(name)] for name in ("root", "issuing", "web")}
    now = datetime.now(UTC)
    with TokenRun() as run:
        made: dict[str, TokenKey] = {}
        for name in ("root", "issuing"):
            uri = hsm.uri(hsm.label(request))
            made[name] = generate_key(run.login(uri, PIN), uri, ids[name].key, now=now)
        root_key, ca_key = made["root"].private_key, made["issuing"].private_key
        root_cert = issuing.issue(
            ids["root"], profile.desired(ids["root"], None), root_key, None, now
        )
        ca_cert = issuing.issue(
            ids["issuing"],
            profile.desired(ids["issuing"], ids["root"]),
            ca_key,
            Signer(cert=root_cert, key=root_key),
            now,
        )
        web_cert = issuing.issue(
            ids["web"],
            profile.desired(ids["web"], ids["issuing"]),
            keys.generate(ids["web"].key),
            Signer(cert=ca_cert, key=ca_key),
            now,
        )
        entry = Revoked(serial=web_cert.serial_number, at=now, reason="keyCompromise")
        week = now + timedelta(days=7)
        crl = revocation.build_crl(
            ca_cert, ca_key, [entry], number=1, this_update=now, next_update=week
        )
        response = revocation.build_ocsp_response(
            web_cert, ca_cert, ca_key, None, this_update=now, next_update=week
        )
    return Issued(root_cert, ca_cert, web_cert, crl, response, files)


CHAINS = [("p384", "rsa2048"), ("ed25519", "p256"), ("rsa2048", "ed25519"), ("p521", "ed448")]


@pytest.fixture(params=CHAINS, ids=["-".join(chain) for chain in CHAINS])
def issued(
    request: pytest.FixtureRequest,
    softhsm: SoftHsm,  # noqa: F811
    tmp_path: Path,
) -> Iterator[Issued]:
    root, ca = request.param
    yield issue_with_token(softhsm, request, root, ca, tmp_path)


def tampered(der: bytes, signature: bytes) -> bytes:
    """The DER with one bit of its signature flipped."""
    at = der.index(signature) + len(signature) // 2
    return der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]


def test_openssl_verifies_the_chain_the_token_keys_signed(issued: Issued) -> None:
    root, ca = issued.pem("root.pem", issued.root), issued.pem("ca.pem", issued.issuing)
    web = issued.pem("web.pem", issued.web)
    result = openssl("verify", "-CAfile", root, "-untrusted", ca, web)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f"{web}: OK\n"
    # the twin: the same certificate with a flipped bit in the signature
    der = tampered(issued.web.public_bytes(serialization.Encoding.DER), issued.web.signature)
    bad = issued.pem("bad.pem", x509.load_der_x509_certificate(der))
    result = openssl("verify", "-CAfile", root, "-untrusted", ca, bad)
    assert result.returncode != 0
    assert "certificate signature failure" in result.stderr.decode()


def test_openssl_verifies_the_crl_the_token_key_signed(issued: Issued) -> None:
    ca = issued.pem("ca.pem", issued.issuing)
    crl = issued.write("crl.pem", issued.crl.public_bytes(serialization.Encoding.PEM))
    result = openssl("crl", "-in", crl, "-noout", "-CAfile", ca)
    assert result.stderr.decode() == "verify OK\n"
    # and a verifier that checks revocation finds web revoked by it
    root, web = issued.pem("root.pem", issued.root), issued.pem("web.pem", issued.web)
    args = ["verify", "-crl_check", "-CRLfile", crl, "-CAfile", root, "-untrusted", ca, web]
    result = openssl(*args)
    assert "certificate revoked" in result.stderr.decode()
    # the twin: a flipped bit in the CRL's signature
    der = tampered(issued.crl.public_bytes(serialization.Encoding.DER), issued.crl.signature)
    bad = issued.write(
        "bad.crl", x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
    )
    assert openssl("crl", "-in", bad, "-noout", "-CAfile", ca).stderr.decode() == "verify failure\n"


def test_openssl_verifies_the_ocsp_response_the_token_key_signed(issued: Issued) -> None:
    root, ca = issued.pem("root.pem", issued.root), issued.pem("ca.pem", issued.issuing)
    der = issued.ocsp.public_bytes(serialization.Encoding.DER)
    response = issued.write("ocsp.der", der)
    args = ["ocsp", "-respin", response, "-no_nonce", "-CAfile", root, "-verify_other", ca]
    result = openssl(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode() == "Response verify OK\n"
    # the twin: a flipped bit in the response's signature
    args[2] = issued.write("bad.der", tampered(der, issued.ocsp.signature))
    result = openssl(*args)
    assert result.returncode != 0
    assert "Response Verify Failure" in result.stderr.decode()


def test_an_ec_token_key_refuses_rfc6979_and_signs_with_the_tokens_nonce(
    softhsm: SoftHsm,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    """cryptography hands a Python key's sign() the builders' ecdsa_deterministic flag:
    the token cannot honour it, so keys.deterministic_ecdsa answers None for it."""
    uri = softhsm.uri(softhsm.label(request))
    with TokenRun() as run:
        key = generate_key(run.login(uri, PIN), uri, P256, now=datetime.now(UTC))
        signer = key.private_key
        assert isinstance(signer, ec.EllipticCurvePrivateKey)
        with pytest.raises(UnsupportedAlgorithm) as caught:
            signer.sign(b"data", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        assert str(caught.value) == (
            "a token EC key cannot sign deterministically (RFC 6979): the token chooses "
            "the nonce; pass deterministic_signing=False"
        )
        assert keys.deterministic_ecdsa(signer) is None
        one = signer.sign(b"data", ec.ECDSA(hashes.SHA256()))
        two = signer.sign(b"data", ec.ECDSA(hashes.SHA256()))
        assert one != two
        for signature in (one, two):
            key.public_key.verify(signature, b"data", ec.ECDSA(hashes.SHA256()))
