"""Reading a key pair from a token: its type, its public half, how well it is kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from pkiform.spec.model import KeySpec, KeyType
from pkiform.spec.token_uri import TokenUri
from pkiform.x509 import keys
from pkiform.x509.token_errors import KeyAmbiguous, KeyUnusable, TokenFailure, ckr_name
from pkiform.x509.token_signers import (
    TokenECPrivateKey,
    TokenEd448PrivateKey,
    TokenEd25519PrivateKey,
    TokenPrivateKey,
    TokenPublicKey,
    TokenRSAPrivateKey,
)

if TYPE_CHECKING:
    import pkcs11

    from pkiform.x509.token_session import TokenSession

# CKA_EC_PARAMS: the DER of each curve's OID (RFC 5480 §2.1.1.1, RFC 8410 §3), and the
# PrintableString names PKCS#11 3.0 §2.3.5 also allows for the Edwards curves
CURVE_PARAMS: dict[bytes, KeySpec] = {
    bytes.fromhex("06082a8648ce3d030107"): KeySpec(type=KeyType.EC, curve="P-256"),
    bytes.fromhex("06052b81040022"): KeySpec(type=KeyType.EC, curve="P-384"),
    bytes.fromhex("06052b81040023"): KeySpec(type=KeyType.EC, curve="P-521"),
    bytes.fromhex("06032b6570"): KeySpec(type=KeyType.ED25519),
    bytes.fromhex("06032b6571"): KeySpec(type=KeyType.ED448),
    b"\x13\x0cedwards25519": KeySpec(type=KeyType.ED25519),
    b"\x13\x0aedwards448": KeySpec(type=KeyType.ED448),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyProtection:
    """What the token says about how well it keeps the private key."""

    sensitive: bool
    always_sensitive: bool
    extractable: bool
    never_extractable: bool
    local: bool  # generated in the token, not imported

    @property
    def kept(self) -> bool:
        """Made in the token and never able to leave it in clear."""
        return not self.problems()

    def problems(self) -> list[str]:
        """What falls short of `kept`, as PKCS#11 names it (`CKA_EXTRACTABLE is true`)."""
        wanted = {
            "SENSITIVE": (self.sensitive, True),
            "ALWAYS_SENSITIVE": (self.always_sensitive, True),
            "EXTRACTABLE": (self.extractable, False),
            "NEVER_EXTRACTABLE": (self.never_extractable, True),
            "LOCAL": (self.local, True),
        }
        return [
            f"CKA_{name} is {str(have).lower()}"
            for name, (have, good) in wanted.items()
            if have != good
        ]


def id_text(value: bytes) -> str:
    """An id as a URI writes it: `%01%02`."""
    return "".join(f"%{b:02X}" for b in value) or "(empty)"


def ids_text(objects: list[pkcs11.Object]) -> str:
    """The ids of these objects, as a URI writes them, for a message."""
    import pkcs11

    return ", ".join(id_text(bytes(o[pkcs11.Attribute.ID])) for o in objects)


def search(
    session: TokenSession,
    uri: TokenUri,
    cls: pkcs11.ObjectClass,
    *,
    label: str | None = None,
    id: bytes | None = None,
) -> list[pkcs11.Object]:
    """The objects of class `cls` with this label and id; TokenFailure if the search fails."""
    import pkcs11

    try:
        return session.objects(cls, label=label, id=id)
    except pkcs11.PKCS11Error as e:
        raise TokenFailure(
            uri.canonical, f"searching token {session.label!r} failed ({ckr_name(e)})"
        ) from e


def get(
    session: TokenSession, uri: TokenUri, obj: pkcs11.Object, attribute: pkcs11.Attribute
) -> object:
    """One attribute of an object; TokenFailure naming it if the token will not say."""
    import pkcs11

    try:
        return obj[attribute]
    except pkcs11.PKCS11Error as e:
        raise TokenFailure(
            uri.canonical,
            f"reading CKA_{attribute.name} in token {session.label!r} failed ({ckr_name(e)})",
        ) from e


def get_bytes(
    session: TokenSession, uri: TokenUri, obj: pkcs11.Object, attribute: pkcs11.Attribute
) -> bytes:
    """A byte-string attribute (CKA_ID, CKA_MODULUS, CKA_EC_POINT, ...)."""
    value = get(session, uri, obj, attribute)
    if not isinstance(value, bytes):
        raise TokenFailure(
            uri.canonical, f"token {session.label!r} gave CKA_{attribute.name} as {value!r}"
        )
    return value


def key_spec(session: TokenSession, uri: TokenUri, private: pkcs11.Object, label: str) -> KeySpec:
    """The KeySpec of a key object; KeyUnusable for a type pkiform does not sign with."""
    import pkcs11

    kind = get(session, uri, private, pkcs11.Attribute.KEY_TYPE)
    if kind == pkcs11.KeyType.RSA:
        modulus = get_bytes(session, uri, private, pkcs11.Attribute.MODULUS)
        return KeySpec(type=KeyType.RSA, size=int.from_bytes(modulus, "big").bit_length())
    if kind in (pkcs11.KeyType.EC, pkcs11.KeyType.EC_EDWARDS):
        params = get_bytes(session, uri, private, pkcs11.Attribute.EC_PARAMS)
        spec = CURVE_PARAMS.get(params)
        if spec is not None:
            return spec
        what = f"an EC key on a curve pkiform does not sign with (CKA_EC_PARAMS {params.hex()})"
    else:
        what = f"a {getattr(kind, 'name', kind)} key"
    raise KeyUnusable(
        uri.canonical,
        f"the key {label!r} in token {session.label!r} is {what}; pkiform signs with "
        "RSA, EC (P-256, P-384, P-521), Ed25519 and Ed448 keys",
    )


def find_public_object(
    session: TokenSession, uri: TokenUri, private: pkcs11.Object, label: str
) -> pkcs11.Object | None:
    """The public key object with the private key's id (and label, if several have it)."""
    import pkcs11

    ident = get_bytes(session, uri, private, pkcs11.Attribute.ID)
    public = pkcs11.ObjectClass.PUBLIC_KEY
    found = search(session, uri, public, id=ident) if ident else []
    if len(found) != 1:
        found = search(session, uri, public, label=label, id=ident or None)
    if len(found) > 1:
        raise KeyAmbiguous(
            uri.canonical,
            f"{len(found)} public keys in token {session.label!r} are labelled {label!r} "
            f"with id {id_text(ident)}: pkiform cannot tell which belongs to the private key",
        )
    return found[0] if found else None


def public_key_from(
    session: TokenSession,
    uri: TokenUri,
    private: pkcs11.Object,
    public: pkcs11.Object | None,
    spec: KeySpec,
    label: str,
) -> TokenPublicKey:
    """The public key of the pair: from its public key object, or an RSA private key's
    modulus and exponent when it has none."""
    import pkcs11

    a = pkcs11.Attribute
    if spec.type is KeyType.RSA:
        holder = public if public is not None else private  # RSA private keys carry n, e
        n = get_bytes(session, uri, holder, a.MODULUS)
        e = get_bytes(session, uri, holder, a.PUBLIC_EXPONENT)
        if public is not None and n != get_bytes(session, uri, private, a.MODULUS):
            raise KeyUnusable(uri.canonical, unpaired(label, session))
        numbers = rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big"))
        return numbers.public_key()
    if public is None:
        raise KeyUnusable(
            uri.canonical,
            f"token {session.label!r} has no public key object for the key {label!r} "
            "(pkiform reads an EC or EdDSA public key from the object with its id)",
        )
    point = get_bytes(session, uri, public, a.EC_POINT)
    try:
        return _point_key(spec, point)
    except ValueError as e:
        raise KeyUnusable(
            uri.canonical,
            f"the public key object of {label!r} in token {session.label!r} holds no "
            f"valid {spec} point",
        ) from e


def _point_key(spec: KeySpec, data: bytes) -> TokenPublicKey:
    """The public key in a CKA_EC_POINT, which PKCS#11 v2.40 §2.3.3 wraps in a DER
    OCTET STRING and some modules (and PKCS#11 3.0 for EdDSA) give bare."""
    if spec.type is KeyType.ED25519:
        return ed25519.Ed25519PublicKey.from_public_bytes(_unwrap(data, 32))
    if spec.type is KeyType.ED448:
        return ed448.Ed448PublicKey.from_public_bytes(_unwrap(data, 57))
    assert spec.curve is not None
    curve = keys.CURVES[spec.curve]()
    bare = 1 + 2 * ((curve.key_size + 7) // 8)  # an uncompressed point: 04 || x || y
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, _unwrap(data, bare))


def _unwrap(data: bytes, bare: int) -> bytes:
    if len(data) == bare:
        return data
    header = b"\x04" + (bytes([bare]) if bare < 0x80 else bytes([0x81, bare]))
    if data == header + data[len(header) :] and len(data) == len(header) + bare:
        return data[len(header) :]
    raise ValueError("not an EC point")


# signed on each opening of a key: fixed text, which no verifier takes for a certificate
PROBE = b"pkiform: does the public key object belong to this private key?"


def pairs(signer: TokenPrivateKey, public: TokenPublicKey) -> bool:
    """Whether a signature by the token's private key verifies with `public`."""
    try:
        if isinstance(signer, TokenRSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
            signature = signer.sign(PROBE, padding.PKCS1v15(), hashes.SHA256())
            public.verify(signature, PROBE, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(signer, TokenECPrivateKey) and isinstance(
            public, ec.EllipticCurvePublicKey
        ):
            public.verify(
                signer.sign(PROBE, ec.ECDSA(hashes.SHA256())), PROBE, ec.ECDSA(hashes.SHA256())
            )
        elif isinstance(signer, TokenEd25519PrivateKey | TokenEd448PrivateKey) and isinstance(
            public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
        ):
            public.verify(signer.sign(PROBE), PROBE)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def unpaired(label: str, session: TokenSession) -> str:
    """The reason given when a public key object does not belong to the private key."""
    return (
        f"the public key object with the id of {label!r} in token {session.label!r} "
        "does not match its private key"
    )


def protection(session: TokenSession, uri: TokenUri, private: pkcs11.Object) -> KeyProtection:
    """What the token says of how it keeps this private key."""
    import pkcs11

    a = pkcs11.Attribute

    def flag(attribute: pkcs11.Attribute) -> bool:
        try:
            return bool(private[attribute])
        except pkcs11.AttributeTypeInvalid:
            return False  # a module that does not track it vouches for nothing

    return KeyProtection(
        sensitive=flag(a.SENSITIVE),
        always_sensitive=flag(a.ALWAYS_SENSITIVE),
        extractable=bool(get(session, uri, private, a.EXTRACTABLE)),
        never_extractable=flag(a.NEVER_EXTRACTABLE),
        local=flag(a.LOCAL),
    )
