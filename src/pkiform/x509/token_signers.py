"""cryptography private keys whose private half stays in a PKCS#11 token.

cryptography has no hook for an external signer, but its builders
(CertificateBuilder, CertificateRevocationListBuilder, OCSPResponseBuilder) accept any
subclass of its private key classes and call only `public_key()` and `sign()` on it
(pyca/cryptography#11616). These subclasses sign through the token and refuse every
method that would hand out the private value. They hash on the host and use the raw
mechanisms every module has (CKM_RSA_PKCS over a DigestInfo, CKM_ECDSA, CKM_EDDSA):
SoftHSM 2.6 has no CKM_ECDSA_SHA256, and cloud KMS modules offer only the raw ones.

ECDSA signatures take the token's own nonce: `ECDSA(..., deterministic_signing=True)`
(RFC 6979) is refused, as cryptography refuses it where OpenSSL lacks it; so
keys.deterministic_ecdsa() answers None for a TokenBacked key.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NoReturn

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.utils import Buffer

from pkiform.x509.token_errors import NotExportable, SigningError, ckr_name

if TYPE_CHECKING:
    import pkcs11
    from pkcs11.types import SignMixin

# RFC 8017 §9.2, note 1: the DER DigestInfo that precedes each hash in PKCS #1 v1.5
DIGEST_INFO: dict[str, bytes] = {
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


class TokenSigning:
    """A private key object in an open, logged-in session, and what messages call it."""

    def __init__(self, key: SignMixin, *, uri: str, label: str) -> None:
        self._key = key
        self.uri = uri
        self.label = label
        # PKCS#11 v2.40 §6.7.7: a forked child must not use its parent's sessions
        self._pid = os.getpid()

    def sign(self, mechanism: pkcs11.Mechanism, data: bytes) -> bytes:
        """The token's signature of `data` with `mechanism`; SigningError on any failure."""
        import pkcs11  # loaded already: a TokenSigning exists only for an open session

        if os.getpid() != self._pid:
            raise SigningError(
                self.uri,
                "a token key cannot sign in a forked child process (PKCS#11 sessions do "
                "not survive fork): sign in the process that opened the token",
            )
        try:
            return bytes(self._key.sign(data, mechanism=mechanism))
        except pkcs11.PKCS11Error as e:
            raise SigningError(
                self.uri, f"the token failed to sign with the key {self.label!r} ({ckr_name(e)})"
            ) from e

    def refuse_export(self) -> NoReturn:
        """NotExportable: the private value never leaves the token."""
        raise NotExportable(
            self.uri, f"the key {self.label!r} stays in the token: it cannot be exported"
        )


class TokenBacked:
    """What every token key shares: no export, no copy (it is a handle, not a value)."""

    _signing: TokenSigning

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        self._signing.refuse_export()


def _digest(data: bytes, algorithm: object) -> tuple[bytes, hashes.HashAlgorithm]:
    if not isinstance(algorithm, hashes.HashAlgorithm):
        raise UnsupportedAlgorithm(
            f"a token key signs with a hash algorithm; got {type(algorithm).__name__}"
        )
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize(), algorithm


class TokenRSAPrivateKey(TokenBacked, rsa.RSAPrivateKey):
    """An RSA key in a token: PKCS #1 v1.5 signatures (what pkiform's certificates use)."""

    def __init__(self, signing: TokenSigning, public: rsa.RSAPublicKey) -> None:
        self._signing = signing
        self._public = public

    def sign(
        self,
        data: bytes,
        padding: padding.AsymmetricPadding,
        algorithm: asym_utils.Prehashed | hashes.HashAlgorithm | asym_utils.NoDigestInfo,
    ) -> bytes:
        import pkcs11

        if not isinstance(padding, _PKCS1v15):
            raise UnsupportedAlgorithm(f"a token RSA key signs PKCS #1 v1.5; got {padding.name}")
        digest, hash_algorithm = _digest(data, algorithm)
        prefix = DIGEST_INFO.get(hash_algorithm.name)
        if prefix is None:
            raise UnsupportedAlgorithm(f"a token RSA key does not sign {hash_algorithm.name}")
        return self._signing.sign(pkcs11.Mechanism.RSA_PKCS, prefix + digest)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        raise UnsupportedAlgorithm("a token CA key only signs")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        self._signing.refuse_export()

    def __copy__(self) -> TokenRSAPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenRSAPrivateKey:
        return self


_PKCS1v15 = padding.PKCS1v15


class TokenECPrivateKey(TokenBacked, ec.EllipticCurvePrivateKey):
    """An EC key in a token: ECDSA with the token's nonce, DER-encoded as X.509 wants."""

    def __init__(self, signing: TokenSigning, public: ec.EllipticCurvePublicKey) -> None:
        self._signing = signing
        self._public = public

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        import pkcs11

        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedAlgorithm("a token EC key signs ECDSA")
        if signature_algorithm.deterministic_signing:
            raise UnsupportedAlgorithm(
                "a token EC key cannot sign deterministically (RFC 6979): the token "
                "chooses the nonce; pass deterministic_signing=False"
            )
        digest, _ = _digest(bytes(data), signature_algorithm.algorithm)
        raw = self._signing.sign(pkcs11.Mechanism.ECDSA, digest)
        # CKM_ECDSA gives r || s, each as long as the group order (PKCS#11 v2.40 §2.3.1)
        half = (self.key_size + 7) // 8
        if len(raw) != 2 * half:
            raise SigningError(
                self._signing.uri,
                f"the token returned a {len(raw)}-byte ECDSA signature; "
                f"expected {2 * half} bytes (r and s)",
            )
        r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        return asym_utils.encode_dss_signature(r, s)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise UnsupportedAlgorithm("a token CA key only signs")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        self._signing.refuse_export()

    def __copy__(self) -> TokenECPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenECPrivateKey:
        return self


class TokenEd25519PrivateKey(TokenBacked, ed25519.Ed25519PrivateKey):
    """An Ed25519 key in a token: pure EdDSA (CKM_EDDSA without parameters)."""

    def __init__(self, signing: TokenSigning, public: ed25519.Ed25519PublicKey) -> None:
        self._signing = signing
        self._public = public

    def sign(self, data: Buffer) -> bytes:
        import pkcs11

        return self._signing.sign(pkcs11.Mechanism.EDDSA, bytes(data))

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public

    def private_bytes_raw(self) -> bytes:
        self._signing.refuse_export()

    def __copy__(self) -> TokenEd25519PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenEd25519PrivateKey:
        return self


class TokenEd448PrivateKey(TokenBacked, ed448.Ed448PrivateKey):
    """An Ed448 key in a token: pure EdDSA (CKM_EDDSA without parameters)."""

    def __init__(self, signing: TokenSigning, public: ed448.Ed448PublicKey) -> None:
        self._signing = signing
        self._public = public

    def sign(self, data: Buffer) -> bytes:
        import pkcs11

        return self._signing.sign(pkcs11.Mechanism.EDDSA, bytes(data))

    def public_key(self) -> ed448.Ed448PublicKey:
        return self._public

    def private_bytes_raw(self) -> bytes:
        self._signing.refuse_export()

    def __copy__(self) -> TokenEd448PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenEd448PrivateKey:
        return self


TokenPrivateKey = (
    TokenRSAPrivateKey | TokenECPrivateKey | TokenEd25519PrivateKey | TokenEd448PrivateKey
)
TokenPublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


def token_private_key(signing: TokenSigning, public: TokenPublicKey) -> TokenPrivateKey:
    """The cryptography key that signs with `signing`'s token key, whose public half is
    `public`."""
    if isinstance(public, rsa.RSAPublicKey):
        return TokenRSAPrivateKey(signing, public)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return TokenECPrivateKey(signing, public)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return TokenEd25519PrivateKey(signing, public)
    return TokenEd448PrivateKey(signing, public)
