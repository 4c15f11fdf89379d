"""bundle.p12 and truststore.p12: write them, and read back what one holds and how it is
encrypted, so that a file whose contents are already right is left as it is (its salts
are random: two writes of the same contents never give the same bytes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from pkiform.x509.keys import PrivateKey, spki_der

# PBKDF2 rounds for the AES-256 scheme: five times keytool's own default (10,000 since
# JDK 12) and far above OpenSSL's 2048, yet ~8 ms per encrypted part to write or check
# (a bundle has two), so a no-op apply over many bundles stays quick
MODERN_ROUNDS = 50_000
# the 3DES scheme exists for old readers: keep what they were built for (OpenSSL -legacy)
LEGACY_ROUNDS = 2048
# the iterations that derive the MAC's key, in either scheme: cryptography fixes them
# (no builder setting, 45.0.1 to 51.0.1), and a password guess is checked against the MAC
# at that cost, not MODERN_ROUNDS. Not a setting: the figure README states, measured on
# the files written by tests/test_outputs.py
MAC_ROUNDS = 2048


class Encryption(StrEnum):
    MODERN = "AES-256-CBC, PBKDF2-SHA256, HMAC-SHA256"
    LEGACY = "3DES, SHA-1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Contents:
    """What a PKCS#12 file holds: equal Contents mean there is nothing to rewrite."""

    key: bytes | None  # the SubjectPublicKeyInfo of its private key, if it has one
    certs: tuple[tuple[bytes, bytes | None], ...]  # (DER, friendly name), the key's first
    encryption: Encryption | None  # None: some other scheme


def _encryption(password: bytes, legacy: bool) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = (
            builder.kdf_rounds(LEGACY_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
        )
    else:
        builder = (
            builder.kdf_rounds(MODERN_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    return builder.build(password)


def bundle(
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    issuers: Sequence[x509.Certificate],
    password: bytes,
    *,
    legacy: bool,
) -> bytes:
    """The private key, its certificate (friendly name `name`) and the issuers above it."""
    return pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,  # type: ignore[arg-type]  # every type pkiform issues is a PKCS#12 key type
        cert,
        list(issuers) or None,
        _encryption(password, legacy),
    )


def truststore(
    anchors: Sequence[tuple[str, x509.Certificate]], password: bytes, *, legacy: bool
) -> bytes:
    """Certificates only, each marked as trusted the way Java's keystore wants it (an
    Oracle trustedKeyUsage attribute: without it keytool lists no entry at all)."""
    return pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(cert, alias.encode()) for alias, cert in anchors],
        _encryption(password, legacy),
    )


def expected_bundle(
    name: str, cert: x509.Certificate, issuers: Sequence[x509.Certificate], *, legacy: bool
) -> Contents:
    return Contents(
        key=spki_der(cert.public_key()),
        certs=((_der(cert), name.encode()), *((_der(c), None) for c in issuers)),
        encryption=Encryption.LEGACY if legacy else Encryption.MODERN,
    )


def expected_truststore(
    anchors: Sequence[tuple[str, x509.Certificate]], *, legacy: bool
) -> Contents:
    return Contents(
        key=None,
        certs=tuple((_der(cert), alias.encode()) for alias, cert in anchors),
        encryption=Encryption.LEGACY if legacy else Encryption.MODERN,
    )


def read(data: bytes, password: bytes) -> Contents:
    """Open a PKCS#12 file; ValueError when it does not open with `password`."""
    opened = pkcs12.load_pkcs12(data, password)
    certs = ([opened.cert] if opened.cert else []) + list(opened.additional_certs)
    return Contents(
        key=spki_der(opened.key.public_key()) if opened.key is not None else None,  # type: ignore[arg-type]
        certs=tuple((_der(c.certificate), c.friendly_name) for c in certs),
        encryption=encryption_of(data),
    )


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# -- telling the encryption scheme from the file's structure (RFC 7292) ---------------------


def _oid(dotted: str) -> bytes:
    """The DER content octets of an OBJECT IDENTIFIER (X.690 §8.19)."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for number in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


_DATA = _oid("1.2.840.113549.1.7.1")
_ENCRYPTED_DATA = _oid("1.2.840.113549.1.7.6")
_SHROUDED_KEY_BAG = _oid("1.2.840.113549.1.12.10.1.2")
_PBE_3DES = _oid("1.2.840.113549.1.12.1.3")  # pbeWithSHAAnd3-KeyTripleDES-CBC
_PBES2 = _oid("1.2.840.113549.1.5.13")
_PBKDF2 = _oid("1.2.840.113549.1.5.12")
_HMAC_SHA256 = _oid("1.2.840.113549.2.9")
_AES256_CBC = _oid("2.16.840.1.101.3.4.1.42")
_SHA256 = _oid("2.16.840.1.101.3.4.2.1")
_SHA1 = _oid("1.3.14.3.2.26")

_Element = tuple[int, bytes]  # (tag, content octets)


def _parse(data: bytes) -> list[_Element]:
    """The DER elements one after another in `data` (definite lengths only, as DER has)."""
    out, pos = [], 0
    while pos < len(data):
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            size = length & 0x7F
            if not 0 < size <= 4:
                raise ValueError("unsupported DER length")
            length = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        if pos + length > len(data):
            raise ValueError("truncated DER")
        out.append((tag, data[pos : pos + length]))
        pos += length
    return out


def _inside(element: _Element) -> list[_Element]:
    return _parse(element[1])


def _scheme(algorithm: _Element) -> Encryption | None:
    """Which of pkiform's two schemes a PBE AlgorithmIdentifier is, if either."""
    oid, *params = _inside(algorithm)
    if oid[1] == _PBE_3DES:
        return Encryption.LEGACY
    if oid[1] != _PBES2 or not params:
        return None
    kdf, cipher = _inside(params[0])[:2]
    kdf_oid, kdf_params = _inside(kdf)[:2]
    prf = [e for e in _inside(kdf_params) if e[0] == 0x30]  # absent: HMAC-SHA1
    modern = (
        kdf_oid[1] == _PBKDF2
        and bool(prf)
        and _inside(prf[0])[0][1] == _HMAC_SHA256
        and _inside(cipher)[0][1] == _AES256_CBC
    )
    return Encryption.MODERN if modern else None


def encryption_of(data: bytes) -> Encryption | None:
    """MODERN or LEGACY when the MAC and every encrypted part use that scheme, else None."""
    try:
        _version, auth_safe, mac_data = _inside(_parse(data)[0])[:3]
        mac = _inside(_inside(_inside(mac_data)[0])[0])[0][1]
        content = _inside(_inside(auth_safe)[1])[0][1]  # [0] EXPLICIT OCTET STRING
        schemes = []
        for info in _inside(_parse(content)[0]):
            kind, wrapped = _inside(info)[:2]
            if kind[1] == _ENCRYPTED_DATA:
                encrypted_content_info = _inside(_inside(wrapped)[0])[1]
                schemes.append(_scheme(_inside(encrypted_content_info)[1]))
            elif kind[1] == _DATA:
                safe_contents = _parse(_inside(wrapped)[0][1])[0]
                for bag in _inside(safe_contents):
                    bag_id, value = _inside(bag)[:2]
                    if bag_id[1] == _SHROUDED_KEY_BAG:
                        schemes.append(_scheme(_inside(_inside(value)[0])[0]))
    except (ValueError, IndexError):
        return None
    wanted = {_SHA256: Encryption.MODERN, _SHA1: Encryption.LEGACY}.get(mac)
    return wanted if schemes and all(s is wanted for s in schemes) else None
