"""End to end: real mutual-TLS handshakes over 127.0.0.1 with what pkiform writes.

Python's ssl module (OpenSSL underneath) on both ends, in the style of trustme's
check_connection_end_to_end, and `openssl s_server` / `s_client` as the README shows
them. Each successful handshake has failing twins: wrong hostname, untrusted server,
no client certificate, a client certificate from another PKI, a certificate used for the
purpose its extendedKeyUsage does not allow.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.processes import TIMEOUT, Proc, Spawn
from tests.helpers.processes import free_port as _free_port
from tests.helpers.repo import EXAMPLES
from tests.helpers.run import apply_quietly
from tests.helpers.specs import KEY_TYPES as KEYS
from tests.helpers.tls import (
    assert_connected,
    assert_rejected,
    client_context,
    exchange,
    server_context,
)

# X509_V_ERR_* codes, as ssl.SSLCertVerificationError.verify_code reports them
SELF_SIGNED_CERT_IN_CHAIN = 19
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
# An OpenSSL server completes the chain it sends from its own trust store, so it sends the
# root too; a client trusting another root then finds an untrusted self-signed certificate
# at the top (19) rather than a missing issuer (20). Both mean "not my trust anchor".
UNTRUSTED_ROOT = {SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT_LOCALLY}
INVALID_PURPOSE = 26
HOSTNAME_MISMATCH = 62
IP_ADDRESS_MISMATCH = 64


# A second PKI that copies the mtls example's names (root CN, server and client names and
# SANs) with keys of its own: only the keys tell the two apart.
IMPOSTOR_SPEC = """\
version: 1
defaults:
  subject: {C: JP}
  validity: 7d
  key: {type: ec, curve: P-256}
identities:
  ca:
    kind: root
    subject: {CN: eeetann-ca}
  server:
    kind: server
    issuer: ca
    subject: {CN: hoge}
    dns: [hoge, localhost]
    ip: [127.0.0.1]
  client:
    kind: client
    issuer: ca
    subject: {CN: hoge}
"""


def keys_spec() -> str:
    """For every key type, a root with a server and a client of that type below it."""
    ids: dict[str, Any] = {}
    for k, key in KEYS.items():
        ids[f"{k}-root"] = {"kind": "root", "key": key, "subject": {"CN": f"{k} root"}}
        ids[f"{k}-server"] = {
            "kind": "server",
            "issuer": f"{k}-root",
            "key": key,
            "dns": [f"{k}.example.com"],
        }
        ids[f"{k}-client"] = {"kind": "client", "issuer": f"{k}-root", "key": key}
    return yaml.safe_dump({"version": 1, "defaults": {"validity": "30d"}, "identities": ids})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> output directory, every PKI these tests use, issued once."""
    base = tmp_path_factory.mktemp("e2e-tls")
    (base / "impostor.yaml").write_text(IMPOSTOR_SPEC)
    (base / "keys.yaml").write_text(keys_spec())
    return {
        "mtls": apply_quietly(EXAMPLES / "mtls.yaml", base / "mtls"),
        "mesh": apply_quietly(EXAMPLES / "mesh.yaml", base / "mesh"),
        "impostor": apply_quietly(base / "impostor.yaml", base / "impostor"),
        "keys": apply_quietly(base / "keys.yaml", base / "keys"),
    }


# --- the harness (tests/helpers/tls.py) ---------------------------------------------------

VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


# --- the mtls example ---------------------------------------------------------------------


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("hostname", ["localhost", "hoge", "127.0.0.1"])
def test_mtls_example_handshakes(pki: dict[str, Path], hostname: str, version: str) -> None:
    mtls = pki["mtls"]
    ex = exchange(
        server_context(mtls / "server", version=VERSIONS[version]),
        client_context(mtls / "client", trust=mtls / "client" / "ca.pem"),
        hostname,
    )
    assert_connected(ex, server_cn="hoge", client_cn="hoge")
    assert ex.client.version == ex.server.version == version


@pytest.mark.parametrize(
    ("hostname", "code"),
    [
        ("evil.example", HOSTNAME_MISMATCH),
        ("hoge.example", HOSTNAME_MISMATCH),
        ("127.0.0.2", IP_ADDRESS_MISMATCH),
    ],
)
def test_mtls_example_refuses_a_name_the_server_does_not_have(
    pki: dict[str, Path], hostname: str, code: int
) -> None:
    mtls = pki["mtls"]
    ex = exchange(
        server_context(mtls / "server"),
        client_context(mtls / "client", trust=mtls / "client" / "ca.pem"),
        hostname,
    )
    assert_rejected(ex, "client", verify_code=code)


def test_a_client_trusting_another_root_refuses_the_server(pki: dict[str, Path]) -> None:
    # the impostor's root has the same name as the mtls root, but not the same key
    mtls, impostor = pki["mtls"], pki["impostor"]
    ex = exchange(
        server_context(mtls / "server"),
        client_context(mtls / "client", trust=impostor / "ca" / "ca.pem"),
        "localhost",
    )
    assert_rejected(ex, "client", verify_code=UNTRUSTED_ROOT)


def test_a_server_requiring_a_client_certificate_refuses_a_client_without_one(
    pki: dict[str, Path],
) -> None:
    mtls = pki["mtls"]
    ex = exchange(
        server_context(mtls / "server"),
        client_context(None, trust=mtls / "client" / "ca.pem"),
        "localhost",
    )
    assert_rejected(ex, "server", reason="PEER_DID_NOT_RETURN_A_CERTIFICATE")


@pytest.mark.parametrize(("other", "client"), [("impostor", "client"), ("mesh", "alice")])
def test_the_server_refuses_a_client_certificate_from_another_pki(
    pki: dict[str, Path], other: str, client: str
) -> None:
    mtls = pki["mtls"]
    ex = exchange(
        server_context(mtls / "server"),
        client_context(pki[other] / client, trust=mtls / "client" / "ca.pem"),
        "localhost",
    )
    assert_rejected(ex, "server", verify_code=UNABLE_TO_GET_ISSUER_CERT_LOCALLY)


def test_a_server_certificate_is_refused_as_a_client_certificate(pki: dict[str, Path]) -> None:
    # same issuer, valid chain: only extendedKeyUsage (serverAuth, no clientAuth) stands in
    # the way, and OpenSSL enforces it ("unsupported certificate purpose")
    mtls = pki["mtls"]
    ex = exchange(
        server_context(mtls / "server"),
        client_context(mtls / "server", trust=mtls / "client" / "ca.pem"),
        "localhost",
    )
    assert_rejected(ex, "server", verify_code=INVALID_PURPOSE)


def test_a_client_certificate_is_refused_as_a_server_certificate(pki: dict[str, Path]) -> None:
    # the client has no SAN, so the check would fail on the name first; give the server
    # socket the client's certificate and check only the chain and purpose (no hostname)
    mtls = pki["mtls"]
    client_ctx = client_context(mtls / "client", trust=mtls / "client" / "ca.pem")
    client_ctx.check_hostname = False
    ex = exchange(server_context(mtls / "client"), client_ctx, "localhost")
    assert_rejected(ex, "client", verify_code=INVALID_PURPOSE)
    # the twin: the same relaxed client accepts the real server certificate
    ex = exchange(server_context(mtls / "server"), client_ctx, "localhost")
    assert_connected(ex, server_cn="hoge", client_cn="hoge")


# --- the mesh example ---------------------------------------------------------------------

# the subject CN of each mesh client (alice's is no host name: see examples/mesh.yaml)
MESH_CLIENT_CN = {"worker": "worker", "alice": "Alice Liddell"}


@pytest.mark.parametrize("hostname", ["api.mesh.internal", "localhost", "127.0.0.1", "::1"])
@pytest.mark.parametrize("client", ["worker", "alice"])
def test_mesh_api_handshakes_with_its_clients(
    pki: dict[str, Path], client: str, hostname: str
) -> None:
    mesh = pki["mesh"]
    ex = exchange(
        server_context(mesh / "api"),
        client_context(mesh / client, trust=mesh / client / "ca.pem"),
        hostname,
    )
    assert_connected(ex, server_cn="api", client_cn=MESH_CLIENT_CN[client])


def _openssl_has_eddsa_tls() -> bool:
    # TLS with Ed25519/Ed448 signatures (RFC 8446, RFC 8422) arrived in OpenSSL 1.1.1
    return ssl.OPENSSL_VERSION_INFO >= (1, 1, 1)


@pytest.mark.skipif(
    not _openssl_has_eddsa_tls(),
    reason=f"{ssl.OPENSSL_VERSION} predates Ed25519 in TLS (OpenSSL 1.1.1)",
)
@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("client", ["worker", "alice"])
def test_mesh_billing_handshakes_with_its_ed25519_key(
    pki: dict[str, Path], client: str, version: str
) -> None:
    mesh = pki["mesh"]
    ex = exchange(
        server_context(mesh / "billing", version=VERSIONS[version]),
        client_context(mesh / client, trust=mesh / client / "ca.pem"),
        "billing.mesh.internal",
    )
    assert_connected(ex, server_cn="billing", client_cn=MESH_CLIENT_CN[client])


def test_mesh_refuses_names_outside_the_certificate(pki: dict[str, Path]) -> None:
    mesh = pki["mesh"]
    for server, hostname in [("api", "evil.example"), ("billing", "api.mesh.internal")]:
        ex = exchange(
            server_context(mesh / server),
            client_context(mesh / "alice", trust=mesh / "alice" / "ca.pem"),
            hostname,
        )
        assert_rejected(ex, "client", verify_code=HOSTNAME_MISMATCH)


def test_mesh_server_refuses_a_mesh_server_certificate_as_a_client(
    pki: dict[str, Path],
) -> None:
    mesh = pki["mesh"]
    ex = exchange(
        server_context(mesh / "api"),
        client_context(mesh / "billing", trust=mesh / "alice" / "ca.pem"),
        "localhost",
    )
    assert_rejected(ex, "server", verify_code=INVALID_PURPOSE)


# --- every key type -----------------------------------------------------------------------


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("key", list(KEYS))
def test_every_key_type_handshakes(pki: dict[str, Path], key: str, version: str) -> None:
    keys = pki["keys"]
    ex = exchange(
        server_context(keys / f"{key}-server", version=VERSIONS[version]),
        client_context(keys / f"{key}-client", trust=keys / f"{key}-root" / "ca.pem"),
        f"{key}.example.com",
    )
    assert_connected(ex, server_cn=f"{key}-server", client_cn=f"{key}-client")


@pytest.mark.parametrize("key", list(KEYS))
def test_every_key_type_is_refused_by_another_root(pki: dict[str, Path], key: str) -> None:
    keys = pki["keys"]
    names = list(KEYS)
    other = names[(names.index(key) + 1) % len(names)]
    ex = exchange(
        server_context(keys / f"{key}-server"),
        client_context(keys / f"{key}-client", trust=keys / f"{other}-root" / "ca.pem"),
        f"{key}.example.com",
    )
    assert_rejected(ex, "client", verify_code=UNTRUSTED_ROOT)


# --- openssl s_server / s_client, as the README shows them -------------------------------


def s_server(spawn: Spawn, pki_dir: Path) -> tuple[Proc, int]:
    """The README's s_server on a free port (another try if someone took the port)."""
    for _ in range(5):
        port = _free_port()
        server = spawn(
            "s_server",
            "-accept",
            port,
            "-cert",
            pki_dir / "server" / "cert.pem",
            "-key",
            pki_dir / "server" / "key.pem",
            "-CAfile",
            pki_dir / "server" / "ca.pem",
            "-Verify",
            "1",
            "-verify_return_error",
        )
        if server.wait_for("ACCEPT"):
            return server, port
        server.stop()
    pytest.fail(f"openssl s_server did not start: {server.text}")


def s_client(
    spawn: Spawn, port: int, *, client: Path | None, trust: Path, host: str = "localhost"
) -> Proc:
    """The README's s_client, presenting `client`'s certificate (if any), trusting `trust`."""
    args: list[str | Path] = ["s_client", "-connect", f"127.0.0.1:{port}"]
    if client is not None:
        args += ["-cert", client / "cert.pem", "-key", client / "key.pem"]
    args += ["-CAfile", trust, "-verify_return_error", "-verify_hostname", host]
    return spawn(*args)


def test_openssl_s_server_and_s_client_do_mutual_tls(pki: dict[str, Path], spawn: Spawn) -> None:
    mtls = pki["mtls"]
    server, port = s_server(spawn, mtls)
    client = s_client(spawn, port, client=mtls / "client", trust=mtls / "client" / "ca.pem")
    assert client.wait_for("Verify return code: 0 (ok)"), client.text
    assert "Verified peername: localhost" in client.text
    client.send(b"hello from s_client\n")
    assert server.wait_for("hello from s_client"), server.text
    server.send(b"hello from s_server\n")
    assert client.wait_for("hello from s_server"), client.text
    # the server verified the client's chain and saw its certificate
    assert "depth=0 C = JP, CN = hoge\nverify return:1" in server.text
    assert "Client certificate" in server.text
    assert "subject=C = JP, CN = hoge" in server.text
    assert "error" not in server.text.lower()
    client.close_input()  # s_client ends the connection at the end of its input
    assert client.popen.wait(TIMEOUT) == 0, client.text


@pytest.mark.parametrize(
    ("case", "refuser", "expected"),
    [
        ("wrong hostname", "client", "Verify return code: 62 (hostname mismatch)"),
        ("no client certificate", "server", "peer did not return a certificate"),
        ("client from another PKI", "server", "unable to get local issuer certificate"),
    ],
)
def test_openssl_s_server_and_s_client_refuse(
    pki: dict[str, Path], spawn: Spawn, case: str, refuser: str, expected: str
) -> None:
    mtls = pki["mtls"]
    server, port = s_server(spawn, mtls)
    trust = mtls / "client" / "ca.pem"
    client = {
        "wrong hostname": lambda: s_client(
            spawn, port, client=mtls / "client", trust=trust, host="evil.example"
        ),
        "no client certificate": lambda: s_client(spawn, port, client=None, trust=trust),
        # the impostor's root has the mtls root's name, not its key
        "client from another PKI": lambda: s_client(
            spawn, port, client=pki["impostor"] / "client", trust=trust
        ),
    }[case]()
    client.send(b"must not arrive\n")
    refusing = client if refuser == "client" else server
    assert refusing.wait_for(expected), refusing.text
    assert client.popen.wait(TIMEOUT) != 0, client.text
    assert "Verify return code: 0 (ok)" not in client.text or refuser == "server"
    assert "must not arrive" not in server.text
