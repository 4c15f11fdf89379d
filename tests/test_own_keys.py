"""Keys pkiform never makes (issue 14): certificate requests it signs (`csr`) and existing
CAs it adopts (`adopt`), made for real by the tutorial's own openssl commands (run from
the README) and by easy-rsa, and checked by openssl verify and mutual-TLS handshakes
with keys that never entered the output directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import pkiform
from tests.helpers.files import snapshot
from tests.helpers.processes import TIMEOUT, Proc, Spawn, free_port
from tests.helpers.repo import ROOT
from tests.helpers.run import RunCli
from tests.helpers.tools import missing_tool, openssl

pytest_plugins = ["pytester"]

README = (ROOT / "README.md").read_text()


def block(name: str) -> str:
    """The README block tagged for this file under `name`."""
    tag = re.escape(f"<!-- tested by tests/test_own_keys.py: {name} -->")
    found = re.search(tag + r"\n```[a-z]*\n(.*?)```", README, re.S)
    assert found, f"README.md lost the block tagged {name!r}"
    return found.group(1)


def commands(script: str) -> list[str]:
    joined = script.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


def ossl(cwd: Path, *args: str) -> str:
    exe = shutil.which("openssl")
    assert exe is not None
    return run([exe, *args], cwd)


def making_commands() -> list[str]:
    """The README's tutorial commands that make the CA, the keys and the requests: all
    but the signing (`openssl x509 -req`, which the spec replaces) and the handshake."""
    lines = commands(block("tutorial"))
    assert len(lines) == 10  # the tutorial's ten commands
    signing = [line for line in lines if line.startswith("openssl x509 -req")]
    handshake = [
        line for line in lines if line.startswith(("openssl s_server", "openssl s_client"))
    ]
    assert len(signing) == 2 and len(handshake) == 2
    return [line for line in lines if line not in signing + handshake]


@pytest.fixture(scope="module")
def tutorial_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the tutorial's commands make (an RSA 4096 root C=JP, CN=eeetann-ca valid 7
    days, RSA 2048 keys and requests C=JP, CN=hoge), made once: a 4096-bit key is slow."""
    folder = tmp_path_factory.mktemp("tutorial")
    for line in making_commands():
        run(["bash", "-e", "-c", line], folder)
    return folder


@pytest.fixture
def tutorial(tutorial_files: Path, tmp_path: Path) -> Path:
    """The tutorial's files and the README's spec in the test's folder; the hosts' keys
    moved to hosts/, out of the spec's folder, as they live on their hosts."""
    folder = tmp_path / "repo"
    shutil.copytree(tutorial_files, folder)
    (tmp_path / "hosts").mkdir()
    for key in ("server.key", "client.key"):
        (folder / key).rename(tmp_path / "hosts" / key)
    (folder / "spec.yaml").write_text(block("tutorial-spec"))
    return folder


def apply(run_cli: RunCli, folder: Path, *args: str) -> str:
    result = run_cli("apply", folder / "spec.yaml", "-o", folder / "pki", *args)
    assert result.code == 0, result.err
    return result.out


def plan(run_cli: RunCli, folder: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli("plan", folder / "spec.yaml", "-o", folder / "pki", *args)
    return result.code, result.out, result.err


def other_ca(folder: Path, name: str) -> None:
    """Another root named as the tutorial's, with a key of its own: NAME.crt, NAME.key."""
    ossl(folder, "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout",
         f"{name}.key", "-subj", "/C=JP/CN=eeetann-ca", "-days", "7",
         "-out", f"{name}.crt")  # fmt: skip


# --- the tutorial ------------------------------------------------------------------------


def test_the_readme_shows_what_applying_the_tutorial_spec_prints(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tutorial)
    shown = block("tutorial-apply").splitlines()
    assert shown[0] == "$ pkiform apply spec.yaml"
    result = run_cli("apply", "spec.yaml")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines() == shown[1:]


def test_the_original_ca_crt_verifies_both_certificates_signed_from_the_requests(
    tutorial: Path, run_cli: RunCli
) -> None:
    original = (tutorial / "ca.crt").read_bytes()
    apply(run_cli, tutorial)
    pki = tutorial / "pki"
    assert (pki / "ca" / "cert.pem").read_bytes() == original  # byte for byte
    status = run_cli("status", tutorial / "spec.yaml", "-o", pki)
    assert (status.code, status.out.splitlines()[-1]) == (0, "3 identities, 0 with errors.")
    assert (tutorial / "ca.crt").read_bytes() == original
    use = commands(block("tutorial-use"))
    assert use[0] == "openssl verify -CAfile ca.crt pki/server/cert.pem pki/client/cert.pem"
    verified = ossl(tutorial, *use[0].split()[1:])
    assert verified == "pki/server/cert.pem: OK\npki/client/cert.pem: OK\n"
    # the certificates certify the hosts' keys, which pkiform never saw
    for name in ("server", "client"):
        cert = x509.load_pem_x509_certificate((pki / name / "cert.pem").read_bytes())
        host_key = serialization.load_pem_private_key(
            (tutorial.parent / "hosts" / f"{name}.key").read_bytes(), None
        )
        assert cert.public_key() == host_key.public_key()
        assert cert.subject.rfc4514_string() == "CN=hoge,C=JP"
        assert sorted(p.name for p in (pki / name).iterdir()) == [
            "ca.pem",
            "cert.pem",
            "chain.pem",
            "csr.pem",
            "fullchain.pem",
        ]
        assert (pki / name / "csr.pem").read_bytes() == (tutorial / f"{name}.csr").read_bytes()
    # the negative twin: another CA of the same name verifies neither
    other_ca(tutorial, "other")
    refused = openssl("verify", "-CAfile", tutorial / "other.crt", pki / "server" / "cert.pem")
    assert refused.returncode != 0
    assert b"unable to get local issuer certificate" in refused.stderr


def test_the_adopted_key_is_kept_0600_as_pkcs8_and_is_the_same_key(
    tutorial: Path, run_cli: RunCli
) -> None:
    apply(run_cli, tutorial)
    key_file = tutorial / "pki" / "ca" / "key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    data = key_file.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    adopted = serialization.load_pem_private_key(data, None)
    original = serialization.load_pem_private_key((tutorial / "ca.key").read_bytes(), None)
    assert isinstance(adopted, rsa.RSAPrivateKey) and isinstance(original, rsa.RSAPrivateKey)
    assert adopted.private_numbers() == original.private_numbers()
    manifest = json.loads((tutorial / "pki" / "manifest.json").read_text())
    assert manifest["identities"]["server"]["files"]["csr"] == "server/csr.pem"
    assert "key" not in manifest["identities"]["server"]["files"]


def connect(spawn: Spawn, server: list[str], client: list[str]) -> tuple[Proc, Proc]:
    for _ in range(5):
        port = str(free_port())
        started = spawn(*[a.replace("8443", port) for a in server])
        if started.wait_for("ACCEPT"):
            return started, spawn(*[a.replace("8443", port) for a in client])
        started.stop()
    pytest.fail(f"openssl s_server did not start: {started.text}")


def handshake_commands(folder: Path) -> tuple[list[str], list[str]]:
    """The README's s_server and s_client lines, the hosts' keys where the hosts keep them."""
    lines = commands(block("tutorial-use"))
    server, client = (line.split()[1:] for line in lines[1:])
    assert server[0] == "s_server" and client[0] == "s_client"
    keys = folder.parent / "hosts"

    def placed(argv: list[str]) -> list[str]:
        out = [str(keys / a) if a.endswith(".key") else a for a in argv]
        return [str(folder / a) if a.startswith("pki/") or a == "ca.crt" else a for a in out]

    return placed(server), placed(client)


def test_mutual_tls_works_with_keys_that_never_entered_the_output_directory(
    tutorial: Path, run_cli: RunCli, spawn: Spawn
) -> None:
    apply(run_cli, tutorial)
    assert not list((tutorial / "pki").rglob("*.key"))
    assert {p.parent.name for p in (tutorial / "pki").rglob("key.pem")} == {"ca"}
    server_argv, client_argv = handshake_commands(tutorial)
    server, client = connect(spawn, server_argv, client_argv)
    assert client.wait_for("Verify return code: 0 (ok)"), client.text
    assert "Verified peername: localhost" in client.text
    client.send(b"hello from the client's own key\n")
    assert server.wait_for("hello from the client's own key"), server.text
    assert "subject=C = JP, CN = hoge" in server.text
    client.close_input()
    assert client.popen.wait(TIMEOUT) == 0, client.text


def test_the_handshake_fails_with_a_key_the_certificate_was_not_signed_for(
    tutorial: Path, run_cli: RunCli, spawn: Spawn
) -> None:
    apply(run_cli, tutorial)
    server_argv, client_argv = handshake_commands(tutorial)
    hosts = tutorial.parent / "hosts"
    # the client presents its certificate with the server's key: openssl refuses the pair
    client_argv[client_argv.index(str(hosts / "client.key"))] = str(hosts / "server.key")
    _, client = connect(spawn, server_argv, client_argv)
    assert client.wait_for("key values mismatch"), client.text
    assert client.popen.wait(TIMEOUT) != 0
    assert "Verify return code: 0 (ok)" not in client.text


# --- easy-rsa ------------------------------------------------------------------------------


def easyrsa() -> Path:
    """easy-rsa's script: on PATH, or where Debian's package puts it."""
    found = shutil.which("easyrsa")
    if found is not None:
        return Path(found)
    packaged = Path("/usr/share/easy-rsa/easyrsa")
    if packaged.is_file():
        return packaged
    missing_tool("easyrsa", "apt-get install easy-rsa")
    raise AssertionError  # missing_tool skips or fails


def easyrsa_ca(folder: Path, *, password: str | None = None) -> Path:
    """A CA made by easy-rsa's own build-ca, in `folder`/pki; its ca.crt."""
    env = {**os.environ, "EASYRSA_BATCH": "1", "EASYRSA_REQ_CN": "Example Easy-RSA CA"}
    env["EASYRSA_PKI"] = str(folder / "pki")
    script = easyrsa()
    subprocess.run([script, "init-pki"], cwd=folder, env=env, capture_output=True, check=True)
    build = [script, "build-ca", "nopass"] if password is None else [script, "build-ca"]
    if password is not None:
        env["EASYRSA_PASSIN"] = env["EASYRSA_PASSOUT"] = f"pass:{password}"
    done = subprocess.run(build, cwd=folder, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder / "pki" / "ca.crt"


EASYRSA_SPEC = """\
version: 1
identities:
  easy-ca:
    kind: root
    adopt: {cert: pki/ca.crt, key: pki/private/ca.key%s}
  web:
    kind: server
    issuer: easy-ca
    dns: [localhost]
"""


@pytest.mark.parametrize("password", [None, "correct horse battery"], ids=["plain", "encrypted"])
def test_an_easy_rsa_ca_is_adopted_and_issues_a_server(
    password: str | None, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_crt = easyrsa_ca(tmp_path, password=password)
    key_pem = (tmp_path / "pki" / "private" / "ca.key").read_bytes()
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED" if password else b"-----BEGIN PRIVATE")
    extra = ", password_env: EASY_CA_PASSWORD" if password else ""
    (tmp_path / "spec.yaml").write_text(EASYRSA_SPEC % extra)
    if password:
        monkeypatch.setenv("EASY_CA_PASSWORD", password)
    result = run_cli("apply", "spec.yaml")
    assert result.code == 0, result.err
    assert Path("pki/easy-ca/cert.pem").read_bytes() == ca_crt.read_bytes()
    verified = openssl("verify", "-CAfile", ca_crt, "pki/web/cert.pem")
    assert verified.stdout == b"pki/web/cert.pem: OK\n", verified.stderr
    assert run_cli("plan", "spec.yaml").out == "No changes: 2 identities up to date.\n"
    # and easy-rsa's own CA files were only read
    assert (tmp_path / "pki" / "private" / "ca.key").read_bytes() == key_pem


# --- bad input: each a located error, nothing written ----------------------------------


def make_request(folder: Path, name: str, *key_args: str) -> Path:
    ossl(folder, "req", "-new", "-nodes", *key_args, "-keyout", f"{name}.key", "-subj",
         f"/CN={name}", "-out", f"{name}.csr")  # fmt: skip
    return folder / f"{name}.csr"


def broken_signature(folder: Path) -> None:
    der = bytearray(
        x509.load_pem_x509_csr((folder / "server.csr").read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
    )
    der[-5] ^= 0x01  # inside the signature BIT STRING, the request's last field
    (folder / "server.csr").write_bytes(bytes(der))


def weak_request(folder: Path) -> None:
    ossl(folder, "req", "-new", "-nodes", "-newkey", "rsa:1024", "-keyout", "weak.key",
         "-subj", "/CN=hoge", "-out", "server.csr")  # fmt: skip


def not_a_request(folder: Path) -> None:
    shutil.copy(folder / "ca.crt", folder / "server.csr")


def not_a_ca(folder: Path) -> None:
    ossl(folder, "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", "ca.key",
         "-subj", "/CN=leaf", "-days", "7", "-addext", "basicConstraints=critical,CA:FALSE",
         "-out", "ca.crt")  # fmt: skip


def key_of_another(folder: Path) -> None:
    ossl(folder, "genrsa", "-out", "ca.key", "2048")


def encrypted_without_password(folder: Path) -> None:
    ossl(folder, "pkcs8", "-topk8", "-in", "ca.key", "-out", "ca.key.enc", "-passout",
         "pass:s3cret", "-v2", "aes-256-cbc")  # fmt: skip
    (folder / "ca.key.enc").rename(folder / "ca.key")


def pkcs12_asked(folder: Path) -> None:
    spec = folder / "spec.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    csr: client.csr\n",
            "    csr: client.csr\n    outputs: {pkcs12: {password_env: P12}}\n",
        )
    )


BAD = {
    "broken signature": (
        broken_signature,
        "spec.yaml:12:10: error: identities.server.csr: server.csr has a signature that does "
        "not verify with its own key: it was altered, or made without the private key (proof "
        "of possession fails)",
    ),
    "rsa 1024": (
        weak_request,
        "spec.yaml:12:10: error: identities.server.csr: server.csr holds an RSA key of 1024 "
        "bits; pkiform accepts RSA keys of at least 2048 bits",
    ),
    "not a request": (
        not_a_request,
        "spec.yaml:12:10: error: identities.server.csr: server.csr is not a certificate request "
        "(it starts with -----BEGIN CERTIFICATE-----)",
    ),
    "not a CA": (
        not_a_ca,
        "spec.yaml:8:19: error: identities.ca.adopt.cert: ca.crt is not a CA certificate: its "
        "basicConstraints says CA:FALSE",
    ),
    "key does not match": (
        key_of_another,
        "spec.yaml:8:32: error: identities.ca.adopt.key: ca.key is not the key of ca.crt: "
        "their public keys differ",
    ),
    "encrypted key without its password": (
        encrypted_without_password,
        "spec.yaml:8:32: error: identities.ca.adopt.key: ca.key is encrypted; give its password "
        "with adopt.password_env or adopt.password_file",
    ),
    "pkcs12 for a request": (
        pkcs12_asked,
        "spec.yaml:20:15: error: identities.client.outputs.pkcs12: outputs.pkcs12 puts the "
        "private key into bundle.p12, and pkiform holds no key for an identity signed from a "
        "certificate request; turn it off (outputs: {pkcs12: false}); truststore.p12 needs no "
        "key",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_located_error_and_nothing_is_written(
    case: str, tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    spoil, message = BAD[case]
    spoil(tutorial)
    monkeypatch.chdir(tutorial)
    for command in ("validate", "plan", "apply"):
        result = run_cli(command, "spec.yaml")
        assert (result.code, result.err, result.out) == (1, message + "\n", ""), command
    assert not (tutorial / "pki").exists()


def test_every_bad_input_is_reported_in_one_run(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak_request(tutorial)
    key_of_another(tutorial)
    pkcs12_asked(tutorial)
    monkeypatch.chdir(tutorial)
    result = run_cli("apply", "spec.yaml")
    assert result.code == 1
    assert [line.split(": error: ")[1].split(":")[0] for line in result.err.splitlines()] == [
        "identities.ca.adopt.key",
        "identities.server.csr",
        "identities.client.outputs.pkcs12",
    ]


def test_a_password_env_that_is_not_set_is_needed_only_to_adopt(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    encrypted_without_password(tutorial)
    spec = tutorial / "spec.yaml"
    spec.write_text(
        spec.read_text().replace("key: ca.key}", "key: ca.key, password_env: CA_KEY_PASSWORD}")
    )
    monkeypatch.chdir(tutorial)
    monkeypatch.delenv("CA_KEY_PASSWORD", raising=False)
    assert run_cli("validate", "spec.yaml").code == 0  # validate cannot open it: no error
    result = run_cli("apply", "spec.yaml")
    assert (result.code, result.err) == (
        1,
        "spec.yaml:8:54: error: identities.ca.adopt.password_env: environment variable "
        "CA_KEY_PASSWORD is not set; needed to open adopt.key ca.key of 'ca'\n",
    )
    assert not (tutorial / "pki").exists()
    monkeypatch.setenv("CA_KEY_PASSWORD", "wrong")
    result = run_cli("plan", "spec.yaml")
    assert (result.code, result.err) == (
        1,
        "spec.yaml:8:54: error: identities.ca.adopt.password_env: ca.key does not open with "
        "environment variable CA_KEY_PASSWORD\n",
    )
    monkeypatch.setenv("CA_KEY_PASSWORD", "s3cret")
    assert run_cli("apply", "spec.yaml").code == 0
    assert "s3cret" not in "".join(p.read_text() for p in Path("pki").rglob("*.pem"))
    # adopted: the password is needed no more
    monkeypatch.delenv("CA_KEY_PASSWORD")
    assert run_cli("plan", "spec.yaml").out == "No changes: 3 identities up to date.\n"


def test_what_the_spec_writes_must_say_what_the_adopted_certificate_says(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tutorial / "spec.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    adopt: {cert: ca.crt, key: ca.key}   # subject, key and validity: from ca.crt\n",
            "    adopt: {cert: ca.crt, key: ca.key}\n"
            "    subject: {CN: another-ca}\n"
            "    key: {type: rsa, size: 2048}\n"
            "    validity: 10y\n"
            "    path_length: 0\n",
        )
    )
    monkeypatch.chdir(tutorial)
    result = run_cli("validate", "spec.yaml")
    never = "an adopted certificate is never re-signed implicitly"
    assert result.err.splitlines() == [
        "spec.yaml:9:19: error: identities.ca.subject.CN: the adopted certificate's CN is "
        f"'eeetann-ca', not 'another-ca'; {never}: write what it says, or leave subject.CN out",
        "spec.yaml:10:28: error: identities.ca.key.size: the adopted key is rsa 4096, not rsa "
        f"2048; {never}: write what it is, or leave key out",
        "spec.yaml:11:15: error: identities.ca.validity: the adopted certificate is valid for "
        f"7d, not 10y (from {_dates(tutorial / 'ca.crt')}); {never}: write what it says, or "
        "leave validity out",
        "spec.yaml:12:18: error: identities.ca.path_length: the adopted certificate has no path "
        f"length, not 0; {never}: write what it says, or leave path_length out",
    ]


def _dates(cert_file: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return f"{start:%Y-%m-%d %H:%M}Z to {end:%Y-%m-%d %H:%M}Z"


def test_a_key_the_spec_writes_for_a_request_must_be_the_requests(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tutorial / "spec.yaml"
    spec.write_text(spec.read_text().replace("    csr: client.csr\n", "    csr: client.csr\n"
                                              "    key: {type: ec}\n"))  # fmt: skip
    monkeypatch.chdir(tutorial)
    result = run_cli("validate", "spec.yaml")
    assert result.err == (
        "spec.yaml:20:17: error: identities.client.key.type: client.csr holds a rsa 2048 key, "
        "not ec P-256; the spec's key must say what the request holds, or be left out\n"
    )


def test_a_request_asking_for_more_is_signed_with_a_warning_saying_what_is_left_out(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ossl(tutorial, "req", "-new", "-key", str(tutorial.parent / "hosts" / "server.key"),
         "-subj", "/C=JP/O=Else/CN=other", "-addext", "subjectAltName=DNS:hoge,DNS:evil.example",
         "-addext", "basicConstraints=critical,CA:TRUE", "-out", "server.csr")  # fmt: skip
    monkeypatch.chdir(tutorial)
    warning = (
        "spec.yaml:12:10: warning: identities.server.csr: server.csr asks for what the spec "
        "does not say, and the certificate leaves it out: subject CN=other,O=Else,C=JP (the "
        "certificate's is CN=hoge,C=JP); dns evil.example (not in the spec); basic "
        "constraints (the certificate's come from the spec)\n"
    )
    assert run_cli("validate", "spec.yaml").err == warning
    result = run_cli("apply", "spec.yaml")
    assert (result.code, result.err) == (0, warning)
    cert = x509.load_pem_x509_certificate(Path("pki/server/cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["hoge", "localhost"]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.subject.rfc4514_string() == "CN=hoge,C=JP"


# --- later applies ---------------------------------------------------------------------------


def test_a_second_apply_changes_nothing_and_a_new_key_in_the_request_reissues(
    tutorial: Path, run_cli: RunCli
) -> None:
    apply(run_cli, tutorial)
    before = snapshot(tutorial / "pki")
    assert plan(run_cli, tutorial) == (0, "No changes: 3 identities up to date.\n", "")
    apply(run_cli, tutorial)
    assert snapshot(tutorial / "pki") == before
    # the same request in DER, and signed again with the same key: nothing to do
    ossl(tutorial, "req", "-in", "server.csr", "-outform", "DER", "-out", "server.csr")
    assert plan(run_cli, tutorial)[0] == 0
    host_key = str(tutorial.parent / "hosts" / "client.key")
    ossl(tutorial, "req", "-new", "-key", host_key, "-subj", "/C=JP/CN=hoge", "-out", "client.csr")
    assert plan(run_cli, tutorial)[0] == 0
    apply(run_cli, tutorial)
    assert snapshot(tutorial / "pki") == before
    # a new key: the certificate follows it
    ossl(tutorial, "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-keyout", "../hosts/server2.key", "-subj", "/C=JP/CN=hoge",
         "-out", "server.csr")  # fmt: skip
    assert plan(run_cli, tutorial) == (
        2,
        "  ~ server (server): reissue\n      csr: new key\nPlan: 1 to reissue; 2 unchanged.\n",
        "",
    )
    apply(run_cli, tutorial)
    cert = x509.load_pem_x509_certificate((tutorial / "pki/server/cert.pem").read_bytes())
    new_key = serialization.load_pem_private_key(
        (tutorial.parent / "hosts" / "server2.key").read_bytes(), None
    )
    assert cert.public_key() == new_key.public_key()
    archived = list((tutorial / "pki" / "server" / "archive").glob("*/cert.pem"))
    assert len(archived) == 1
    assert ossl(tutorial, "verify", "-CAfile", "ca.crt", "pki/server/cert.pem").endswith("OK\n")


def test_the_adopted_files_may_go_and_files_that_differ_are_noted_and_left_alone(
    tutorial: Path, run_cli: RunCli
) -> None:
    apply(run_cli, tutorial)
    before = snapshot(tutorial / "pki")
    (tutorial / "ca.key").rename(tutorial.parent / "ca.key")  # into safe storage
    (tutorial / "ca.crt").rename(tutorial.parent / "ca.crt")
    assert plan(run_cli, tutorial) == (0, "No changes: 3 identities up to date.\n", "")
    apply(run_cli, tutorial)
    # another CA's files where the adopted ones were
    other_ca(tutorial, "ca")
    code, out, err = plan(run_cli, tutorial)
    assert (code, err) == (0, "")
    assert out == (
        "  ? ca: ca.crt is not the certificate adopted into ca/cert.pem; left as adopted "
        "(apply --rekey ca adopts ca.crt instead)\n"
        "No changes: 3 identities up to date.\n"
    )
    document = json.loads(run_cli("plan", tutorial / "spec.yaml", "-o", tutorial / "pki",
                                  "--json").out)  # fmt: skip
    assert document["notes"] == [{"name": "ca", "note": out.splitlines()[0][len("  ? ca: ") :]}]
    apply(run_cli, tutorial)
    assert snapshot(tutorial / "pki") == before


def test_rekey_adopts_the_files_again_and_reissues_what_the_ca_issued(
    tutorial: Path, run_cli: RunCli
) -> None:
    apply(run_cli, tutorial)
    # the files are those adopted: nothing to adopt again, nothing below to reissue
    assert plan(run_cli, tutorial, "--rekey", "ca") == (
        0,
        "No changes: 3 identities up to date.\n",
        "",
    )
    other_ca(tutorial, "ca")
    code, out, _ = plan(run_cli, tutorial, "--rekey", "ca")
    assert code == 2
    assert out.splitlines()[:6] == [
        "  + ca (root): adopt",
        "      --rekey asked to adopt ca.crt and ca.key again",
        "  ~ client (client): reissue",
        "      issuer 'ca' adopts another certificate and key",
        "  ~ server (server): reissue",
        "      issuer 'ca' adopts another certificate and key",
    ]
    apply(run_cli, tutorial, "--rekey", "ca")
    assert (tutorial / "pki/ca/cert.pem").read_bytes() == (tutorial / "ca.crt").read_bytes()
    assert len(list((tutorial / "pki/ca/archive").glob("*/key.pem"))) == 1
    assert ossl(tutorial, "verify", "-CAfile", "ca.crt", "pki/server/cert.pem").endswith("OK\n")


def test_an_adopted_ca_near_its_end_is_due_and_renew_re_signs_it(
    tutorial: Path, run_cli: RunCli
) -> None:
    apply(run_cli, tutorial)
    original = (tutorial / "ca.crt").read_bytes()
    end = x509.load_pem_x509_certificate(original).not_valid_after_utc
    later = (end - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    crl_ends = x509.load_pem_x509_crl((tutorial / "pki/ca/crl.pem").read_bytes()).next_update_utc
    code, out, _ = plan(run_cli, tutorial, "--at", later)
    assert code == 2, out
    # due, not blocked: its CRL is re-signed, and what it issued ends with it (not due)
    due = (
        f"? ca: due for renewal (expires {end:%Y-%m-%d} (in 24h) < renew_before 2d8h): an "
        "adopted certificate is never re-signed implicitly: pass --renew ca to re-sign it with "
        "the same key and subject; until then it issues as before"
    )
    assert [line.strip() for line in out.splitlines()] == [
        "~ ca: re-sign crl.pem (CRL number 2, 0 revoked)",
        f"nextUpdate {crl_ends:%Y-%m-%d %H:%M}Z (in 24h) < a third of crl_validity 7d",
        due,
        "Plan: 1 CRL/OCSP to sign; 3 unchanged.",
    ]
    status = run_cli("status", tutorial / "spec.yaml", "-o", tutorial / "pki", "--at", later)
    assert (
        f"        renewal due: expires {end:%Y-%m-%d} (in 24h) < renew_before 2d8h; an adopted "
        "certificate is never re-signed implicitly: pass --renew ca to re-sign it with the same "
        "key and subject\n"
    ) in status.out
    applied = run_cli("apply", tutorial / "spec.yaml", "-o", tutorial / "pki", "--at", later)
    assert applied.code == 0, applied.err
    assert f"  {due}\n" in applied.out
    crl = x509.load_pem_x509_crl((tutorial / "pki/ca/crl.pem").read_bytes())
    assert crl.is_signature_valid(x509.load_pem_x509_certificate(original).public_key())
    # expired: nothing can be issued below it any more
    gone = (end + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, _ = plan(run_cli, tutorial, "--at", gone)
    assert code == 1
    assert out.splitlines()[:3] == [
        "  ! ca (root): blocked",
        f"      expired {end:%Y-%m-%d %H:%M}Z",
        "      an adopted certificate is never re-signed implicitly: pass --renew ca to re-sign "
        "it with the same key and subject",
    ]
    refused = run_cli("apply", tutorial / "spec.yaml", "-o", tutorial / "pki", "--at", gone)
    assert refused.code == 1
    assert refused.err == (
        "pkiform: error: refusing to apply while the adopted CA ca is blocked: plan says why, "
        "and what to pass (nothing was written)\n"
    )
    # --renew: the same key and subject, the original archived, everything below reissued
    apply(run_cli, tutorial, "--renew", "ca", "--at", later)
    renewed = x509.load_pem_x509_certificate((tutorial / "pki/ca/cert.pem").read_bytes())
    first = x509.load_pem_x509_certificate(original)
    assert renewed.subject.public_bytes() == first.subject.public_bytes()
    assert renewed.public_key() == first.public_key()
    assert renewed.not_valid_after_utc > end
    assert [p.read_bytes() for p in (tutorial / "pki/ca/archive").glob("*/cert.pem")] == [original]
    at = str(int(datetime.fromisoformat(later.replace("Z", "+00:00")).timestamp()))
    for name in ("server", "client"):
        verified = openssl("verify", "-attime", at, "-CAfile", tutorial / "pki/ca/cert.pem",
                           tutorial / "pki" / name / "cert.pem")  # fmt: skip
        assert verified.returncode == 0, verified.stdout
        # the same key and subject: the ca.crt clients have verifies them until it ends
        verified = openssl("verify", "-attime", at, "-CAfile", tutorial / "ca.crt",
                           tutorial / "pki" / name / "cert.pem")  # fmt: skip
        assert verified.returncode == 0, verified.stdout
        after = str(int(end.timestamp()) + 60)
        expired = openssl("verify", "-attime", after, "-CAfile", tutorial / "ca.crt",
                          tutorial / "pki" / name / "cert.pem")  # fmt: skip
        assert b"certificate has expired" in expired.stderr
    code, out, _ = plan(run_cli, tutorial, "--at", later)
    assert (code, out) == (0, "No changes: 3 identities up to date.\n")
    # renewed again: as long as the first, pkiform's 5 minutes of backdating aside
    apply(run_cli, tutorial, "--renew", "ca", "--at", later)
    again = x509.load_pem_x509_certificate((tutorial / "pki/ca/cert.pem").read_bytes())
    span = again.not_valid_after_utc - again.not_valid_before_utc
    assert span == renewed.not_valid_after_utc - renewed.not_valid_before_utc
    assert span == timedelta(days=7, minutes=5)


def test_a_changed_request_is_found_however_the_last_apply_left_the_manifest(
    tutorial: Path, run_cli: RunCli
) -> None:
    # no settled mark and no seal may answer for files the spec only names
    apply(run_cli, tutorial)
    manifest = json.loads((tutorial / "pki" / "manifest.json").read_text())
    assert "settled" not in manifest
    assert "seal" not in manifest["identities"]["server"]
    ossl(tutorial, "req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout",
         "../hosts/client2.key", "-subj", "/C=JP/CN=hoge", "-out", "client.csr")  # fmt: skip
    assert plan(run_cli, tutorial)[1].splitlines()[:2] == [
        "  ~ client (client): reissue",
        "      csr: new key",
    ]


def test_rekey_of_an_identity_signed_from_a_request_says_where_its_key_is(
    tutorial: Path, run_cli: RunCli
) -> None:
    apply(run_cli, tutorial)
    code, _, err = plan(run_cli, tutorial, "--rekey", "server")
    assert (code, err) == (
        1,
        "pkiform: error: --rekey server: its key is with the owner of the request server.csr; "
        "make a new request there (a new key in it reissues the certificate)\n",
    )


# --- intermediates -----------------------------------------------------------------------


def openssl_hierarchy(folder: Path) -> None:
    """An openssl root and an intermediate it signed: root.crt/key, sub.crt/key."""
    ossl(folder, "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-keyout", "root.key", "-subj", "/O=Elsewhere/CN=Outside Root",
         "-days", "3650", "-out", "root.crt")  # fmt: skip
    ossl(folder, "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-keyout", "sub.key", "-subj", "/O=Elsewhere/CN=Issuing", "-out", "sub.csr")  # fmt: skip
    (folder / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE,pathlen:0\n"
        "keyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    ossl(folder, "x509", "-req", "-in", "sub.csr", "-CA", "root.crt", "-CAkey", "root.key",
         "-CAcreateserial", "-days", "1825", "-extfile", "ca.ext", "-out", "sub.crt")  # fmt: skip


def test_an_intermediate_adopted_with_the_chain_above_it_issues_leaves_that_reach_its_root(
    tmp_path: Path, run_cli: RunCli
) -> None:
    openssl_hierarchy(tmp_path)
    (tmp_path / "spec.yaml").write_text(
        "version: 1\n"
        "identities:\n"
        "  issuing:\n"
        "    kind: intermediate\n"
        "    adopt: {cert: sub.crt, key: sub.key, chain: root.crt}\n"
        "  web: {kind: server, issuer: issuing, dns: [localhost]}\n"
    )
    result = run_cli("apply", "spec.yaml")
    assert result.code == 0, result.err
    web = tmp_path / "pki" / "web"
    assert (web / "ca.pem").read_bytes() == (tmp_path / "root.crt").read_bytes()
    assert (web / "chain.pem").read_bytes() == (tmp_path / "sub.crt").read_bytes()
    verified = openssl("verify", "-CAfile", tmp_path / "root.crt", "-untrusted",
                       web / "chain.pem", web / "cert.pem")  # fmt: skip
    assert verified.returncode == 0, verified.stdout
    alone = openssl("verify", "-CAfile", tmp_path / "root.crt", web / "cert.pem")
    assert alone.returncode != 0  # the chain file is what makes it verify
    status = run_cli("status", "spec.yaml")
    assert (status.code, status.out.splitlines()[-1]) == (0, "2 identities, 0 with errors.")
    assert run_cli("plan", "spec.yaml").out == "No changes: 2 identities up to date.\n"
    sub = x509.load_pem_x509_certificate((tmp_path / "sub.crt").read_bytes())
    later = (sub.not_valid_after_utc - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    due = run_cli("plan", "spec.yaml", "--at", later)
    assert due.code == 2  # the leaf below it is renewed, up to its end
    assert due.out.splitlines()[0] == "  ~ web (server): reissue"
    assert (
        f"  ? issuing: due for renewal (expires {sub.not_valid_after_utc:%Y-%m-%d} (in 24h) < "
        "renew_before 608d8h): an adopted certificate is never re-signed implicitly: renew it "
        "where its issuer is, then pass --rekey issuing to adopt the new certificate; until "
        "then it issues as before\n"
    ) in due.out
    renew = run_cli("plan", "spec.yaml", "--renew", "issuing")
    assert renew.err == (
        "pkiform: error: --renew issuing: its issuer lives elsewhere (adopt.chain), which "
        "pkiform cannot sign with; renew it there, then adopt the new certificate with "
        "--rekey issuing\n"
    )


def test_the_trust_bundle_holds_the_root_above_intermediates_adopted_with_their_chain(
    tmp_path: Path, run_cli: RunCli
) -> None:
    openssl_hierarchy(tmp_path)
    # a second intermediate of the same outside root
    ossl(tmp_path, "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-keyout", "sub2.key", "-subj", "/O=Elsewhere/CN=Issuing 2",
         "-out", "sub2.csr")  # fmt: skip
    ossl(tmp_path, "x509", "-req", "-in", "sub2.csr", "-CA", "root.crt", "-CAkey", "root.key",
         "-CAcreateserial", "-days", "1825", "-extfile", "ca.ext", "-out", "sub2.crt")  # fmt: skip
    (tmp_path / "spec.yaml").write_text(
        "version: 1\n"
        "identities:\n"
        "  issuing: {kind: intermediate, adopt: {cert: sub.crt, key: sub.key, chain: root.crt}}\n"
        "  issuing-2:\n"
        "    kind: intermediate\n"
        "    adopt: {cert: sub2.crt, key: sub2.key, chain: root.crt}\n"
        "  own: {kind: root}\n"
        "  web: {kind: server, issuer: issuing-2, dns: [localhost]}\n"
        "  api: {kind: server, issuer: own, dns: [localhost]}\n"
    )
    assert run_cli("apply", "spec.yaml").code == 0
    pki = tmp_path / "pki"
    bundle = pki / "trust-bundle.pem"
    # by the name of the identity each anchors: the outside root once, then the spec's own
    outside = (tmp_path / "root.crt").read_bytes()
    assert bundle.read_bytes() == outside + (pki / "own" / "cert.pem").read_bytes()
    for name, chain in (("web", ["-untrusted", pki / "web" / "chain.pem"]), ("api", [])):
        verified = openssl("verify", "-CAfile", bundle, *chain, pki / name / "cert.pem")
        assert verified.returncode == 0, verified.stderr
    # a directory an older pkiform wrote without it: status says so, apply writes it
    bundle.write_bytes((pki / "own" / "cert.pem").read_bytes())
    status = run_cli("status", "spec.yaml")
    assert status.code == 1
    assert "trust-bundle.pem does not hold the spec's roots (run pkiform apply)" in status.out
    applied = run_cli("apply", "spec.yaml")
    assert "trust-bundle.pem: written (trust-bundle.pem is out of date)" in applied.out
    assert bundle.read_bytes().startswith(outside)
    assert run_cli("plan", "spec.yaml").code == 0


def test_an_adopted_root_without_a_subject_key_identifier_rotates_and_settles(
    tmp_path: Path, run_cli: RunCli
) -> None:
    # what pkiform signs under it names it by its key's identifier (RFC 5280 method 1)
    ossl(tmp_path, "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-keyout", "old.key", "-subj", "/CN=Old Root", "-days",
         "3650", "-addext", "subjectKeyIdentifier=none", "-addext",
         "authorityKeyIdentifier=none", "-addext", "basicConstraints=critical,CA:true",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "old.crt")  # fmt: skip
    old = x509.load_pem_x509_certificate((tmp_path / "old.crt").read_bytes())
    assert not any(isinstance(e.value, x509.SubjectKeyIdentifier) for e in old.extensions)
    (tmp_path / "spec.yaml").write_text(
        "version: 1\n"
        "identities:\n"
        "  old: {kind: root, adopt: {cert: old.crt, key: old.key}}\n"
        "  new: {kind: root, replaces: old, cross_sign: true}\n"
        "  web: {kind: server, issuer: old, dns: [localhost]}\n"
    )
    assert run_cli("apply", "spec.yaml").code == 0
    assert run_cli("plan", "spec.yaml").code == 0  # the cross certificate is not signed again
    assert run_cli("status", "spec.yaml").code == 0
    verified = openssl("verify", "-CAfile", tmp_path / "old.crt",
                       tmp_path / "pki" / "new" / "cross.pem")  # fmt: skip
    assert verified.returncode == 0, verified.stderr


def test_an_adopted_intermediate_under_an_adopted_root_and_a_request_signed_intermediate(
    tmp_path: Path, run_cli: RunCli
) -> None:
    openssl_hierarchy(tmp_path)
    make_request(tmp_path, "edge", "-newkey", "ed25519")
    (tmp_path / "spec.yaml").write_text(
        "version: 1\n"
        "identities:\n"
        "  root: {kind: root, adopt: {cert: root.crt, key: root.key}}\n"
        "  issuing: {kind: intermediate, issuer: root, adopt: {cert: sub.crt, key: sub.key}}\n"
        "  edge: {kind: intermediate, issuer: root, csr: edge.csr, path_length: 0}\n"
        "  web: {kind: server, issuer: issuing, dns: [localhost]}\n"
    )
    result = run_cli("apply", "spec.yaml")
    assert result.code == 0, result.err
    pki = tmp_path / "pki"
    verified = openssl("verify", "-CAfile", tmp_path / "root.crt", "-untrusted",
                       pki / "web" / "chain.pem", pki / "web" / "cert.pem")  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    verified = openssl("verify", "-CAfile", pki / "edge" / "ca.pem", pki / "edge" / "cert.pem")
    assert verified.returncode == 0, verified.stderr
    assert (pki / "edge" / "ca.pem").read_bytes() == (tmp_path / "root.crt").read_bytes()
    edge = x509.load_pem_x509_certificate((pki / "edge" / "cert.pem").read_bytes())
    assert edge.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert not (pki / "edge" / "key.pem").exists()
    # an issuer pkiform holds no key of cannot issue
    text = (tmp_path / "spec.yaml").read_text() + "  api: {kind: client, issuer: edge}\n"
    (tmp_path / "spec.yaml").write_text(text)
    result = run_cli("validate", "spec.yaml")
    assert result.err == (
        "spec.yaml:7:31: error: identities.api.issuer: 'edge' is signed from a certificate "
        "request: its key stays with its owner, so pkiform cannot sign with it; issue from a CA "
        "whose key pkiform holds (or adopt this one with adopt: {cert, key})\n"
    )


def test_an_adopted_ca_whose_issuer_is_re_signed_blocks(tmp_path: Path, run_cli: RunCli) -> None:
    openssl_hierarchy(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\n"
        "identities:\n"
        "  root: {kind: root, adopt: {cert: root.crt, key: root.key}}\n"
        "  issuing: {kind: intermediate, issuer: root, adopt: {cert: sub.crt, key: sub.key}}\n"
    )
    assert run_cli("apply", "spec.yaml").code == 0
    # the root, no longer adopted, is pkiform's to reissue: the subject the spec now says
    spec.write_text(spec.read_text().replace(", adopt: {cert: root.crt, key: root.key}", ""))
    result = run_cli("plan", "spec.yaml")
    assert result.out.splitlines()[4:8] == [
        "  ! issuing (intermediate): blocked",
        "      issuer 'root' is reissued",
        "      an adopted certificate is never re-signed implicitly: pass --renew issuing to "
        "re-sign it with the same key and subject",
        "  ~ root: re-sign crl.pem (CRL number 2, 0 revoked)",
    ]
    assert result.code == 1
    renewed = run_cli("apply", "spec.yaml", "--renew", "issuing")
    assert renewed.code == 0, renewed.err
    verified = openssl("verify", "-CAfile", "pki/root/cert.pem", "pki/issuing/cert.pem")
    assert verified.returncode == 0, verified.stderr


def test_a_certificate_to_adopt_below_an_issuer_that_did_not_sign_it_blocks(
    tmp_path: Path, run_cli: RunCli
) -> None:
    openssl_hierarchy(tmp_path)
    (tmp_path / "spec.yaml").write_text(
        "version: 1\n"
        "identities:\n"
        "  root: {kind: root}\n"
        "  issuing: {kind: intermediate, issuer: root, adopt: {cert: sub.crt, key: sub.key}}\n"
    )
    result = run_cli("plan", "spec.yaml")
    assert result.out.splitlines()[1:3] == [
        "  ! issuing (intermediate): blocked",
        "      sub.crt was not signed by 'root', which gets a new key: name the CA that signed "
        "it as issuer (adopt it too), or give the certificates above it in adopt.chain instead "
        "of an issuer",
    ]
    assert result.code == 1
    assert run_cli("apply", "spec.yaml").code == 1
    assert [p.name for p in Path("pki").iterdir()] == [".lock"]  # nothing else written


# --- encrypted at rest, key types ------------------------------------------------------------


def test_key_encrypt_stores_the_adopted_key_encrypted(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tutorial / "spec.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    adopt: {cert: ca.crt, key: ca.key}",
            "    key: {type: rsa, size: 4096, encrypt: {password_env: CA_AT_REST}}\n"
            "    adopt: {cert: ca.crt, key: ca.key}",
        )
    )
    monkeypatch.setenv("CA_AT_REST", "at rest only")
    apply(run_cli, tutorial)
    data = (tutorial / "pki/ca/key.pem").read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    opened = serialization.load_pem_private_key(data, b"at rest only")
    original = serialization.load_pem_private_key((tutorial / "ca.key").read_bytes(), None)
    assert opened.public_key() == original.public_key()


@pytest.mark.parametrize(
    "key_args",
    [["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], ["-newkey", "ed25519"]],
    ids=["p384", "ed25519"],
)
def test_requests_of_every_key_type_are_signed(
    key_args: list[str], tmp_path: Path, run_cli: RunCli
) -> None:
    make_request(tmp_path, "web", *key_args)
    (tmp_path / "spec.yaml").write_text(
        "version: 1\nidentities:\n  ca: {kind: root}\n"
        "  web: {kind: server, issuer: ca, csr: web.csr, dns: [web.test]}\n"
    )
    assert run_cli("apply", "spec.yaml").code == 0
    verified = openssl("verify", "-CAfile", "pki/ca/cert.pem", "pki/web/cert.pem")
    assert verified.stdout == b"pki/web/cert.pem: OK\n"
    assert run_cli("plan", "spec.yaml").code == 0


# --- Python API and pytest plugin ----------------------------------------------------------


def test_the_python_api_takes_the_same_spec_as_a_dict_with_paths_relative_to_base(
    tutorial: Path,
) -> None:
    import yaml

    data = yaml.safe_load(block("tutorial-spec"))
    spec = pkiform.from_dict(data, base=tutorial)
    assert [a.verb for a in spec.plan(tutorial / "pki").changes] == ["adopt", "create", "create"]
    pki = spec.apply(tutorial / "pki").pki
    assert pki["ca"].cert_pem == (tutorial / "ca.crt").read_bytes()
    assert (
        pki["server"].cert.public_key()
        == x509.load_pem_x509_csr((tutorial / "server.csr").read_bytes()).public_key()
    )
    with pytest.raises(pkiform.PkiformError) as no_key:
        pki["server"].server_context()
    assert str(no_key.value) == (
        f"server: its key is with the owner of the request server.csr, never in {tutorial / 'pki'}"
    )
    with pytest.raises(pkiform.SpecError) as raised:
        pkiform.from_dict(data, base=tutorial.parent)  # the files are not there
    assert [d.path for d in raised.value.diagnostics] == [
        "identities.server.csr",
        "identities.client.csr",
    ]


PLUGIN_TEST = """
from pathlib import Path

import yaml

BASE = Path({base!r})
SPEC = yaml.safe_load({spec!r})


def test_signed_from_the_request(pkiform):
    pki = pkiform(SPEC, base=BASE)
    assert pki["ca"].cert_pem == (BASE / "ca.crt").read_bytes()
    assert pki["server"].cert.subject.rfc4514_string() == "CN=hoge,C=JP"
"""


def test_the_pytest_plugin_takes_the_same_spec(tutorial: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_byok=PLUGIN_TEST.format(base=str(tutorial), spec=block("tutorial-spec"))
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_status_checks_the_request_against_the_certificate(tutorial: Path, run_cli: RunCli) -> None:
    apply(run_cli, tutorial)
    ossl(tutorial, "req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout",
         "../hosts/other.key", "-subj", "/C=JP/CN=hoge", "-out", "server.csr")  # fmt: skip
    status = run_cli("status", tutorial / "spec.yaml", "-o", tutorial / "pki")
    assert status.code == 1
    assert (
        "        the request server.csr holds another key than cert.pem (run pkiform apply)\n"
        in status.out
    )


# --- the rest of a PKI's life, for identities signed from requests ----------------------


SMALL_SPEC = """\
version: 1
identities:
  ca: {kind: root}
  web: {kind: server, issuer: ca, csr: web.csr, dns: [web.test], validity: 30d}
  alice: {kind: client, issuer: ca, csr: alice.csr%s}
"""


def small_pki(folder: Path, run_cli: RunCli, alice: str = "") -> None:
    make_request(folder, "web", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
    make_request(folder, "alice", "-newkey", "ed25519")
    (folder / "spec.yaml").write_text(SMALL_SPEC % alice)
    result = run_cli("apply", folder / "spec.yaml", "-o", folder / "pki")
    assert result.code == 0, result.err


def test_a_certificate_signed_from_a_request_is_renewed_from_it(
    tmp_path: Path, run_cli: RunCli
) -> None:
    small_pki(tmp_path, run_cli)
    web = tmp_path / "pki" / "web"
    first = x509.load_pem_x509_certificate((web / "cert.pem").read_bytes())
    later = (first.not_valid_after_utc - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = run_cli("plan", "spec.yaml", "--at", later)
    assert result.out.splitlines()[:2] == [
        "  ~ web (server): reissue",
        f"      expires {first.not_valid_after_utc:%Y-%m-%d} (in 3d) < renew_before 10d",
    ]
    assert run_cli("apply", "spec.yaml", "--at", later).code == 0
    renewed = x509.load_pem_x509_certificate((web / "cert.pem").read_bytes())
    assert renewed.public_key() == first.public_key()
    assert renewed.not_valid_after_utc > first.not_valid_after_utc


def test_renew_re_signs_any_identity_now_with_the_same_key(tmp_path: Path, run_cli: RunCli) -> None:
    small_pki(tmp_path, run_cli)
    result = run_cli("plan", "spec.yaml", "--renew", "alice")
    assert (result.code, result.out) == (
        2,
        "  ~ alice (client): reissue\n"
        "      --renew asked for a new certificate now (same key)\n"
        "Plan: 1 to reissue; 2 unchanged.\n",
    )
    unknown = run_cli("plan", "spec.yaml", "--renew", "bob")
    assert unknown.err == "pkiform: error: --renew names no identity of the spec: bob\n"


def test_a_certificate_signed_from_a_request_is_revoked_as_any_other(
    tmp_path: Path, run_cli: RunCli
) -> None:
    small_pki(tmp_path, run_cli)
    (tmp_path / "spec.yaml").write_text(SMALL_SPEC % ", revoked: {reason: keyCompromise}")
    result = run_cli("apply", "spec.yaml")
    assert result.code == 0, result.err
    pki = tmp_path / "pki"
    crl = x509.load_pem_x509_crl((pki / "ca" / "crl.pem").read_bytes())
    alice = x509.load_pem_x509_certificate((pki / "alice" / "cert.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(alice.serial_number) is not None
    refused = openssl("verify", "-crl_check", "-CAfile", pki / "ca" / "cert.pem", "-CRLfile",
                      pki / "ca" / "crl.pem", pki / "alice" / "cert.pem")  # fmt: skip
    assert b"certificate revoked" in refused.stderr
    web = openssl("verify", "-crl_check", "-CAfile", pki / "ca" / "cert.pem", "-CRLfile",
                  pki / "ca" / "crl.pem", pki / "web" / "cert.pem")  # fmt: skip
    assert web.returncode == 0, web.stderr


def test_reproducible_mode_refuses_keys_it_did_not_derive(tmp_path: Path, run_cli: RunCli) -> None:
    small_pki(tmp_path, run_cli)
    (tmp_path / "seed").write_bytes(b"a seed for the own-keys tests only\n")
    result = run_cli("plan", "spec.yaml", "--seed-file", "seed", "-o", "elsewhere")
    assert (result.code, result.err) == (
        1,
        "pkiform: error: reproducible mode derives every key from the seed, and this spec "
        "signs requests or adopts CAs (csr, adopt), whose keys no seed derives; plan and apply "
        "it without a seed\n",
    )


def test_the_adopted_certificates_name_constraints_bind_what_the_spec_issues_below_it(
    tmp_path: Path, run_cli: RunCli
) -> None:
    ossl(tmp_path, "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-keyout", "ca.key", "-subj", "/CN=Shop Root", "-days",
         "365", "-addext", "nameConstraints=critical,permitted;DNS:shop.example",
         "-out", "ca.crt")  # fmt: skip
    (tmp_path / "spec.yaml").write_text(
        "version: 1\n"
        "identities:\n"
        "  shop-root: {kind: root, adopt: {cert: ca.crt, key: ca.key}}\n"
        "  web: {kind: server, issuer: shop-root, dns: [web.elsewhere.example]}\n"
    )
    result = run_cli("validate", "spec.yaml")
    assert result.err == (
        "spec.yaml:4:48: error: identities.web.dns[0]: 'web.elsewhere.example' is outside the "
        "name constraints of 'shop-root' (permitted dns: shop.example)\n"
    )
    (tmp_path / "spec.yaml").write_text(
        (tmp_path / "spec.yaml").read_text().replace("web.elsewhere.example", "web.shop.example")
    )
    assert run_cli("apply", "spec.yaml").code == 0
    verified = openssl("verify", "-CAfile", "ca.crt", "pki/web/cert.pem")
    assert verified.returncode == 0, verified.stderr


def test_files_to_adopt_that_are_missing_are_an_error_only_when_adopting(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tutorial / "ca.key").unlink()
    monkeypatch.chdir(tutorial)
    assert run_cli("validate", "spec.yaml").code == 0  # adopted already, somewhere
    result = run_cli("apply", "spec.yaml")
    assert (result.code, result.err) == (
        1,
        "spec.yaml:8:32: error: identities.ca.adopt.key: ca.key cannot be read: No such file "
        "or directory; it is needed to adopt the CA\n",
    )
    assert not (tutorial / "pki").exists()


def test_files_outside_the_spec_folder_are_read_only_where_allowed(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tutorial.parent / "requests"
    outside.mkdir()
    (tutorial / "server.csr").rename(outside / "server.csr")
    spec = tutorial / "spec.yaml"
    spec.write_text(spec.read_text().replace("csr: server.csr", "csr: ../requests/server.csr"))
    monkeypatch.chdir(tutorial)
    result = run_cli("validate", "spec.yaml")
    assert result.err == (
        f"spec.yaml:12:10: error: identities.server.csr: ../requests/server.csr is outside the "
        f"spec's folder {tutorial} (it is {outside / 'server.csr'}); pkiform reads the files a "
        "spec names only there, or in a folder given with --allow-path DIR\n"
    )
    assert run_cli("validate", "spec.yaml", "--allow-path", outside).code == 0
    assert run_cli("apply", "spec.yaml", "--allow-path", outside).code == 0
    os.mkfifo(tutorial / "client.csr.fifo")
    spec.write_text(spec.read_text().replace("csr: client.csr", "csr: client.csr.fifo"))
    result = run_cli("validate", "spec.yaml", "--allow-path", outside)  # no hang: refused unread
    assert result.err == (
        "spec.yaml:19:10: error: identities.client.csr: client.csr.fifo is not a regular file "
        "(a FIFO)\n"
    )


def test_a_ca_another_tool_made_without_key_identifiers_is_adopted(
    tmp_path: Path, run_cli: RunCli
) -> None:
    ossl(tmp_path, "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-keyout", "ca.key", "-subj", "/CN=No Key Identifiers",
         "-days", "365", "-addext", "subjectKeyIdentifier=none", "-addext",
         "authorityKeyIdentifier=none", "-out", "ca.crt")  # fmt: skip
    cert = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    assert x509.SubjectKeyIdentifier.oid not in [e.oid for e in cert.extensions]
    (tmp_path / "spec.yaml").write_text(
        "version: 1\n"
        "identities:\n"
        "  ca: {kind: root, adopt: {cert: ca.crt, key: ca.key}, ocsp: true}\n"
        "  web: {kind: server, issuer: ca, dns: [web.test], validity: 30d}\n"
    )
    result = run_cli("apply", "spec.yaml")
    assert result.code == 0, result.err
    verified = openssl("verify", "-crl_check", "-CAfile", "ca.crt", "-CRLfile", "pki/ca/crl.pem",
                       "pki/web/cert.pem")  # fmt: skip
    assert verified.stdout == b"pki/web/cert.pem: OK\n", verified.stderr
    assert run_cli("plan", "spec.yaml").out == "No changes: 2 identities up to date.\n"
    assert run_cli("status", "spec.yaml").code == 0


def test_defaults_that_need_a_key_pem_do_not_reach_keys_pkiform_does_not_make(
    tutorial: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an encrypted key.pem and a fresh key at every reissue, for every identity it makes
    spec = tutorial / "spec.yaml"
    spec.write_text(
        spec.read_text().replace(
            "  validity: 7d\n",
            "  validity: 7d\n  rotate_key: true\n"
            "  key: {type: ec, encrypt: {password_env: PKI_KEY_PASSWORD}}\n",
        )
    )
    monkeypatch.setenv("PKI_KEY_PASSWORD", "for the adopted key at rest")
    monkeypatch.chdir(tutorial)
    assert run_cli("validate", "spec.yaml").err == ""
    result = run_cli("apply", "spec.yaml")
    assert (result.code, result.err) == (0, "")
    assert Path("pki/ca/key.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
    assert not Path("pki/server/key.pem").exists()
    assert run_cli("plan", "spec.yaml").out == "No changes: 3 identities up to date.\n"
    # written on the identity itself, each is an error
    own = "    csr: client.csr\n    rotate_key: true\n"
    spec.write_text(spec.read_text().replace("    csr: client.csr\n", own))
    assert run_cli("validate", "spec.yaml").err == (
        "spec.yaml:22:5: error: identities.client.rotate_key: rotate_key asks pkiform for a "
        "fresh key at every reissue, but the key of an identity signed from a request is its "
        "owner's: make a new request on that host instead\n"
    )


def test_certificates_signed_from_requests_under_an_adopted_ca_pass_pkilint(
    tutorial: Path, run_cli: RunCli
) -> None:
    from tests.helpers.lint import errors, excused, lint_cert, lint_pair

    apply(run_cli, tutorial)
    ca = (tutorial / "ca.crt").read_text()
    for name in ("server", "client"):
        leaf = (tutorial / "pki" / name / "cert.pem").read_text()
        found = errors(lint_cert(leaf)) + errors(lint_pair(ca, leaf))
        assert [str(f) for f in found if not excused(f)] == [], name
