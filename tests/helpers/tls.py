"""A real TLS connection over 127.0.0.1 between two of Python's ssl contexts, and what
each end saw: handshakes judged on both sides, in the style of trustme's
check_connection_end_to_end."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.processes import TIMEOUT


def server_context(ident: Path, *, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """Presents ident's fullchain; requires a client certificate that chains to its ca.pem."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ident / "fullchain.pem", ident / "key.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ident / "ca.pem")
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def client_context(
    ident: Path | None, *, trust: Path, version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """Checks the server's name and chain against `trust`; presents ident's fullchain."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert ctx.check_hostname and ctx.verify_mode is ssl.CERT_REQUIRED
    ctx.load_verify_locations(trust)
    if ident is not None:
        ctx.load_cert_chain(ident / "fullchain.pem", ident / "key.pem")
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


@dataclass
class Side:
    """What one end of the connection saw."""

    received: bytes = b""
    peer_cn: str | None = None
    version: str | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class Exchange:
    server: Side = field(default_factory=Side)
    client: Side = field(default_factory=Side)

    @property
    def ok(self) -> bool:
        return self.server.done and self.client.done


def _common_name(cert: Any) -> str | None:
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _recv_exactly(sock: ssl.SSLSocket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


CLIENT_HELLO, SERVER_HELLO = b"ping from the client", b"pong from the server"


def exchange(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str) -> Exchange:
    """One connection over 127.0.0.1: handshake, client -> server bytes, server -> client
    bytes. Exceptions on either side are recorded, not raised."""
    result = Exchange()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]

        def serve() -> None:
            side = result.server
            try:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(TIMEOUT)
                    with server_ctx.wrap_socket(conn, server_side=True) as tls:
                        side.peer_cn = _common_name(tls.getpeercert())
                        side.version = tls.version()
                        side.received = _recv_exactly(tls, len(CLIENT_HELLO))
                        tls.sendall(SERVER_HELLO)
                        side.done = True
            except (OSError, ssl.SSLError) as e:
                side.error = e

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        side = result.client
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
                client_ctx.wrap_socket(raw, server_hostname=hostname) as tls,
            ):
                side.peer_cn = _common_name(tls.getpeercert())
                side.version = tls.version()
                tls.sendall(CLIENT_HELLO)
                side.received = _recv_exactly(tls, len(SERVER_HELLO))
                side.done = side.received == SERVER_HELLO
        except (OSError, ssl.SSLError) as e:
            side.error = e
        finally:
            thread.join(2 * TIMEOUT)
        assert not thread.is_alive(), "the server thread hung"
    return result


def assert_connected(ex: Exchange, *, server_cn: str, client_cn: str) -> None:
    assert ex.client.error is None, ex.client.error
    assert ex.server.error is None, ex.server.error
    assert ex.ok
    assert ex.server.received == CLIENT_HELLO
    assert ex.client.received == SERVER_HELLO
    assert ex.server.peer_cn == client_cn
    assert ex.client.peer_cn == server_cn


def assert_rejected(
    ex: Exchange, side: str, *, verify_code: int | set[int] | None = None, reason: str = ""
) -> None:
    """The exchange failed, and `side` ("server" or "client") is the one that refused."""
    assert not ex.ok
    assert ex.client.error is not None or not ex.client.done
    refusing: Side = getattr(ex, side)
    assert isinstance(refusing.error, ssl.SSLError), refusing.error
    if verify_code is not None:
        assert isinstance(refusing.error, ssl.SSLCertVerificationError), refusing.error
        codes = {verify_code} if isinstance(verify_code, int) else verify_code
        assert refusing.error.verify_code in codes, refusing.error
    if reason:
        assert refusing.error.reason == reason, refusing.error
    # whoever refused never saw the other's bytes
    assert refusing.received == b""
