"""End to end: what pkiform writes, judged by OpenSSL and by cryptography's X.509 parser.

Every identity of the examples and of a spec with every key type (as root, intermediate,
server and client) must verify with `openssl verify -x509_strict`, carry the profile of
design.md §2 and be laid out as design.md §4 says. Each checker returns the problems it
finds; beside every clean run there is a run on a deliberately broken copy that proves
the checker reports that kind of problem.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.helpers.files import cert_of, mode
from tests.helpers.repo import EXAMPLES
from tests.helpers.run import apply_quietly
from tests.helpers.specs import matrix_spec
from tests.helpers.tools import openssl

# --- specs ------------------------------------------------------------------------------

SPECS: dict[str, dict[str, Any]] = {
    "mtls": yaml.safe_load((EXAMPLES / "mtls.yaml").read_text()),
    "mesh": yaml.safe_load((EXAMPLES / "mesh.yaml").read_text()),
    "matrix": matrix_spec(),
}
CASES = [(pki, name) for pki, spec in SPECS.items() for name in spec["identities"]]
# a root from another PKI, for "verifies only against its own trust anchor"
FOREIGN_ROOT = {"mtls": ("mesh", "mesh-root"), "mesh": ("mtls", "ca"), "matrix": ("mtls", "ca")}


@dataclass(frozen=True)
class Expect:
    """One identity as the spec describes it, resolved independently of pkiform."""

    name: str
    kind: str
    issuer: str | None
    key: dict[str, Any]
    subject: dict[str, str]
    dns: list[str]
    ip: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
    email: list[str]
    uri: list[str]
    path_length: int | None
    permitted: set[tuple[str, object]] = field(default_factory=set)
    excluded: set[tuple[str, object]] = field(default_factory=set)

    @property
    def is_ca(self) -> bool:
        return self.kind in ("root", "intermediate")


def _subtrees(names: dict[str, list[str]] | None) -> set[tuple[str, object]]:
    names = names or {}
    return (
        {("dns", n) for n in names.get("dns", [])}
        | {("ip", ipaddress.ip_network(n)) for n in names.get("ip", [])}
        | {("email", n) for n in names.get("email", [])}
    )


def expectations(spec: dict[str, Any]) -> dict[str, Expect]:
    defaults = spec.get("defaults", {})
    found = {}
    for name, raw in spec["identities"].items():
        nc = raw.get("name_constraints", {})
        found[name] = Expect(
            name=name,
            kind=raw["kind"],
            issuer=raw.get("issuer"),
            key=raw.get("key") or defaults["key"],
            subject={"CN": name} | defaults.get("subject", {}) | raw.get("subject", {}),
            dns=raw.get("dns", []),
            ip=[ipaddress.ip_address(a) for a in raw.get("ip", [])],
            email=raw.get("email", []),
            uri=raw.get("uri", []),
            path_length=raw.get("path_length"),
            permitted=_subtrees(nc.get("permitted")),
            excluded=_subtrees(nc.get("excluded")),
        )
    return found


@dataclass(frozen=True)
class Pki:
    out: Path
    expect: dict[str, Expect]
    applied: tuple[datetime, datetime]  # the clock just before and just after apply

    def dir(self, name: str) -> Path:
        return self.out / name

    def cert(self, name: str) -> x509.Certificate:
        return cert_of(self.out, name)

    def key(self, name: str) -> CertificateIssuerPrivateKeyTypes:
        key = serialization.load_pem_private_key(
            (self.out / name / "key.pem").read_bytes(), password=None
        )
        assert isinstance(
            key,
            rsa.RSAPrivateKey
            | ec.EllipticCurvePrivateKey
            | ed25519.Ed25519PrivateKey
            | ed448.Ed448PrivateKey,
        )
        return key

    def issuers(self, name: str) -> list[str]:
        """The CAs above `name`, nearest first, root last (empty for a root)."""
        chain = []
        issuer = self.expect[name].issuer
        while issuer is not None:
            chain.append(issuer)
            issuer = self.expect[issuer].issuer
        return chain

    def issuer_cert(self, name: str) -> x509.Certificate:
        issuers = self.issuers(name)
        return self.cert(issuers[0] if issuers else name)

    def signer_key_spec(self, name: str) -> dict[str, Any]:
        issuers = self.issuers(name)
        return self.expect[issuers[0] if issuers else name].key


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pki]:
    base = tmp_path_factory.mktemp("e2e-openssl")
    found = {}
    for label, spec in SPECS.items():
        spec_file = EXAMPLES / f"{label}.yaml"
        if label == "matrix":
            spec_file = base / "matrix.yaml"
            spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
        out = base / label
        before = datetime.now(UTC)
        apply_quietly(spec_file, out)
        after = datetime.now(UTC)
        found[label] = Pki(out=out, expect=expectations(spec), applied=(before, after))
    return found


# --- openssl verify ---------------------------------------------------------------------


def verify(
    ident_dir: Path, *, ca_file: Path | None = None, cert: Path | None = None, ss_sig: bool = False
) -> tuple[int, str]:
    """`openssl verify -x509_strict -CAfile ca.pem [-untrusted chain.pem] cert.pem`."""
    args: list[str | Path] = ["verify", "-x509_strict"]
    if ss_sig:
        args.append("-check_ss_sig")
    args += ["-CAfile", ca_file or ident_dir / "ca.pem"]
    chain = ident_dir / "chain.pem"
    if chain.read_text().strip():
        args += ["-untrusted", chain]
    args.append(cert or ident_dir / "cert.pem")
    result = openssl(*args)
    return result.returncode, (result.stdout + result.stderr).decode()


@pytest.mark.parametrize(("pki", "name"), CASES)
def test_openssl_verifies_every_identity(pkis: dict[str, Pki], pki: str, name: str) -> None:
    ident = pkis[pki].dir(name)
    code, output = verify(ident)
    assert (code, output) == (0, f"{ident / 'cert.pem'}: OK\n")
    if pkis[pki].expect[name].kind == "root":
        # and the root's own signature, which a trust anchor is not normally checked for
        assert verify(ident, ss_sig=True)[0] == 0


@pytest.mark.parametrize(("pki", "name"), CASES)
def test_openssl_rejects_every_identity_against_another_root(
    pkis: dict[str, Pki], pki: str, name: str
) -> None:
    other_pki, other_root = FOREIGN_ROOT[pki]
    foreign = pkis[other_pki].dir(other_root) / "ca.pem"
    code, output = verify(pkis[pki].dir(name), ca_file=foreign)
    assert code != 0, output
    assert "verification failed" in output
    # 2: unable to get issuer certificate (above an untrusted intermediate), 18: self-signed
    # certificate (an untrusted root), 20: unable to get local issuer certificate
    assert any(f"error {n} at" in output for n in (2, 18, 20)), output


def flip_signature_byte(cert_file: Path, dest: Path) -> Path:
    """A copy of the certificate with the last byte of its signature flipped, as PEM."""
    der = bytearray(ssl.PEM_cert_to_DER_cert(cert_file.read_text()))
    signature = x509.load_der_x509_certificate(bytes(der)).signature
    assert der.endswith(signature)  # the signature BIT STRING closes the DER encoding
    der[-1] ^= 0x01
    dest.write_text(ssl.DER_cert_to_PEM_cert(bytes(der)))
    return dest


@pytest.mark.parametrize(("pki", "name"), CASES)
def test_openssl_rejects_a_tampered_signature(
    pkis: dict[str, Pki], pki: str, name: str, tmp_path: Path
) -> None:
    ident = pkis[pki].dir(name)
    tampered = flip_signature_byte(ident / "cert.pem", tmp_path / "tampered.pem")
    if pkis[pki].expect[name].kind == "root":
        # trust the tampered root itself and ask for its self-signature to be checked
        code, output = verify(ident, ca_file=tampered, cert=tampered, ss_sig=True)
    else:
        code, output = verify(ident, cert=tampered)
    assert code != 0, output
    assert "error 7 at 0 depth lookup: certificate signature failure" in output, output


# --- the certificate profile (design.md §2) -------------------------------------------

_ATTRS = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
}
_CURVES = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}


def expected_hash(signer: dict[str, Any]) -> type[hashes.HashAlgorithm] | None:
    if signer["type"] == "rsa":
        return hashes.SHA256
    if signer["type"] == "ec":
        return {"P-256": hashes.SHA256, "P-384": hashes.SHA384, "P-521": hashes.SHA512}[
            signer["curve"]
        ]
    return None  # Ed25519 and Ed448 sign the message itself


def key_matches(key: CertificatePublicKeyTypes, spec: dict[str, Any]) -> bool:
    match spec["type"]:
        case "rsa":
            return isinstance(key, rsa.RSAPublicKey) and key.key_size == spec["size"]
        case "ec":
            return (
                isinstance(key, ec.EllipticCurvePublicKey)
                and key.curve.name == _CURVES[spec["curve"]]
            )
        case "ed25519":
            return isinstance(key, ed25519.Ed25519PublicKey)
        case "ed448":
            return isinstance(key, ed448.Ed448PublicKey)
    return False


def _get(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension[Any] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _names(subtrees: list[x509.GeneralName] | None) -> set[tuple[str, object]]:
    kinds = {x509.DNSName: "dns", x509.IPAddress: "ip", x509.RFC822Name: "email"}
    return {(kinds[type(n)], n.value) for n in subtrees or []}


def _key_usage(
    *, ca: bool, key_encipherment: bool = False
) -> dict[str, bool]:  # the KeyUsage bits design.md §2 wants
    return {
        "digital_signature": not ca,
        "content_commitment": False,
        "key_encipherment": key_encipherment,
        "data_encipherment": False,
        "key_agreement": False,
        "key_cert_sign": ca,
        "crl_sign": ca,
    }


def profile_problems(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    exp: Expect,
    signer_key: dict[str, Any],
    applied: tuple[datetime, datetime],
) -> list[str]:
    """Everything about `cert` that departs from design.md §2 and the spec."""
    problems = []
    if cert.version is not x509.Version.v3:
        problems.append(f"version {cert.version}")
    if not key_matches(cert.public_key(), exp.key):
        problems.append(f"public key is not {exp.key}")
    subject = {_ATTRS[a.oid]: a.value for a in cert.subject}
    if subject != exp.subject or len(cert.subject) != len(subject):
        problems.append(f"subject {subject}, want {exp.subject}")
    if cert.issuer != issuer.subject:
        problems.append("issuer name is not the issuer's subject")

    want_hash = expected_hash(signer_key)
    got_hash = cert.signature_hash_algorithm
    if (type(got_hash) if got_hash is not None else None) is not want_hash:
        problems.append(f"signature hash {got_hash and got_hash.name}, want {want_hash}")

    serial = cert.serial_number
    if not 0 < serial < 2**159:
        problems.append(f"serial {serial} is not positive and at most 20 octets")
    # a random 159-bit serial is shorter than 64 bits with probability 2^-95
    if serial.bit_length() < 64:
        problems.append(f"serial {serial} has fewer than 64 bits")

    before, after = applied
    not_before = cert.not_valid_before_utc
    if not before - timedelta(minutes=15) <= not_before <= after - timedelta(minutes=1):
        problems.append(f"not_before {not_before} is not a few minutes before {before}")

    ski = _get(cert, x509.SubjectKeyIdentifier)
    if ski is None or ski.critical or not ski.value.digest:
        problems.append("no non-critical SubjectKeyIdentifier")
    aki = _get(cert, x509.AuthorityKeyIdentifier)
    issuer_ski = _get(issuer, x509.SubjectKeyIdentifier)
    if exp.kind != "root" or aki is not None:
        if aki is None or aki.critical:
            problems.append("no non-critical AuthorityKeyIdentifier")
        elif issuer_ski is None or aki.value.key_identifier != issuer_ski.value.digest:
            problems.append("AuthorityKeyIdentifier is not the issuer's SubjectKeyIdentifier")

    allowed: set[type[x509.ExtensionType]] = {
        x509.BasicConstraints,
        x509.KeyUsage,
        x509.SubjectKeyIdentifier,
        x509.AuthorityKeyIdentifier,
    }
    bc = _get(cert, x509.BasicConstraints)
    if bc is None or not bc.critical:
        problems.append("basicConstraints missing or not critical")
    elif (bc.value.ca, bc.value.path_length) != (exp.is_ca, exp.path_length):
        problems.append(f"basicConstraints value {bc.value}, want {exp.is_ca} {exp.path_length}")

    rsa_server = exp.kind == "server" and exp.key["type"] == "rsa"
    want_ku = _key_usage(ca=exp.is_ca, key_encipherment=rsa_server)
    ku = _get(cert, x509.KeyUsage)
    if ku is None or not ku.critical:
        problems.append("keyUsage missing or not critical")
    else:
        got_ku = {bit: getattr(ku.value, bit) for bit in want_ku}
        if got_ku != want_ku:
            problems.append(f"keyUsage bits {got_ku}, want {want_ku}")

    if exp.is_ca:
        nc = _get(cert, x509.NameConstraints)
        allowed.add(x509.NameConstraints)
        if exp.permitted or exp.excluded:
            if nc is None or not nc.critical:
                problems.append("nameConstraints missing or not critical")
            elif (_names(nc.value.permitted_subtrees), _names(nc.value.excluded_subtrees)) != (
                exp.permitted,
                exp.excluded,
            ):
                problems.append(f"nameConstraints subtrees {nc.value}")
        elif nc is not None:
            problems.append("nameConstraints the spec does not ask for")
    else:
        allowed |= {x509.ExtendedKeyUsage, x509.SubjectAlternativeName}
        eku = _get(cert, x509.ExtendedKeyUsage)
        want_eku = [
            ExtendedKeyUsageOID.SERVER_AUTH
            if exp.kind == "server"
            else ExtendedKeyUsageOID.CLIENT_AUTH
        ]
        if eku is None or list(eku.value) != want_eku:
            problems.append(f"extendedKeyUsage {eku and list(eku.value)}, want {want_eku}")
        san = _get(cert, x509.SubjectAlternativeName)
        want_san = (exp.dns, exp.ip, exp.email, exp.uri)
        got_san = (
            tuple(
                san.value.get_values_for_type(t)
                for t in (
                    x509.DNSName,
                    x509.IPAddress,
                    x509.RFC822Name,
                    x509.UniformResourceIdentifier,
                )
            )
            if san
            else ([], [], [], [])
        )
        if got_san != want_san or (san is not None and not any(want_san)):
            problems.append(f"subjectAltName {got_san}, want {want_san}")
    extra = {type(e.value).__name__ for e in cert.extensions if type(e.value) not in allowed}
    if extra:
        problems.append(f"unexpected extensions {sorted(extra)}")
    return problems


def _problems_of(pki: Pki, name: str, cert: x509.Certificate | None = None) -> list[str]:
    return profile_problems(
        cert or pki.cert(name),
        pki.issuer_cert(name),
        pki.expect[name],
        pki.signer_key_spec(name),
        pki.applied,
    )


@pytest.mark.parametrize(("pki", "name"), CASES)
def test_every_certificate_has_the_profile(pkis: dict[str, Pki], pki: str, name: str) -> None:
    assert _problems_of(pkis[pki], name) == []


def test_serials_are_unique(pkis: dict[str, Pki]) -> None:
    serials = [pkis[pki].cert(name).serial_number for pki, name in CASES]
    assert len(set(serials)) == len(serials)


def test_the_mix_of_key_types_is_what_the_hash_check_needs(pkis: dict[str, Pki]) -> None:
    """The signature hash follows the issuer's key, not the subject's: these identities'
    own keys would call for a different hash than the one they carry."""
    pki = pkis["matrix"]
    got = {
        name: pki.cert(name).signature_hash_algorithm
        for name in ("mix-p521-int", "mix-rsa-server", "mix-ed25519-client", "mix-p256-server")
    }
    assert {n: h and h.name for n, h in got.items()} == {
        "mix-p521-int": "sha256",  # signed by an RSA root
        "mix-rsa-server": "sha512",  # signed by a P-521 intermediate
        "mix-ed25519-client": "sha256",  # signed by an RSA intermediate
        "mix-p256-server": None,  # signed by an Ed448 intermediate
    }


# The broken twins: re-sign a copy of a real certificate with its real issuer's key, with
# exactly one thing changed, and show that profile_problems names it.


@dataclass
class Parts:
    subject: x509.Name
    issuer: x509.Name
    public_key: CertificatePublicKeyTypes
    serial: int
    not_before: datetime
    not_after: datetime
    extensions: list[x509.Extension[Any]]
    hash: hashes.HashAlgorithm | None

    @classmethod
    def of(cls, cert: x509.Certificate) -> Parts:
        return cls(
            cert.subject,
            cert.issuer,
            cert.public_key(),
            cert.serial_number,
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
            list(cert.extensions),
            cert.signature_hash_algorithm,
        )

    def sign(self, key: CertificateIssuerPrivateKeyTypes) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(self.subject)
            .issuer_name(self.issuer)
            .public_key(self.public_key)
            .serial_number(self.serial)
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
        )
        for ext in self.extensions:
            builder = builder.add_extension(ext.value, critical=ext.critical)
        return builder.sign(key, self.hash)  # type: ignore[arg-type]

    def drop(self, cls: type[x509.ExtensionType]) -> Parts:
        return replace(self, extensions=[e for e in self.extensions if type(e.value) is not cls])

    def put(self, value: x509.ExtensionType, *, critical: bool) -> Parts:
        kept = self.drop(type(value)).extensions
        return replace(self, extensions=[*kept, x509.Extension(value.oid, critical, value)])

    def ext(self, cls: type[x509.ExtensionType]) -> Any:
        return next(e for e in self.extensions if type(e.value) is cls)


def _ku(**bits: bool) -> x509.KeyUsage:
    values = _key_usage(ca=False) | {"encipher_only": False, "decipher_only": False}
    return x509.KeyUsage(**(values | bits))


Mutation = Callable[[Parts, Pki], Parts]
MUTATIONS: dict[str, tuple[str, Mutation, str]] = {
    # name: (identity in the matrix, change, the problem it must cause)
    "SHA-256 under a P-384 issuer": (
        "p384-server",
        lambda p, _: replace(p, hash=hashes.SHA256()),
        "signature hash sha256",
    ),
    "SHA-384 under an RSA issuer": (
        "rsa2048-client",
        lambda p, _: replace(p, hash=hashes.SHA384()),
        "signature hash sha384",
    ),
    "SHA-512 under a P-256 issuer": (
        "p256-int",
        lambda p, _: replace(p, hash=hashes.SHA512()),
        "signature hash sha512",
    ),
    "a short serial": ("p256-server", lambda p, _: replace(p, serial=0x1234), "fewer than 64"),
    "not backdated": (
        "p256-client",
        lambda p, pki: replace(p, not_before=pki.applied[1]),
        "not_before",
    ),
    "backdated by a day": (
        "p256-client",
        lambda p, pki: replace(p, not_before=pki.applied[0] - timedelta(days=1)),
        "not_before",
    ),
    "no SKI": (
        "ed25519-int",
        lambda p, _: p.drop(x509.SubjectKeyIdentifier),
        "no non-critical SubjectKeyIdentifier",
    ),
    "no AKI": (
        "ed448-server",
        lambda p, _: p.drop(x509.AuthorityKeyIdentifier),
        "no non-critical AuthorityKeyIdentifier",
    ),
    "AKI of another key": (
        "p521-client",
        lambda p, pki: p.put(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(pki.cert("p384-int").public_key()),
            critical=False,
        ),
        "is not the issuer's SubjectKeyIdentifier",
    ),
    "basicConstraints not critical": (
        "rsa3072-int",
        lambda p, _: p.put(p.ext(x509.BasicConstraints).value, critical=False),
        "basicConstraints missing or not critical",
    ),
    "CA without its pathlen": (
        "rsa3072-root",
        lambda p, _: p.put(x509.BasicConstraints(ca=True, path_length=None), critical=True),
        "basicConstraints value",
    ),
    "leaf with CA:TRUE": (
        "p384-client",
        lambda p, _: p.put(x509.BasicConstraints(ca=True, path_length=None), critical=True),
        "basicConstraints value",
    ),
    "CA without cRLSign": (
        "p256-root",
        lambda p, _: p.put(
            _ku(digital_signature=False, key_cert_sign=True, crl_sign=False), critical=True
        ),
        "keyUsage bits",
    ),
    "keyUsage not critical": (
        "p256-server",
        lambda p, _: p.put(p.ext(x509.KeyUsage).value, critical=False),
        "keyUsage missing or not critical",
    ),
    "keyEncipherment on an EC server": (
        "p256-server",
        lambda p, _: p.put(_ku(key_encipherment=True), critical=True),
        "keyUsage bits",
    ),
    "RSA server without keyEncipherment": (
        "rsa2048-server",
        lambda p, _: p.put(_ku(), critical=True),
        "keyUsage bits",
    ),
    "keyEncipherment on an RSA client": (
        "rsa2048-client",
        lambda p, _: p.put(_ku(key_encipherment=True), critical=True),
        "keyUsage bits",
    ),
    "clientAuth on a server": (
        "ed25519-server",
        lambda p, _: p.put(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        ),
        "extendedKeyUsage",
    ),
    "a SAN missing": (
        "p384-server",
        lambda p, _: p.put(
            x509.SubjectAlternativeName([x509.DNSName("p384.example.com")]), critical=False
        ),
        "subjectAltName",
    ),
    "nameConstraints not critical": (
        "p521-int",
        lambda p, _: p.put(p.ext(x509.NameConstraints).value, critical=False),
        "nameConstraints missing or not critical",
    ),
    "nameConstraints dropped": (
        "p521-int",
        lambda p, _: p.drop(x509.NameConstraints),
        "nameConstraints missing",
    ),
    "another subject": (
        "p256-client",
        lambda p, _: replace(
            p, subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p256-client")])
        ),
        "subject",
    ),
    "an extra extension": (
        "p256-int",
        lambda p, _: p.put(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ),
        "unexpected extensions",
    ),
}


def _signer(pki: Pki, name: str) -> CertificateIssuerPrivateKeyTypes:
    issuers = pki.issuers(name)
    return pki.key(issuers[0] if issuers else name)


@pytest.mark.parametrize("name", sorted({target for target, _, _ in MUTATIONS.values()}))
def test_a_faithful_resigned_copy_has_no_problems(pkis: dict[str, Pki], name: str) -> None:
    """The control for the mutations: re-signing alone changes nothing the check sees."""
    pki = pkis["matrix"]
    copy = Parts.of(pki.cert(name)).sign(_signer(pki, name))
    assert _problems_of(pki, name, copy) == []


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_the_profile_check_reports_a_broken_copy(pkis: dict[str, Pki], mutation: str) -> None:
    pki = pkis["matrix"]
    name, mutate, problem = MUTATIONS[mutation]
    broken = mutate(Parts.of(pki.cert(name)), pki).sign(_signer(pki, name))
    found = _problems_of(pki, name, broken)
    assert len(found) == 1, found
    assert problem in found[0]


# --- files: modes, key format, key/certificate pairs (design.md §4) --------------------


def file_problems(ident: Path) -> list[str]:
    problems = []
    if mode(ident) != 0o700:
        problems.append(f"{ident.name}/ has mode {mode(ident):o}")
    key_file = ident / "key.pem"
    if mode(key_file) != 0o600:
        problems.append(f"key.pem has mode {mode(key_file):o}")
    text = key_file.read_text()
    if not text.startswith("-----BEGIN PRIVATE KEY-----\n") or text.count("-----BEGIN") != 1:
        problems.append(f"key.pem is not one unencrypted PKCS#8 key: {text.splitlines()[0]}")
    # -passin: an encrypted key must fail here, not wait for a passphrase
    key_pub = openssl("pkey", "-in", key_file, "-pubout", "-passin", "pass:")
    cert_pub = openssl("x509", "-in", ident / "cert.pem", "-pubkey", "-noout")
    if key_pub.returncode != 0 or cert_pub.returncode != 0:
        problems.append(f"openssl: {key_pub.stderr!r} {cert_pub.stderr!r}")
    elif key_pub.stdout != cert_pub.stdout or b"BEGIN PUBLIC KEY" not in key_pub.stdout:
        problems.append("key.pem's public key is not cert.pem's")
    return problems


@pytest.mark.parametrize(("pki", "name"), CASES)
def test_key_files_are_private_pkcs8_and_match_the_certificate(
    pkis: dict[str, Pki], pki: str, name: str
) -> None:
    assert file_problems(pkis[pki].dir(name)) == []


def _rewrite_key(fmt: serialization.PrivateFormat, enc: serialization.KeySerializationEncryption):
    def rewrite(ident: Path, pki: Pki) -> None:
        key = pki.key(ident.name)
        (ident / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, enc))

    return rewrite


def _other_key(ident: Path, pki: Pki) -> None:
    shutil.copyfile(pki.dir("p256-client") / "key.pem", ident / "key.pem")


FILE_DEFECTS: dict[str, tuple[Callable[[Path, Pki], None], str]] = {
    "key readable by others": (lambda d, _: (d / "key.pem").chmod(0o644), "key.pem has mode"),
    "directory open to others": (lambda d, _: d.chmod(0o755), "has mode 755"),
    "encrypted key": (
        _rewrite_key(
            serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"secret")
        ),
        "BEGIN ENCRYPTED PRIVATE KEY",
    ),
    "traditional EC key": (
        _rewrite_key(serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()),
        "BEGIN EC PRIVATE KEY",
    ),
    "another identity's key": (_other_key, "is not cert.pem's"),
}


def test_a_faithful_copy_of_an_identity_has_no_file_problems(
    pkis: dict[str, Pki], tmp_path: Path
) -> None:
    copy = tmp_path / "p256-server"
    shutil.copytree(pkis["matrix"].dir("p256-server"), copy)
    assert file_problems(copy) == []


@pytest.mark.parametrize("defect", list(FILE_DEFECTS))
def test_the_file_check_reports_a_broken_copy(
    pkis: dict[str, Pki], defect: str, tmp_path: Path
) -> None:
    copy = tmp_path / "p256-server"
    shutil.copytree(pkis["matrix"].dir("p256-server"), copy)
    damage, problem = FILE_DEFECTS[defect]
    damage(copy, pkis["matrix"])
    found = file_problems(copy)
    assert any(problem in p for p in found), found


# --- chain.pem, fullchain.pem, ca.pem (design.md §4) ----------------------------------


def _certs(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if not data.strip():
        return []
    return [
        c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(data)
    ]


def chain_problems(ident: Path, issuers: list[x509.Certificate]) -> list[str]:
    """`issuers`: the CAs above the identity, nearest first, root last (empty for a root)."""
    problems = []
    own = _certs(ident / "cert.pem")
    above = [c.public_bytes(serialization.Encoding.DER) for c in issuers]
    root = above[-1:] or own
    if len(own) != 1:
        problems.append(f"cert.pem holds {len(own)} certificates")
    if _certs(ident / "chain.pem") != above[:-1]:
        problems.append("chain.pem is not the issuing CAs, nearest first, root excluded")
    if _certs(ident / "fullchain.pem") != own + above[:-1]:
        problems.append("fullchain.pem is not cert.pem + chain.pem")
    if _certs(ident / "ca.pem") != root:
        problems.append("ca.pem is not the root of the chain")
    return problems


@pytest.mark.parametrize(("pki", "name"), CASES)
def test_chain_files_hold_the_chain(pkis: dict[str, Pki], pki: str, name: str) -> None:
    p = pkis[pki]
    assert chain_problems(p.dir(name), [p.cert(n) for n in p.issuers(name)]) == []


def test_the_deep_chain_is_nearest_first(pkis: dict[str, Pki]) -> None:
    p = pkis["matrix"]
    chain = x509.load_pem_x509_certificates((p.dir("deep-server") / "chain.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in chain] == [
        "CN=deep-int2,O=pkiform e2e,C=JP",
        "CN=deep-int1,O=pkiform e2e,C=JP",
    ]


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


CHAIN_DEFECTS: dict[str, tuple[str, Callable[[Pki], bytes], str]] = {
    # name: (file to overwrite, its new content, the problem it must cause)
    "chain farthest first": (
        "chain.pem",
        lambda p: _pem(p.cert("deep-int1"), p.cert("deep-int2")),
        "chain.pem is not",
    ),
    "chain with the root": (
        "chain.pem",
        lambda p: _pem(p.cert("deep-int2"), p.cert("deep-int1"), p.cert("deep-root")),
        "chain.pem is not",
    ),
    "fullchain without the chain": (
        "fullchain.pem",
        lambda p: _pem(p.cert("deep-server")),
        "fullchain.pem is not",
    ),
    "ca.pem holding an intermediate": (
        "ca.pem",
        lambda p: _pem(p.cert("deep-int1")),
        "ca.pem is not",
    ),
}


def test_a_faithful_copy_has_no_chain_problems(pkis: dict[str, Pki], tmp_path: Path) -> None:
    p = pkis["matrix"]
    copy = tmp_path / "deep-server"
    shutil.copytree(p.dir("deep-server"), copy)
    assert chain_problems(copy, [p.cert(n) for n in p.issuers("deep-server")]) == []


@pytest.mark.parametrize("defect", list(CHAIN_DEFECTS))
def test_the_chain_check_reports_a_broken_copy(
    pkis: dict[str, Pki], defect: str, tmp_path: Path
) -> None:
    p = pkis["matrix"]
    copy = tmp_path / "deep-server"
    shutil.copytree(p.dir("deep-server"), copy)
    file, content, problem = CHAIN_DEFECTS[defect]
    (copy / file).write_bytes(content(p))
    found = chain_problems(copy, [p.cert(n) for n in p.issuers("deep-server")])
    assert any(problem in f for f in found), found
