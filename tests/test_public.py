"""`status --public` (issue 18): a directory that may be committed holds no secret. Every
file of it, archives included, is judged by what it holds, without any password: a key
in plain (PEM, DER, inside a Secret), a PKCS#12 file that opens without a password, a
file the spec reads a password from, fail it, each named; encrypted keys pass."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from pkiform.disk.public import OPEN_P12, PLAIN, PLAIN_BASE64, PLAIN_DER, judge
from pkiform.render import PUBLIC_FIX
from tests.helpers.run import RunCli

PLAIN_SPEC = """\
version: 1
identities:
  root: {kind: root}
  web:
    kind: server
    issuer: root
    dns: [web.example]
    outputs: {der: true, kubernetes: {}, combined: true}
  old: {kind: client, issuer: root}
"""
PASSWORD = "a-long-random-password-0f3c"
ENCRYPTED_SPEC = """\
version: 1
defaults:
  key: {type: ec, encrypt: {password_env: KEY_PASSWORD}}
identities:
  root: {kind: root}
  web:
    kind: server
    issuer: root
    dns: [web.example]
    outputs:
      der: true
      pkcs12: {password_env: KEY_PASSWORD}
      truststore: {password_file: secrets/truststore.txt}
"""


def test_a_directory_with_keys_in_plain_is_not_public_and_each_is_named(
    applied: Callable[[str], tuple[Path, Path]], run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    spec, out = applied(PLAIN_SPEC)
    assert run_cli("apply", spec, "-o", out, "--rekey", "web").code == 0  # an archived key
    write_spec(PLAIN_SPEC.replace("  old: {kind: client, issuer: root}\n", ""))
    assert run_cli("apply", spec, "-o", out, "--prune").code == 0  # a retired folder
    [stamp] = [p.name for p in (out / "web" / "archive").iterdir()]
    [retired] = [p.name for p in (out / "archive").iterdir()]
    result = run_cli("status", spec, "-o", out, "--public")
    assert result.code == 1
    public = result.out[result.out.index("2 identities, 0 with errors.\n") :]
    files = sum(1 for p in out.rglob("*") if p.is_file())
    assert public == (
        "2 identities, 0 with errors.\n"
        f"error   archive/{retired}/old/key.pem\n"
        f"        {PLAIN}\n"
        "error   root/key.pem\n"
        f"        {PLAIN}\n"
        f"error   web/archive/{stamp}/combined.pem\n"
        f"        {PLAIN}\n"
        f"error   web/archive/{stamp}/key.der\n"
        f"        {PLAIN_DER}\n"
        f"error   web/archive/{stamp}/key.pem\n"
        f"        {PLAIN}\n"
        f"error   web/archive/{stamp}/secret.yaml\n"
        f"        {PLAIN_BASE64}\n"
        "error   web/combined.pem\n"
        f"        {PLAIN}\n"
        "error   web/key.der\n"
        f"        {PLAIN_DER}\n"
        "error   web/key.pem\n"
        f"        {PLAIN}\n"
        "error   web/secret.yaml\n"
        f"        {PLAIN_BASE64}\n"
        f"public: 10 of {files} files hold a secret; a directory anyone may read holds "
        f"none: {PUBLIC_FIX}.\n"
    )
    # without --public, the same directory is healthy: nothing else changes
    assert run_cli("status", spec, "-o", out).code == 0
    document = json.loads(run_cli("status", spec, "-o", out, "--public", "--json").out)
    assert document["ok"] is False
    assert document["public"]["ok"] is False
    assert document["public"]["secrets"][1] == {"file": "root/key.pem", "reason": PLAIN}
    assert json.loads(run_cli("status", spec, "-o", out, "--json").out)["public"] is None


def test_encrypted_keys_and_bundles_are_public_and_no_password_is_needed_to_tell(
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "truststore.txt").write_text("truststore-password-71d2\n")
    spec, out = write_spec(ENCRYPTED_SPEC), tmp_path / "pki"
    monkeypatch.setenv("KEY_PASSWORD", PASSWORD)
    assert run_cli("apply", spec, "-o", out).code == 0
    monkeypatch.delenv("KEY_PASSWORD")  # status --public needs no password
    result = run_cli("status", spec, "-o", out, "--public")
    assert result.code == 0, result.out
    files = sum(1 for p in out.rglob("*") if p.is_file())
    # root/key.pem, web/key.pem and web/key.der: encrypted PKCS#8
    assert result.out.endswith(f"public: no secret in {files} files (3 hold an encrypted key).\n")
    assert PASSWORD not in result.out + result.err
    document = json.loads(run_cli("status", spec, "-o", out, "--public", "--json").out)
    assert document["public"] == {"ok": True, "files": files, "encrypted_keys": 3, "secrets": []}


def test_a_password_file_inside_the_directory_is_a_secret(
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = ENCRYPTED_SPEC.replace("secrets/truststore.txt", "pki/passwords/truststore.txt")
    spec, out = write_spec(text), tmp_path / "pki"
    (out / "passwords").mkdir(parents=True)
    (out / "passwords" / "truststore.txt").write_text("truststore-password-71d2\n")
    monkeypatch.setenv("KEY_PASSWORD", PASSWORD)
    assert run_cli("apply", spec, "-o", out).code == 0
    result = run_cli("status", spec, "-o", out, "--public")
    assert result.code == 1
    assert (
        "error   passwords/truststore.txt\n"
        "        is a secret the spec reads "
        "(identities.web.outputs.truststore.password_file)\n"
    ) in result.out
    assert "truststore-password-71d2" not in result.out


def _pem(key: object, encryption: serialization.KeySerializationEncryption) -> bytes:
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


EC_KEY = ec.generate_private_key(ec.SECP256R1())
# a throwaway key, made by `ssh-keygen -t ed25519 -N throwaway-test-password` (writing one
# takes the bcrypt module, which cryptography does not bring; reading whether it is
# encrypted does not)
OPENSSH_ENCRYPTED = b"""\
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABAhFRaLy9
3OUnIxIhXoJJCzAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAINK8fPoO8Q3eFs41
yZBEObHiuaGcoLS0jMpL2DerQqMmAAAAkEIgmnhC1tHMQeq/H/2nEnzKbTYWUP6LVLAFUF
oWTrqeweXzKErRl7jqwlAruJBhBk6cUQYDM8GBf7sYFGTtDMXI9xN5vyMwaFTeB/GP48LK
YDqeqXYGLNmbEV/P2+DybLFrXc578KsXR0PjkD/0qiaWPmJib+2Av+rzfs1WhgfZ+TgDtP
11STaSYLtwEOMe8g==
-----END OPENSSH PRIVATE KEY-----
"""
PASSWORD_BYTES = b"a-password"


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        pytest.param(_pem(EC_KEY, serialization.NoEncryption()), (PLAIN, False), id="pkcs8"),
        pytest.param(
            EC_KEY.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
            (PLAIN, False),
            id="ec-traditional",
        ),
        pytest.param(
            b"notes\n" + _pem(EC_KEY, serialization.NoEncryption()) + b"more notes\n",
            (PLAIN, False),
            id="inside-text",
        ),
        pytest.param(
            ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ),
            (PLAIN, False),
            id="openssh",
        ),
        pytest.param(OPENSSH_ENCRYPTED, (None, True), id="openssh-encrypted"),
        pytest.param(
            _pem(EC_KEY, serialization.BestAvailableEncryption(PASSWORD_BYTES)),
            (None, True),
            id="pkcs8-encrypted",
        ),
        pytest.param(
            EC_KEY.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.BestAvailableEncryption(PASSWORD_BYTES),
            ),
            (None, True),
            id="traditional-encrypted",
        ),
        pytest.param(
            EC_KEY.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            (PLAIN_DER, False),
            id="der",
        ),
        pytest.param(
            EC_KEY.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(PASSWORD_BYTES),
            ),
            (None, True),
            id="der-encrypted",
        ),
        pytest.param(
            json.dumps(
                {"key": base64.b64encode(_pem(EC_KEY, serialization.NoEncryption())).decode()}
            ).encode(),
            (PLAIN_BASE64, False),
            id="base64-in-json",
        ),
        pytest.param(
            pkcs12.serialize_key_and_certificates(
                b"x", EC_KEY, None, None, serialization.NoEncryption()
            ),
            (OPEN_P12, False),
            id="pkcs12-no-password",
        ),
        pytest.param(
            pkcs12.serialize_key_and_certificates(
                b"x", EC_KEY, None, None, serialization.BestAvailableEncryption(PASSWORD_BYTES)
            ),
            (None, False),
            id="pkcs12-password",
        ),
        pytest.param(
            b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxcZYBGV\n-----END PGP PRIVATE KEY "
            b"BLOCK-----\n",
            ("holds a PGP PRIVATE KEY BLOCK block pkiform cannot read", False),
            id="unreadable-block",
        ),
        pytest.param(b"\x30\x82\x01\x00" + bytes(range(256)), (None, False), id="garbage-der"),
        pytest.param(b"A" * 200 + b"\n", (None, False), id="base64-not-a-key"),
    ],
)
def test_each_kind_of_secret_is_told_from_what_is_not(
    data: bytes, verdict: tuple[str | None, bool]
) -> None:
    assert judge(data) == verdict
