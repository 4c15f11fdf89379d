"""Key pairs: generate one for a KeySpec, serialize, load, and say what a key is."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)

from pkiform.spec.model import KeySpec, KeyType
from pkiform.x509.token_signers import TokenBacked

PrivateKey = CertificateIssuerPrivateKeyTypes
PublicKey = CertificatePublicKeyTypes

RSA_E = 65537  # the public exponent of every RSA key pkiform makes

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
# the spec's curve label of each curve cryptography names
CURVE_NAMES: dict[str, str] = {cls().name: label for label, cls in CURVES.items()}


_SUPPORTED = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


class KeyLoadError(ValueError):
    """key.pem is not a private key pkiform can use."""


class KeyLocked(KeyLoadError):
    """key.pem is encrypted and no password was given to open it."""


class KeyRefused(KeyLoadError):
    """key.pem is encrypted and does not open with the password given."""


_ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"

# the PBKDF2 iteration count of an encrypted key.pem: what BestAvailableEncryption gives
# (OpenSSL's PKCS5_DEFAULT_ITER), which no API raises: PrivateFormat.PKCS8 has no
# encryption_builder in cryptography 45.0.1 to 51.0.1. Not a setting: the figure README
# states, measured on the files written by tests/test_outputs.py
PKCS8_ROUNDS = 2048


def generate(spec: KeySpec) -> PrivateKey:
    """A fresh private key of the spec's type."""
    if spec.type is KeyType.RSA:
        assert spec.size is not None
        return rsa.generate_private_key(public_exponent=RSA_E, key_size=spec.size)
    if spec.type is KeyType.EC:
        assert spec.curve is not None
        return ec.generate_private_key(CURVES[spec.curve]())
    if spec.type is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return ed448.Ed448PrivateKey.generate()


def hash_for(signer: KeySpec) -> hashes.HashAlgorithm | None:
    """The hash that goes with the signing key; EdDSA signs without a separate one."""
    if signer.type is KeyType.EC:
        return {"P-256": hashes.SHA256(), "P-384": hashes.SHA384()}.get(
            signer.curve or "", hashes.SHA512()
        )
    if signer.type is KeyType.RSA:
        return hashes.SHA256()
    return None


def signing_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    """The hash a signature made with `key` uses (design.md §2)."""
    spec = spec_of(key.public_key())
    assert spec is not None  # pkiform loads and makes only the key types it issues
    return hash_for(spec)


def deterministic_ecdsa_supported() -> bool:
    """RFC 6979 needs OpenSSL 3.2+: cryptography's wheels bundle it, distro builds may not."""
    from cryptography.hazmat.backends.openssl.backend import backend

    return bool(backend.ecdsa_deterministic_supported())


def deterministic_ecdsa(key: PrivateKey) -> bool | None:
    """cryptography's `ecdsa_deterministic=` for a signer: RFC 6979 nonces for EC keys
    where OpenSSL has them, so equal input gives an equal signature and none depends on
    the RNG's health; None for RSA (PKCS#1 v1.5) and EdDSA, deterministic already, and for
    a key in a PKCS#11 token, whose CKM_ECDSA takes the token's own nonce."""
    if isinstance(key, TokenBacked):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and deterministic_ecdsa_supported():
        return True
    return None


def to_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM: unencrypted, protected by its 0600 mode, or with a password encrypted
    as cryptography's best available choice (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password is not None
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def is_encrypted(data: bytes) -> bool:
    """Whether key.pem is an encrypted PKCS#8 key (told by its PEM label alone)."""
    return data.lstrip().startswith(_ENCRYPTED_PEM)


def pem_to_der(data: bytes) -> bytes:
    """The DER inside a one-block PEM file: for key.pem, its PKCS#8 structure, encrypted
    or not, byte for byte (so key.der needs no password and keeps key.pem's encryption)."""
    lines = data.strip().splitlines()
    if (
        len(lines) < 2
        or not lines[0].startswith(b"-----BEGIN ")
        or not lines[-1].startswith(b"-----END ")
    ):
        raise KeyLoadError("key.pem is not a PEM file")
    try:
        return base64.b64decode(b"".join(lines[1:-1]), validate=True)
    except binascii.Error as e:
        raise KeyLoadError("key.pem is not a PEM file") from e


def load_pem(data: bytes, password: bytes | None = None) -> PrivateKey:
    """Parse key.pem, decrypting it with `password` when it is encrypted. RSA's expensive
    self-check is skipped (36-259 ms per key): every signature pkiform makes is verified
    against the certificate's public key instead."""
    encrypted = is_encrypted(data)
    if encrypted and password is None:
        raise KeyLocked("key.pem is encrypted")
    try:
        key = serialization.load_pem_private_key(
            data, password=password if encrypted else None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError as e:  # encrypted under a label other than PKCS#8's
        raise KeyLoadError("key.pem is encrypted in a form pkiform does not read") from e
    except ValueError as e:
        if encrypted:
            raise KeyRefused("key.pem does not open with its password") from e
        raise KeyLoadError("key.pem is not a readable PEM private key") from e
    if not isinstance(key, _SUPPORTED):
        raise KeyLoadError(f"key.pem holds an unsupported key type ({type(key).__name__})")
    return key


def spec_of(key: PublicKey) -> KeySpec | None:
    """The KeySpec a public key satisfies, or None for a type pkiform does not issue."""
    if isinstance(key, rsa.RSAPublicKey):
        return KeySpec(type=KeyType.RSA, size=key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = CURVE_NAMES.get(key.curve.name)
        return KeySpec(type=KeyType.EC, curve=curve) if curve else None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeySpec(type=KeyType.ED25519)
    if isinstance(key, ed448.Ed448PublicKey):
        return KeySpec(type=KeyType.ED448)
    return None


def spki_der(key: PublicKey) -> bytes:
    """The SubjectPublicKeyInfo DER, the stable identity of a public key."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: PublicKey) -> str:
    """sha256 of the SubjectPublicKeyInfo, hex: safe to log, names the key without revealing it."""
    return hashlib.sha256(spki_der(key)).hexdigest()
