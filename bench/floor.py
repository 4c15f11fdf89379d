"""The floor script: issue a benchmark shape with pyca/cryptography and nothing else.

Same keys, same extensions and hashes as pkiform's profile (src/pkiform/profile.py
and issuing.py), one process, and per identity only OUT/<name>/key.pem (PKCS#8) and
cert.pem, written plainly: no fsync, no validation, no chain files, no manifest.
It must not import pkiform: it is what pkiform is measured against.

Usage: python bench/floor.py SHAPE OUT
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import specs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = CertificateIssuerPrivateKeyTypes
Extensions = list[tuple[x509.ExtensionType, bool]]  # (value, critical)

# RSA and P-256 signers both sign with SHA-256 in pkiform's profile
HASH = hashes.SHA256()
BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Issuer:
    name: x509.Name
    key: PrivateKey
    aki: x509.AuthorityKeyIdentifier


def generate(key: specs.Key) -> PrivateKey:
    if key.type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key.bits)
    assert key.bits == 256, "only P-256 is benchmarked"
    return ec.generate_private_key(ec.SECP256R1())


def subject(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, specs.ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def key_usage(*, ca: bool, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def ca_extensions(path_length: int | None) -> Extensions:
    return [
        (x509.BasicConstraints(ca=True, path_length=path_length), True),
        (key_usage(ca=True), True),
    ]


def leaf_extensions(index: int, key: specs.Key) -> Extensions:
    server = specs.leaf_is_server(index)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (key_usage(ca=False, key_encipherment=server and key.type == "rsa"), True),
        (x509.ExtendedKeyUsage([usage]), False),
        (x509.SubjectAlternativeName([x509.DNSName(specs.leaf_dns(index))]), False),
    ]


def certificate(
    name: x509.Name,
    key: PrivateKey,
    extensions: Extensions,
    issuer: Issuer | None,
    not_before: datetime,
    validity: timedelta,
) -> x509.Certificate:
    """Sign `key`'s certificate with `issuer`, or self-signed when it is None."""
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.name if issuer else name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + BACKDATE + validity)
    )
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
    if issuer is not None:
        builder = builder.add_extension(issuer.aki, critical=False)
    return builder.sign(issuer.key if issuer else key, HASH)


def as_issuer(cert: x509.Certificate, key: PrivateKey) -> Issuer:
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
    return Issuer(name=cert.subject, key=key, aki=aki)


def write(out: Path, name: str, key: PrivateKey, cert: x509.Certificate) -> None:
    folder = out / name
    folder.mkdir(parents=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (folder / "key.pem").write_bytes(pem)
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def issue_ca(out: Path, name: str, key: specs.Key, parent: Issuer | None, now: datetime) -> Issuer:
    private = generate(key)
    validity = specs.ROOT_VALIDITY if parent is None else specs.INTERMEDIATE_VALIDITY
    path_length = None if parent is None else 0
    cert = certificate(subject(name), private, ca_extensions(path_length), parent, now, validity)
    write(out, name, private, cert)
    return as_issuer(cert, private)


def issue_leaf(out: Path, index: int, key: specs.Key, issuer: Issuer, now: datetime) -> None:
    name = specs.leaf_name(index)
    private = generate(key)
    exts = leaf_extensions(index, key)
    cert = certificate(subject(name), private, exts, issuer, now, specs.LEAF_VALIDITY)
    write(out, name, private, cert)


def main(argv: list[str]) -> int:
    shape = specs.SHAPES[argv[0]]
    out = Path(argv[1])
    now = datetime.now(UTC).replace(microsecond=0) - BACKDATE
    root = issue_ca(out, specs.ROOT, shape.root_key, None, now)
    issuing = issue_ca(out, specs.INTERMEDIATE, shape.intermediate_key, root, now)
    for index in range(1, shape.leaves + 1):
        issue_leaf(out, index, shape.leaf_key, issuing, now)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
