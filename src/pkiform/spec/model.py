"""The resolved spec: plain frozen data that every later stage works from."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pkiform.durations import format_span
from pkiform.errors import Location
from pkiform.spec.names import IdentityName as IdentityName  # re-exported
from pkiform.spec.names import serial_text as serial_text  # re-exported

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Kind(StrEnum):
    ROOT = "root"
    INTERMEDIATE = "intermediate"
    SERVER = "server"
    CLIENT = "client"

    @property
    def is_ca(self) -> bool:
        return self in (Kind.ROOT, Kind.INTERMEDIATE)


class KeyType(StrEnum):
    RSA = "rsa"
    EC = "ec"
    ED25519 = "ed25519"
    ED448 = "ed448"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySpec:
    type: KeyType
    size: int | None = None  # RSA only
    curve: str | None = None  # EC only: P-256, P-384, P-521

    def __str__(self) -> str:
        if self.type is KeyType.RSA:
            return f"rsa {self.size}"
        if self.type is KeyType.EC:
            return f"ec {self.curve}"
        return str(self.type)

    def contradicted(self, have: KeySpec, written: Callable[[str], bool]) -> str | None:
        """The first field the spec writes (`written`) where this key says otherwise than
        the key `have` that a file holds (a request, a CA to adopt), or None."""
        fields = ("type", "size", "curve")
        return next(
            (f for f in fields if written(f) and getattr(self, f) != getattr(have, f)), None
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Duration:
    """A validity length as written (`90d`), kept for messages, with its timedelta."""

    text: str
    delta: timedelta

    def __str__(self) -> str:
        return self.text

    def third(self) -> Duration:
        """A third of this validity: the renew_before of a spec that writes none."""
        delta = self.delta / 3
        return Duration(text=format_span(delta), delta=delta)


# the order attributes appear in the subject, most general first (as openssl prints them)
SUBJECT_FIELDS = ("C", "ST", "L", "O", "OU", "CN")


@dataclass(frozen=True, slots=True, kw_only=True)
class NameSet:
    dns: tuple[str, ...] = ()
    ip: tuple[IpNetwork, ...] = ()
    email: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.dns or self.ip or self.email)


@dataclass(frozen=True, slots=True, kw_only=True)
class NameConstraints:
    permitted: NameSet
    excluded: NameSet


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    reason: str  # an RFC 5280 §5.3.1 reason name, e.g. keyCompromise
    at: datetime | None = None  # None: when an apply first lists it
    # `at` as the spec writes it, and where: planning checks it against the certificate
    at_text: str = field(default="", compare=False)
    at_loc: Location | None = field(default=None, compare=False, repr=False)


DEFAULT_CRL_VALIDITY = Duration(text="7d", delta=timedelta(days=7))


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordSource:
    """Where a password comes from: an environment variable or a file, never the password
    itself. Two sources are the same when they name the same variable or file."""

    env: str | None = None
    file: str | None = None  # as written; relative to the spec file's folder
    # where the spec names it (the first place, when several identities share it)
    path: str = field(default="", compare=False)
    loc: Location | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"environment variable {self.env}" if self.env else f"password file {self.file}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pkcs12Output:
    """bundle.p12 or truststore.p12: a password-protected PKCS#12 file."""

    password: PasswordSource
    legacy: bool = False  # 3DES and SHA-1 for old readers, instead of AES-256 and SHA-256


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesOutput:
    """secret.yaml: a kubernetes.io/tls Secret."""

    name: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outputs:
    """The files an identity gets beside its PEM files."""

    pkcs12: Pkcs12Output | None = None
    truststore: Pkcs12Output | None = None
    der: bool = False
    kubernetes: KubernetesOutput | None = None
    combined: bool = False  # combined.pem: key, certificate and chain in one file

    def password_sources(self) -> tuple[tuple[str, PasswordSource], ...]:
        """The outputs that take a password to write and to check, each with its source:
        the one place that says so (secrets read them, cache/seals.py never vouches for
        an identity with one). A new password-protected output is added here."""
        protected = (("pkcs12", self.pkcs12), ("truststore", self.truststore))
        return tuple((what, o.password) for what, o in protected if o is not None)


NO_OUTPUTS = Outputs()


@dataclass(frozen=True, slots=True, kw_only=True)
class CsrKey:
    """The private key stays on the host that made a certificate request: pkiform signs the
    CSR at `path` (as written; relative to the spec file's folder) and holds no key."""

    path: str
    loc: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenKey:
    """A CA key inside a PKCS#11 token, named by an RFC 7512 URI: generated and used there,
    never in a file; its PIN comes from `pin` (or the URI's pin-source)."""

    uri: str
    pin: PasswordSource | None = None
    loc: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdoptSource:
    """An existing CA taken over as it is (`adopt:`): its certificate and key files (as
    written; relative to the spec file's folder), the certificates above it when its
    issuer lives elsewhere, and the password of an encrypted key. The first apply copies
    them into the CA's folder; later ones need them no more."""

    cert: str
    key: str
    chain: str | None = None
    password: PasswordSource | None = None
    loc: Location | None = field(default=None, compare=False, repr=False)


# where an identity's private key lives when it is not the key.pem pkiform makes in its
# folder (None): with its owner (a CSR), or in a token
KeySource = CsrKey | TokenKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    name: IdentityName
    kind: Kind
    loc: Location
    issuer: IdentityName | None
    subject: tuple[tuple[str, str], ...]  # (field, value) in SUBJECT_FIELDS order
    key: KeySpec
    validity: Duration
    renew_before: Duration
    dns: tuple[str, ...] = ()
    ip: tuple[IpAddress, ...] = ()
    email: tuple[str, ...] = ()
    uri: tuple[str, ...] = ()
    path_length: int | None = None
    name_constraints: NameConstraints | None = None
    extended_key_usage: tuple[str, ...] = ()  # names or dotted OIDs; empty for CAs
    crl_url: str | None = None
    ocsp_url: str | None = None
    revoked: Revocation | None = None
    rotate_key: bool = False
    # CAs only
    crl_validity: Duration = DEFAULT_CRL_VALIDITY
    revoke_superseded: bool = False
    ocsp: bool = False
    # key.encrypt: key.pem (and key.der) as encrypted PKCS#8 with this password
    key_password: PasswordSource | None = None
    outputs: Outputs = NO_OUTPUTS
    key_source: KeySource | None = None  # None: key.pem in its folder, made by pkiform
    # a rotation (CAs only): the CA this one succeeds, and whether the old CA signs a cross
    # certificate for this one's key (spec/rotation.py says what follows from them)
    replaces: IdentityName | None = None
    cross_sign: bool = False
    # a CA taken over from existing files; the fields the spec leaves out are its certificate's
    adopt: AdoptSource | None = None

    @property
    def key_opener(self) -> PasswordSource | None:
        """What opens the identity's key: its token's PIN, or key.encrypt's password."""
        if isinstance(self.key_source, TokenKey):
            return self.key_source.pin
        return self.key_password

    def password_sources(self) -> tuple[tuple[str, PasswordSource], ...]:
        """Every password the identity's files and keys take, with what it is for: its
        key's (key.encrypt), its token's PIN, then its outputs'."""
        key = (("key", self.key_password),) if self.key_password is not None else ()
        token = self.key_source if isinstance(self.key_source, TokenKey) else None
        pin = (("pin", token.pin),) if token is not None and token.pin is not None else ()
        return key + pin + self.outputs.password_sources()

    @property
    def common_name(self) -> str:
        # every subject the spec writes has one; an adopted certificate's may lack it
        return dict(self.subject).get("CN", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedSpec:
    file: str
    identities: Mapping[IdentityName, Identity]
