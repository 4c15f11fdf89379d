"""outputs.combined: key, certificate and chain in one PEM file, for HAProxy and the other
servers that read one file (issue 17), served here by a real HAProxy."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.files import snapshot
from tests.helpers.processes import free_port
from tests.helpers.run import RunCli
from tests.helpers.tools import require_tool

SPEC = """\
version: 1
identities:
  root: {kind: root}
  issuing: {kind: intermediate, issuer: root}
  web: {kind: server, issuer: issuing, dns: [localhost], outputs: {combined: true}}
"""


@pytest.fixture
def pki(run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    spec = write_spec(SPEC)
    out = tmp_path / "pki"
    result = run_cli("apply", spec, "-o", out)
    assert result.code == 0, result.err
    return spec, out


def test_combined_pem_is_the_key_the_certificate_and_the_chain(pki: tuple[Path, Path]) -> None:
    _, out = pki
    web = out / "web"
    combined = web / "combined.pem"
    assert combined.stat().st_mode & 0o777 == 0o600
    parts = [web / "key.pem", web / "cert.pem", web / "chain.pem"]
    assert combined.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert combined.read_bytes().count(b"-----BEGIN CERTIFICATE-----") == 2


def test_a_second_apply_leaves_it_as_it_is_and_a_reissue_rewrites_it(
    pki: tuple[Path, Path], run_cli: RunCli
) -> None:
    spec, out = pki
    before = snapshot(out)
    assert run_cli("apply", spec, "-o", out).code == 0
    assert snapshot(out) == before
    spec.write_text(SPEC.replace("dns: [localhost]", "dns: [localhost, web.example.com]"))
    assert run_cli("apply", spec, "-o", out).code == 0
    web = out / "web"
    assert (web / "combined.pem").read_bytes() == b"".join(
        (web / f).read_bytes() for f in ("key.pem", "cert.pem", "chain.pem")
    )
    assert [p.name for p in (web / "archive").rglob("combined.pem")] == ["combined.pem"]


@pytest.fixture
def haproxy(pki: tuple[Path, Path], tmp_path: Path) -> Iterator[int]:
    """HAProxy serving HTTPS with web's combined.pem as its one crt file."""
    exe = require_tool("haproxy", "haproxy")
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        f"""\
global
  log stdout format raw local0
defaults
  mode http
  timeout connect 5s
  timeout client 5s
  timeout server 5s
frontend web
  bind 127.0.0.1:{port} ssl crt {pki[1] / "web" / "combined.pem"}
  http-request return status 200 content-type text/plain string served-by-haproxy
"""
    )
    proc = subprocess.Popen(
        [exe, "-db", "-f", config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"haproxy stopped: {proc.stdout.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_haproxy_serves_the_combined_file_and_a_client_verifies_its_chain(
    pki: tuple[Path, Path], haproxy: int
) -> None:
    _, out = pki
    context = ssl.create_default_context(cafile=out / "web" / "ca.pem")
    raw = socket.create_connection(("127.0.0.1", haproxy))
    # the intermediate comes from combined.pem's chain: the client trusts only the root
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"served-by-haproxy")


def test_a_client_trusting_another_root_is_refused(
    pki: tuple[Path, Path], haproxy: int, run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    other = write_spec("version: 1\nidentities: {other: {kind: root}}\n", "other.yaml")
    assert run_cli("apply", other, "-o", pki[1].parent / "other").code == 0
    context = ssl.create_default_context(cafile=pki[1].parent / "other" / "other" / "ca.pem")
    with (
        socket.create_connection(("127.0.0.1", haproxy)) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="localhost")


def test_combined_with_an_encrypted_key_is_a_located_error(
    run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    spec = write_spec(
        SPEC.replace("outputs: {combined: true}", "outputs: {combined: true}, "
                     "key: {type: ec, encrypt: {password_env: WEB_KEY}}")
    )  # fmt: skip
    result = run_cli("validate", spec)
    assert (result.code, result.err) == (
        1,
        f"{spec}:5:68: error: identities.web.outputs.combined: combined.pem holds the key "
        "unencrypted for the servers that read one file (they cannot open an encrypted "
        "key), so it cannot go with key.encrypt; turn one of them off (outputs: {combined: "
        "false})\n",
    )


def test_encrypting_the_key_withdraws_a_plain_combined_file(
    pki: tuple[Path, Path], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, out = pki
    monkeypatch.setenv("WEB_KEY", "correct horse battery staple")
    spec.write_text(
        SPEC.replace(
            "outputs: {combined: true}", "key: {type: ec, encrypt: {password_env: WEB_KEY}}"
        )
    )
    status = run_cli("status", spec, "-o", out)
    assert status.code == 1
    assert (
        "combined.pem holds a private key unencrypted, and key.encrypt asks for the key "
        "encrypted (run pkiform apply)" in status.out
    )
    assert run_cli("apply", spec, "-o", out).code == 0
    combined = (out / "web" / "combined.pem").read_bytes()
    assert b"PRIVATE KEY" not in combined and b"withdrew" in combined
    assert run_cli("status", spec, "-o", out).code == 0
