"""The one place that signs certificates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pkiform.durations import BACKDATE
from pkiform.errors import PkiformError
from pkiform.spec.model import Identity
from pkiform.x509.derive import Seed, derive_serial
from pkiform.x509.keys import PrivateKey, PublicKey, deterministic_ecdsa, signing_hash, spki_der
from pkiform.x509.profile import Profile


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """The issuing CA: its certificate and private key."""

    cert: x509.Certificate
    key: PrivateKey


def validity_window(
    identity: Identity, issuer_cert: x509.Certificate | None, now: datetime
) -> tuple[datetime, datetime]:
    """not_before and not_after, clamped to the issuer's expiry."""
    start = now.replace(microsecond=0)
    not_after = start + identity.validity.delta
    if issuer_cert is not None:
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    return start - BACKDATE, not_after


def issue(
    identity: Identity,
    profile: Profile,
    key: PrivateKey | None,
    signer: Signer | None,
    now: datetime,
    *,
    seed: Seed | None = None,
    public_key: PublicKey | None = None,
) -> x509.Certificate:
    """Sign a certificate for `identity` with `key`; self-signed when `signer` is None.
    With a seed the serial number is derived, not random (reproducible mode). For a key
    pkiform does not hold (a certificate request's), `public_key` is what is certified
    and `key` is None."""
    if public_key is None:
        assert key is not None, "a certificate certifies a key"
        public_key = key.public_key()
    signing_key = signer.key if signer else key
    assert signing_key is not None, "a self-signed certificate needs its private key"
    issuer_name = signer.cert.subject if signer else profile.subject
    not_before, not_after = validity_window(identity, signer.cert if signer else None, now)
    if seed is None:
        # 159 random bits: RFC 5280 §4.1.2.2 caps serials at 20 octets, positive
        serial = x509.random_serial_number()
    else:
        what = _content_digest(profile, issuer_name, public_key, signer, not_before, not_after)
        serial = derive_serial(seed, identity.name, what)
    builder = (
        x509.CertificateBuilder()
        .subject_name(profile.subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for ext in profile.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
    )
    if signer is not None:
        builder = builder.add_extension(authority_key_id(signer.cert), critical=False)
    cert = builder.sign(
        signing_key,
        signing_hash(signing_key),  # type: ignore[arg-type]
        ecdsa_deterministic=deterministic_ecdsa(signing_key),
    )
    # RSA keys are loaded without their slow self-check (keys.load_pem), so a damaged
    # one shows up here instead; EC and EdDSA keys are fully checked when loaded
    if isinstance(signing_key, rsa.RSAPrivateKey):
        try:
            cert.verify_directly_issued_by(signer.cert if signer else cert)
        except (InvalidSignature, ValueError, TypeError) as e:
            who = "its issuer's" if signer else "its own"
            raise PkiformError(
                f"{identity.name}: the certificate signed with {who} key does not verify; "
                "the key file does not match its certificate"
            ) from e
    return cert


def cross_certificate(
    identity: Identity,
    profile: Profile,
    public_key: PublicKey,
    signer: Signer,
    now: datetime,
    *,
    seed: Seed | None = None,
) -> x509.Certificate:
    """A new root's cross certificate (RFC 4158): its subject, key (so its SKI) and
    extensions (constraints and usages), signed by the root it replaces, within the
    validity of that root. Only the public key of the new root is needed."""
    return issue(identity, profile, None, signer, now, seed=seed, public_key=public_key)


def authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The AKI of what `issuer` signs: its SKI, or for a CA made by a tool that wrote none
    (an adopted one), the key identifier RFC 5280 §4.2.1.2 method 1 gives its key."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _content_digest(
    profile: Profile,
    issuer_name: x509.Name,
    public_key: PublicKey,
    signer: Signer | None,
    not_before: datetime,
    not_after: datetime,
) -> bytes:
    """What tells this certificate apart from every other its issuer signs, but for the
    serial: a derived serial differs whenever the content does, as RFC 5280 needs."""
    digest = hashlib.sha256()
    for part in (
        profile.subject.public_bytes(),
        issuer_name.public_bytes(),
        signer.cert.public_bytes(serialization.Encoding.DER) if signer else b"",
        spki_der(public_key),
        not_before.isoformat().encode(),
        not_after.isoformat().encode(),
        *(ext.oid.dotted_string.encode() + ext.value.public_bytes() for ext in profile.extensions),
    ):
        digest.update(len(part).to_bytes(4, "big") + part)
    return digest.digest()
