"""Rotating a CA without downtime (issue 16), judged by relying parties that lag behind.

Deployment is never atomic: at every step of a rotation, some relying parties still hold
the trust files of the step before, and some servers still present the chain of the step
before. A root rotation and an intermediate rotation are each applied step by step
(before, introduce, move, retire), every step's output directory kept, and then:

- every presented chain of a step is accepted with every trust file of that step and of
  the step before, and every chain of the step before with every trust file of the step;
- from the move on, a moved identity is accepted by a relying party that never updated
  (it trusts only the old root, and the cross certificate gets it there) and by one that
  trusts only the new root; after retirement, the new root alone is needed;
- a rollback (move -> introduce -> before) keeps every identity valid for the relying
  parties of the step it returns to.

Each is checked with `openssl verify` (no -partial_chain) and with real mutual-TLS
handshakes, Python's ssl and `openssl s_server`/`s_client`; each has a twin that must be
refused (the chain without its cross certificate, an unmoved identity for a relying
party of the new root only, a retired root), so the checks can fail.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.files import snapshot
from tests.helpers.java import java_verdicts
from tests.helpers.processes import TIMEOUT, Proc, Spawn, free_port
from tests.helpers.run import RunCli, invoke
from tests.helpers.tools import openssl, require_tool

HEAD = """\
version: 1
defaults: {subject: {O: Example}, key: {type: ec, curve: P-256}, validity: 30d}
identities:
"""
OLD_ROOT = "  old-root: {kind: root, subject: {CN: Example Root 2024}, validity: 10y}\n"
NEW_ROOT = (
    "  new-root: {kind: root, subject: {CN: Example Root 2026}, validity: 10y,"
    " replaces: old-root, cross_sign: true}\n"
)
NEW_ROOT_ALONE = "  new-root: {kind: root, subject: {CN: Example Root 2026}, validity: 10y}\n"


def under_root(root: str) -> str:
    # edge hangs from the root itself: its chain.pem is the cross certificate alone
    return (
        f"  issuing: {{kind: intermediate, issuer: {root}, validity: 1y}}\n"
        "  web: {kind: server, issuer: issuing, dns: [localhost], ip: [127.0.0.1]}\n"
        "  alice: {kind: client, issuer: issuing}\n"
        f"  edge: {{kind: server, issuer: {root}, dns: [localhost]}}\n"
    )


ROOT_STEPS = {
    "before": HEAD + OLD_ROOT + under_root("old-root"),
    "introduce": HEAD + OLD_ROOT + NEW_ROOT + under_root("old-root"),
    "move": HEAD + OLD_ROOT + NEW_ROOT + under_root("new-root"),
    "retire": HEAD + NEW_ROOT_ALONE + under_root("new-root"),
}

ROOT_CA = "  root: {kind: root, subject: {CN: Example Root}, validity: 10y}\n"
ISSUING = "  issuing: {kind: intermediate, issuer: root, validity: 1y}\n"
ISSUING_2 = "  issuing-2: {kind: intermediate, issuer: root, validity: 1y, replaces: issuing}\n"
ISSUING_2_ALONE = "  issuing-2: {kind: intermediate, issuer: root, validity: 1y}\n"


def leaves(ca: str) -> str:
    return (
        f"  web: {{kind: server, issuer: {ca}, dns: [localhost], ip: [127.0.0.1]}}\n"
        f"  alice: {{kind: client, issuer: {ca}}}\n"
    )


INTERMEDIATE_STEPS = {
    "before": HEAD + ROOT_CA + ISSUING + leaves("issuing"),
    "introduce": HEAD + ROOT_CA + ISSUING + ISSUING_2 + leaves("issuing"),
    "move": HEAD + ROOT_CA + ISSUING + ISSUING_2 + leaves("issuing-2"),
    "retire": HEAD + ROOT_CA + ISSUING_2_ALONE + leaves("issuing-2"),
}
# a new hierarchy: a new root and, below it, a new intermediate key, replacing both at once
OLD_ISSUING = "  issuing: {kind: intermediate, issuer: old-root, validity: 1y}\n"
NEW_ISSUING = (
    "  issuing-2: {kind: intermediate, issuer: new-root, validity: 1y, replaces: issuing}\n"
)
NEW_ISSUING_ALONE = "  issuing-2: {kind: intermediate, issuer: new-root, validity: 1y}\n"
HIERARCHY_STEPS = {
    "before": HEAD + OLD_ROOT + OLD_ISSUING + leaves("issuing"),
    "introduce": HEAD + OLD_ROOT + NEW_ROOT + OLD_ISSUING + NEW_ISSUING + leaves("issuing"),
    "move": HEAD + OLD_ROOT + NEW_ROOT + OLD_ISSUING + NEW_ISSUING + leaves("issuing-2"),
    "retire": HEAD + NEW_ROOT_ALONE + NEW_ISSUING_ALONE + leaves("issuing-2"),
}
STEPS = {"root": ROOT_STEPS, "intermediate": INTERMEDIATE_STEPS, "hierarchy": HIERARCHY_STEPS}
ORDER = ["before", "introduce", "move", "retire"]
BEFORE = {step: ORDER[ORDER.index(step) - 1] for step in ORDER[1:]}
PURPOSE = {"web": "sslserver", "edge": "sslserver", "alice": "sslclient"}


def apply_steps(base: Path, steps: list[tuple[str, str]]) -> dict[str, Path]:
    """Apply each (label, spec) in turn to one output directory; a copy of the directory
    after each apply, by label. Each apply is followed by a plan that finds nothing."""
    out, found = base / "pki", {}
    for label, text in steps:
        spec = base / f"{label}.yaml"
        spec.write_text(text)
        result = invoke("apply", spec, "-o", out)
        assert result.code == 0, result.err
        again = invoke("plan", spec, "-o", out)
        assert again.code == 0, again.out + again.err
        found[label] = base / label
        shutil.copytree(out, found[label], symlinks=True)
    return found


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """kind -> step -> the output directory as that step's apply left it."""
    return {
        kind: apply_steps(tmp_path_factory.mktemp(f"rotation-{kind}"), list(texts.items()))
        for kind, texts in STEPS.items()
    }


# --- relying parties -------------------------------------------------------------------


def in_spec(pki: Path) -> list[str]:
    """The identities of the step's spec (a folder the spec no longer names stays on disk,
    but none of its parties or servers takes part)."""
    return sorted(json.loads(read(pki, "manifest.json"))["identities"])


def identities(pki: Path) -> list[str]:
    """Every identity of a step that presents a chain (all but the roots)."""
    return [n for n in in_spec(pki) if read(pki / n, "cert.pem") not in read(pki / n, "ca.pem")]


def read(folder: Path, name: str) -> bytes:
    return (folder / name).read_bytes()


def trust_files(pki: Path) -> list[Path]:
    """What the relying parties of a step hold: every ca.pem, and trust-bundle.pem."""
    return [pki / "trust-bundle.pem", *(pki / n / "ca.pem" for n in in_spec(pki))]


def certs(data: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data) if data.strip() else []


def pem(*found: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in found)


def is_cross(cert: x509.Certificate) -> bool:
    return cert.issuer != cert.subject and _cn(cert.subject) == "Example Root 2026"


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def verify(
    trust: Path, folder: Path, tmp: Path, *, without_cross: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """`openssl verify` of an identity's cert.pem with its chain.pem as the untrusted
    certificates a server sends, against one trust file (no -partial_chain: the chain
    must end at a self-signed root of `trust`)."""
    chain = certs(read(folder, "chain.pem"))
    if without_cross:
        chain = [c for c in chain if not is_cross(c)]
    args: list[str | Path] = ["verify", "-CAfile", trust]
    if chain:
        untrusted = tmp / f"untrusted-{folder.parent.name}-{folder.name}.pem"
        untrusted.write_bytes(pem(*chain))
        args += ["-untrusted", untrusted]
    if folder.name in PURPOSE:
        args += ["-purpose", PURPOSE[folder.name]]
    return openssl(*args, folder / "cert.pem")


def accepted(result: subprocess.CompletedProcess[bytes]) -> bool:
    return result.returncode == 0 and result.stdout.decode().rstrip().endswith(": OK")


def refused(result: subprocess.CompletedProcess[bytes], code: int) -> bool:
    """openssl verify failed with X509_V_ERR `code`."""
    return result.returncode != 0 and f"error {code} at" in result.stdout.decode() + (
        result.stderr.decode()
    )


UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
PERMITTED_SUBTREE_VIOLATION = 47


def failures(
    chains: Path, trusts: list[Path], tmp: Path, names: Iterable[str] | None = None
) -> list[str]:
    """Every (identity of `chains`, or of `names`, trust file) that openssl refuses."""
    return [
        f"{name} with {trust.relative_to(trust.parents[1])}"
        for name in (identities(chains) if names is None else names)
        for trust in trusts
        if not accepted(verify(trust, chains / name, tmp))
    ]


@pytest.mark.parametrize("step", ORDER[1:])
@pytest.mark.parametrize("kind", list(STEPS))
def test_every_chain_of_a_step_is_accepted_with_the_trust_files_of_the_step_and_the_one_before(
    steps: dict[str, dict[str, Path]], kind: str, step: str, tmp_path: Path
) -> None:
    now, before = steps[kind][step], steps[kind][BEFORE[step]]
    assert identities(now)  # something to check
    assert failures(now, trust_files(before) + trust_files(now), tmp_path) == []


@pytest.mark.parametrize("step", ORDER[1:])
@pytest.mark.parametrize("kind", list(STEPS))
def test_a_server_still_presenting_the_chain_of_the_step_before_is_accepted(
    steps: dict[str, dict[str, Path]], kind: str, step: str, tmp_path: Path
) -> None:
    now, before = steps[kind][step], steps[kind][BEFORE[step]]
    # what the step retired (the old intermediate) is presented by no one any more
    staying = [n for n in identities(before) if n in in_spec(now)]
    assert failures(before, trust_files(now), tmp_path, staying) == []


def test_the_new_root_reaches_every_trust_file_at_the_introduction(
    steps: dict[str, dict[str, Path]],
) -> None:
    introduce = steps["root"]["introduce"]
    new, old = read(introduce / "new-root", "cert.pem"), read(introduce / "old-root", "cert.pem")
    for trust in trust_files(introduce):
        assert new in read(trust.parent, trust.name) and old in read(trust.parent, trust.name)
    # each ca.pem names its own root first: what reads one certificate reads that one
    assert read(introduce / "web", "ca.pem") == old + new
    assert read(introduce / "new-root", "ca.pem") == new + old
    # and nothing depends on the new root yet
    assert all(new not in read(introduce / n, "chain.pem") for n in identities(introduce))


@pytest.mark.parametrize(
    ("kind", "moved"),
    [("root", ["alice", "edge", "issuing", "web"]), ("hierarchy", ["alice", "issuing-2", "web"])],
)
def test_from_the_move_on_relying_parties_of_either_root_alone_accept_what_moved(
    steps: dict[str, dict[str, Path]], tmp_path: Path, kind: str, moved: list[str]
) -> None:
    old_only = steps[kind]["before"] / "old-root" / "cert.pem"  # never updated
    new_only = steps[kind]["introduce"] / "new-root" / "cert.pem"
    move = steps[kind]["move"]
    assert failures(move, [old_only, new_only], tmp_path, moved) == []
    # the cross certificate is what gets the never-updated party there
    for name in moved:
        assert refused(
            verify(old_only, move / name, tmp_path, without_cross=True),
            UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        ), name
    # before the move, a party that trusts only the new root refuses what is not moved
    introduce = steps[kind]["introduce"]
    for name in (n for n in identities(introduce) if n not in ("issuing-2",)):
        result = verify(new_only, introduce / name, tmp_path)
        assert refused(result, UNABLE_TO_GET_ISSUER_CERT_LOCALLY), name


def gnutls_verifies(certtool: Path, trust: Path, folder: Path, tmp: Path, chain: bytes) -> str:
    """GnuTLS's verdict (certtool --verify) on cert.pem followed by `chain`, as a server
    sends them, against the roots of `trust`."""
    presented = tmp / f"presented-{folder.parent.name}-{folder.name}.pem"
    presented.write_bytes(read(folder, "cert.pem") + chain)
    result = subprocess.run(
        [certtool, "--verify", "--load-ca-certificate", trust, "--infile", presented],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout.strip().splitlines()[-1]


TRUSTED = "Chain verification output: Verified. The certificate is trusted."


@pytest.mark.parametrize("kind", ["root", "hierarchy"])
def test_gnutls_accepts_what_moved_for_parties_of_either_root_alone(
    steps: dict[str, dict[str, Path]], kind: str, tmp_path: Path
) -> None:
    certtool = require_tool("certtool", "gnutls-bin")
    move = steps[kind]["move"]
    old_only = steps[kind]["before"] / "old-root" / "cert.pem"
    new_only = steps[kind]["introduce"] / "new-root" / "cert.pem"
    for name in ("web", "alice"):
        chain = read(move / name, "chain.pem")
        for trust in (old_only, new_only):
            assert gnutls_verifies(certtool, trust, move / name, tmp_path, chain) == TRUSTED
        bare = pem(*[c for c in certs(chain) if not is_cross(c)])
        verdict = gnutls_verifies(certtool, old_only, move / name, tmp_path, bare)
        assert verdict.startswith("Chain verification output: Not verified."), verdict


@pytest.mark.parametrize("kind", ["root", "hierarchy"])
def test_java_accepts_what_moved_for_parties_of_either_root_alone(
    steps: dict[str, dict[str, Path]], kind: str, tmp_path: Path, java: Path, pkix_classes: Path
) -> None:
    move = steps[kind]["move"]
    old_only = steps[kind]["before"] / "old-root" / "cert.pem"
    new_only = steps[kind]["introduce"] / "new-root" / "cert.pem"
    sent: list[tuple[Path, Path]] = []  # (trust anchor, what the server sends)
    for name in ("web", "alice"):
        chain = certs(read(move / name, "chain.pem"))
        bare = tmp_path / f"{name}-without-cross.pem"
        bare.write_bytes(
            read(move / name, "cert.pem") + pem(*[c for c in chain if not is_cross(c)])
        )
        sent += [
            (old_only, move / name / "fullchain.pem"),
            (new_only, move / name / "fullchain.pem"),
        ]
        sent.append((old_only, bare))
    verdicts = java_verdicts(java, pkix_classes, sent, build=True)
    # either root alone builds a path from what moved; the old one only through the cross
    assert verdicts[0::3] == verdicts[1::3] == ["ok", "ok"]
    assert all(v.startswith("refused: ") for v in verdicts[2::3]), verdicts


def nss_verifies(vfychain: Path, db: Path, trust: Path, folder: Path, sent: list[bytes]) -> str:
    """NSS's verdict (vfychain, libpkix building the path) on cert.pem with the certificates
    a server sends, against `trust` alone: "good", or why not."""
    usage = "1" if folder.name == "web" else "0"  # SSL server, SSL client
    files = []
    for i, data in enumerate([read(folder, "cert.pem"), *sent]):
        files.append(db.parent / f"{folder.parent.name}-{folder.name}-{i}.pem")
        files[-1].write_bytes(data)
    args = [vfychain, "-d", f"sql:{db}", "-u", usage, "-pp"]
    args += [a for f in files for a in ("-a", str(f))] + ["-t", "-a", str(trust)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return "good" if result.returncode == 0 else (result.stdout + result.stderr).strip()


@pytest.mark.parametrize("kind", ["root", "hierarchy"])
def test_nss_accepts_what_moved_for_parties_of_either_root_alone(
    steps: dict[str, dict[str, Path]], kind: str, tmp_path: Path
) -> None:
    vfychain = require_tool("vfychain", "libnss3-tools")
    certutil = require_tool("certutil", "libnss3-tools")
    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    move = steps[kind]["move"]
    old_only = steps[kind]["before"] / "old-root" / "cert.pem"
    new_only = steps[kind]["introduce"] / "new-root" / "cert.pem"
    for name in ("web", "alice"):
        chain = certs(read(move / name, "chain.pem"))
        sent = [pem(c) for c in chain]
        for trust in (old_only, new_only):
            assert nss_verifies(vfychain, db, trust, move / name, sent) == "good", (name, trust)
        bare = [pem(c) for c in chain if not is_cross(c)]
        verdict = nss_verifies(vfychain, db, old_only, move / name, bare)
        assert "Peer's Certificate issuer is not recognized" in verdict, verdict


def test_after_retirement_only_the_new_root_is_needed(
    steps: dict[str, dict[str, Path]], tmp_path: Path
) -> None:
    retire = steps["root"]["retire"]
    new = read(steps["root"]["introduce"] / "new-root", "cert.pem")
    assert {read(t.parent, t.name) for t in trust_files(retire)} == {new}
    new_only = steps["root"]["introduce"] / "new-root" / "cert.pem"
    assert failures(retire, [new_only], tmp_path) == []
    # the cross certificate left the chains and the new root's folder (archived)
    assert all(
        len(certs(read(retire / n, "chain.pem"))) == (n == "web" or n == "alice")
        for n in identities(retire)
    )
    assert not (retire / "new-root" / "cross.pem").exists()
    assert list((retire / "new-root" / "archive").glob("*/cross.pem"))
    # a party that still trusts only the old root is left behind, as retirement means
    old_only = steps["root"]["before"] / "old-root" / "cert.pem"
    for name in identities(retire):
        assert not accepted(verify(old_only, retire / name, tmp_path)), name


def test_an_intermediate_rotation_changes_no_trust_file(
    steps: dict[str, dict[str, Path]],
) -> None:
    """Both intermediates chain to the same root, which every relying party trusts: no
    cross certificate, and every trust file stays byte for byte what it was."""
    found = steps["intermediate"]
    for step in ORDER[1:]:
        for trust in trust_files(found[step]):
            name = trust.relative_to(found[step])
            if (found["before"] / name).exists():
                assert read(trust.parent, trust.name) == (found["before"] / name).read_bytes()
        assert not list(found[step].glob("*/cross.pem"))
    assert [c.subject for c in certs(read(found["move"] / "web", "chain.pem"))] == [
        x509.load_pem_x509_certificate(read(found["move"] / "issuing-2", "cert.pem")).subject
    ]


# --- rollback ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rollback(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """kind -> step -> directory, for before, introduce, move, then back to introduce
    ("introduce-again") and to before ("before-again")."""
    found = {}
    for kind, texts in STEPS.items():
        sequence = [
            ("before", texts["before"]),
            ("introduce", texts["introduce"]),
            ("move", texts["move"]),
            ("introduce-again", texts["introduce"]),
            ("before-again", texts["before"]),
        ]
        found[kind] = apply_steps(tmp_path_factory.mktemp(f"rollback-{kind}"), sequence)
    return found


@pytest.mark.parametrize(
    ("step", "came_from"), [("introduce-again", "move"), ("before-again", "introduce-again")]
)
@pytest.mark.parametrize("kind", list(STEPS))
def test_a_rollback_keeps_every_identity_valid_for_the_relying_parties_of_that_step(
    rollback: dict[str, dict[str, Path]], kind: str, step: str, came_from: str, tmp_path: Path
) -> None:
    now, came = rollback[kind][step], rollback[kind][came_from]
    # what the rolled-back step presents, to its own parties and to those of the step left
    assert failures(now, trust_files(now) + trust_files(came), tmp_path) == []
    # a server that still presents the chain of the step left, to the parties of this one
    staying = [n for n in identities(came) if n in in_spec(now)]
    assert failures(came, trust_files(now), tmp_path, staying) == []


def test_rolling_back_before_the_introduction_leaves_the_old_root_alone(
    rollback: dict[str, dict[str, Path]], tmp_path: Path
) -> None:
    again = rollback["root"]["before-again"]
    old = read(again / "old-root", "cert.pem")
    assert {read(t.parent, t.name) for t in trust_files(again)} == {old}
    old_only = rollback["root"]["before"] / "old-root" / "cert.pem"
    assert failures(again, [old_only], tmp_path) == []
    # the new root's folder is left in place, as for any identity removed from the spec
    assert (again / "new-root" / "cert.pem").exists()


# --- mutual TLS ----------------------------------------------------------------------------


def server_context(folder: Path, trust: Path, *, chain: bytes | None = None) -> ssl.SSLContext:
    """Presents the identity's fullchain.pem (or `chain` after cert.pem); requires a client
    certificate that chains to a root of `trust`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(_fullchain(folder, chain), folder / "key.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(trust)
    return ctx


def client_context(folder: Path, trust: Path, *, chain: bytes | None = None) -> ssl.SSLContext:
    """Checks the server's name and chain against `trust`; presents the identity's chain."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(trust)
    ctx.load_cert_chain(_fullchain(folder, chain), folder / "key.pem")
    return ctx


def _fullchain(folder: Path, chain: bytes | None) -> Path:
    if chain is None:
        return folder / "fullchain.pem"
    path = folder.parent.parent / f"fullchain-{folder.parent.name}-{folder.name}.pem"
    path.write_bytes(read(folder, "cert.pem") + chain)
    return path


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[str | None, str | None]:
    """One mutual-TLS connection over 127.0.0.1 and a round trip of bytes: (the error
    of the server side, of the client side), None where that side succeeded."""
    errors: dict[str, str | None] = {"server": "did not finish", "client": "did not finish"}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with conn, server.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(TIMEOUT)
                    if tls.recv(4) == b"ping":
                        tls.sendall(b"pong")
                        errors["server"] = None
            except (OSError, ssl.SSLError) as e:
                errors["server"] = str(e)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as raw,
                client.wrap_socket(raw, server_hostname="localhost") as tls,
            ):
                tls.sendall(b"ping")
                if tls.recv(4) == b"pong":
                    errors["client"] = None
        except (OSError, ssl.SSLError) as e:
            errors["client"] = str(e)
        thread.join(2 * TIMEOUT)
    return errors["server"], errors["client"]


@pytest.mark.parametrize(
    "lag",
    ["parties-of-the-step-before", "parties-of-the-step", "servers-of-the-step-before"],
)
@pytest.mark.parametrize("step", ORDER[1:])
@pytest.mark.parametrize("kind", list(STEPS))
def test_python_ssl_handshakes_both_ways_at_every_step(
    steps: dict[str, dict[str, Path]], kind: str, step: str, lag: str
) -> None:
    """web serves, alice connects; each verifies the other's chain against its own trust
    file (ca.pem), the certificates and trust files taken from the step or the one before."""
    now, before = steps[kind][step], steps[kind][BEFORE[step]]
    presented, trusted = {
        "parties-of-the-step-before": (now, before),
        "parties-of-the-step": (now, now),
        "servers-of-the-step-before": (before, now),
    }[lag]
    server = server_context(presented / "web", trusted / "web" / "ca.pem")
    client = client_context(presented / "alice", trusted / "alice" / "ca.pem")
    assert handshake(server, client) == (None, None)


@pytest.mark.parametrize("server_name", ["web", "edge"])
def test_python_ssl_relying_parties_of_either_root_alone_after_the_move(
    steps: dict[str, dict[str, Path]], server_name: str
) -> None:
    move = steps["root"]["move"]
    old_only = steps["root"]["before"] / "old-root" / "cert.pem"
    new_only = steps["root"]["introduce"] / "new-root" / "cert.pem"
    for trust in (old_only, new_only):
        server = server_context(move / server_name, trust)
        assert handshake(server, client_context(move / "alice", trust)) == (None, None)
    # the twin: the same parties of the old root, with chains that lack the cross
    # certificate, refuse both ways
    bare = {
        n: pem(*[c for c in certs(read(move / n, "chain.pem")) if not is_cross(c)])
        for n in (server_name, "alice")
    }
    server = server_context(move / server_name, old_only, chain=bare[server_name])
    client = client_context(move / "alice", old_only, chain=bare["alice"])
    server_error, client_error = handshake(server, client)
    assert client_error is not None and "unable to get local issuer certificate" in client_error
    server = server_context(move / server_name, old_only, chain=bare[server_name])
    client = client_context(move / "alice", new_only, chain=bare["alice"])
    server_error, client_error = handshake(server, client)  # the server refuses alice
    assert server_error is not None and "certificate verify failed" in server_error


# --- openssl s_server and s_client --------------------------------------------------------


def s_server(spawn: Spawn, folder: Path, trust: Path) -> tuple[Proc, int]:
    """s_server presenting the identity's cert.pem and chain.pem, requiring a client
    certificate that chains to `trust` (another port if someone took the one picked)."""
    chain = ["-cert_chain", folder / "chain.pem"] if read(folder, "chain.pem") else []
    for _ in range(5):
        port = free_port()
        server = spawn(
            "s_server", "-accept", port, "-cert", folder / "cert.pem", *chain,
            "-key", folder / "key.pem", "-CAfile", trust, "-Verify", "1",
            "-verify_return_error",
        )  # fmt: skip
        if server.wait_for("ACCEPT"):
            return server, port
        server.stop()
    pytest.fail(f"openssl s_server did not start: {server.text}")


def s_client(spawn: Spawn, port: int, folder: Path, trust: Path) -> Proc:
    chain = ["-cert_chain", folder / "chain.pem"] if read(folder, "chain.pem") else []
    return spawn(
        "s_client", "-connect", f"127.0.0.1:{port}", "-cert", folder / "cert.pem", *chain,
        "-key", folder / "key.pem", "-CAfile", trust, "-verify_return_error",
        "-verify_hostname", "localhost",
    )  # fmt: skip


def openssl_handshake(
    spawn: Spawn, server_folder: Path, server_trust: Path, client_folder: Path, client_trust: Path
) -> tuple[Proc, Proc]:
    server, port = s_server(spawn, server_folder, server_trust)
    client = s_client(spawn, port, client_folder, client_trust)
    return server, client


def assert_exchanged(server: Proc, client: Proc) -> None:
    """Both verified each other and bytes crossed both ways."""
    assert client.wait_for("Verify return code: 0 (ok)"), client.text
    client.send(b"hello from s_client\n")
    assert server.wait_for("hello from s_client"), server.text
    server.send(b"hello from s_server\n")
    assert client.wait_for("hello from s_server"), client.text
    assert "depth=0 O = Example, CN = alice\nverify return:1" in server.text
    assert "error" not in server.text.lower(), server.text
    client.close_input()
    assert client.popen.wait(TIMEOUT) == 0, client.text


@pytest.mark.parametrize("step", ORDER[1:])
@pytest.mark.parametrize("kind", list(STEPS))
def test_openssl_s_server_and_s_client_with_the_trust_files_of_the_step_before(
    steps: dict[str, dict[str, Path]], kind: str, step: str, spawn: Spawn
) -> None:
    now, before = steps[kind][step], steps[kind][BEFORE[step]]
    server, client = openssl_handshake(
        spawn, now / "web", before / "web" / "ca.pem", now / "alice", before / "alice" / "ca.pem"
    )
    assert_exchanged(server, client)


@pytest.mark.parametrize("root", ["old", "new"])
def test_openssl_s_server_and_s_client_trusting_one_root_alone_after_the_move(
    steps: dict[str, dict[str, Path]], root: str, spawn: Spawn
) -> None:
    move = steps["root"]["move"]
    trust = (
        steps["root"]["before"] / "old-root" / "cert.pem"
        if root == "old"
        else steps["root"]["introduce"] / "new-root" / "cert.pem"
    )
    server, client = openssl_handshake(spawn, move / "web", trust, move / "alice", trust)
    assert_exchanged(server, client)


def test_openssl_s_client_of_the_new_root_alone_refuses_what_is_not_moved(
    steps: dict[str, dict[str, Path]], spawn: Spawn
) -> None:
    introduce = steps["root"]["introduce"]
    new_only = introduce / "new-root" / "cert.pem"
    server, client = openssl_handshake(
        spawn, introduce / "web", introduce / "web" / "ca.pem", introduce / "alice", new_only
    )
    client.send(b"must not arrive\n")
    assert client.wait_for("Verify return code: 20 (unable to get local issuer certificate)")
    assert client.popen.wait(TIMEOUT) != 0
    assert "must not arrive" not in server.text


# --- retiring too early, and what is not too early -------------------------------------------


def located(spec: Path, line: int, message: str) -> str:
    return f"{spec}:{line}:3: error: identities.issuing: {message}\n"


def test_retiring_a_root_before_anything_moved_is_a_located_error_and_nothing_is_written(
    run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "pki"
    for step in ("before", "introduce"):
        (tmp_path / f"{step}.yaml").write_text(ROOT_STEPS[step])
        assert run_cli("apply", tmp_path / f"{step}.yaml", "-o", out).code == 0
    spec = tmp_path / "retire.yaml"
    spec.write_text(ROOT_STEPS["retire"])
    before = snapshot(out)
    expected = located(
        spec,
        5,
        "retiring 'old-root' too early: on disk, 'issuing' (and 2 identities below it) still "
        "chains to 'old-root' alone, and relying parties that trust only 'new-root' after this "
        "step would refuse it until its new files are deployed; keep 'old-root' in the spec "
        "until 'issuing' has moved under 'new-root' (apply, then deploy its files), then "
        "remove it",
    )
    edge = expected.replace(f"{spec}:5:", f"{spec}:8:").replace(
        "identities.issuing", "identities.edge"
    )
    edge = edge.replace("'issuing' (and 2 identities below it)", "'edge'").replace(
        "until 'issuing'", "until 'edge'"
    )
    for command in ("plan", "apply"):
        result = run_cli(command, spec, "-o", out)
        assert (result.code, result.out, result.err) == (1, "", expected + edge)
    assert snapshot(out) == before
    # moved first, in a step of its own: then retiring is no error
    (tmp_path / "move.yaml").write_text(ROOT_STEPS["move"])
    assert run_cli("apply", tmp_path / "move.yaml", "-o", out).code == 0
    assert run_cli("apply", spec, "-o", out).code == 0


def test_rolling_back_past_a_move_needs_the_cross_certificate(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """Going from the move straight back to before takes the new root out of the spec. With
    the cross certificate, what moved still reaches the old root: no error. Without it,
    what moved chains to the new root alone, and the old root's parties would refuse it."""
    for cross in (True, False):
        out = tmp_path / f"pki-{cross}"
        texts = {
            s: t if cross else t.replace(", cross_sign: true", "") for s, t in ROOT_STEPS.items()
        }
        for step in ("before", "introduce", "move"):
            (tmp_path / f"{step}.yaml").write_text(texts[step])
            assert run_cli("apply", tmp_path / f"{step}.yaml", "-o", out).code == 0
        spec = tmp_path / "before.yaml"
        result = run_cli("apply", spec, "-o", out)
        if cross:
            assert result.code == 0, result.err
        else:
            assert result.code == 1
            assert result.err.startswith(
                f"{spec}:5:3: error: identities.issuing: retiring 'new-root' too early: on "
                "disk, 'issuing' (and 2 identities below it) still chains to 'new-root' alone, "
                "and relying parties that trust only 'old-root' after this step would refuse it"
            )


def test_removing_a_root_without_a_rotation_is_still_a_hard_cut_of_the_users_choosing(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """No rotation was ever declared (no trust file names two roots): moving everything to
    another root and dropping the old one in one edit is allowed, as it always was."""
    out = tmp_path / "pki"
    (tmp_path / "a.yaml").write_text(ROOT_STEPS["before"])
    assert run_cli("apply", tmp_path / "a.yaml", "-o", out).code == 0
    (tmp_path / "b.yaml").write_text(ROOT_STEPS["retire"])
    assert run_cli("apply", tmp_path / "b.yaml", "-o", out).code == 0


def test_retiring_an_old_intermediate_needs_no_wait(run_cli: RunCli, tmp_path: Path) -> None:
    """Its relying parties trust the root, which stays: a server still presenting the old
    intermediate's chain is accepted after the retirement as before it."""
    out = tmp_path / "pki"
    for step in ("before", "introduce", "retire"):
        (tmp_path / f"{step}.yaml").write_text(INTERMEDIATE_STEPS[step])
        assert run_cli("apply", tmp_path / f"{step}.yaml", "-o", out).code == 0


# --- the cross certificate ----------------------------------------------------------------

CONSTRAINED = """\
version: 1
defaults: {key: {type: ec, curve: P-256}, validity: 30d}
identities:
  old-root: {kind: root, subject: {CN: Example Root 2024}, validity: 3y}
  new-root:
    kind: root
    subject: {CN: Example Root 2026}
    validity: 10y
    key: {type: ec, curve: P-384}
    path_length: 1
    name_constraints: {permitted: {dns: [example.com]}}
    replaces: old-root
    cross_sign: true
  issuing: {kind: intermediate, issuer: new-root, validity: 1y}
  web: {kind: server, issuer: issuing, dns: [web.example.com]}
"""


def load(folder: Path, name: str = "cert.pem") -> x509.Certificate:
    return x509.load_pem_x509_certificate(read(folder, name))


def key_id(
    cert: x509.Certificate,
    kind: type[x509.SubjectKeyIdentifier] | type[x509.AuthorityKeyIdentifier],
) -> bytes | None:
    value = cert.extensions.get_extension_for_class(kind).value
    return value.digest if isinstance(value, x509.SubjectKeyIdentifier) else value.key_identifier


@pytest.fixture
def constrained(run_cli: RunCli, tmp_path: Path) -> Path:
    (tmp_path / "spec.yaml").write_text(CONSTRAINED)
    out = tmp_path / "pki"
    assert run_cli("apply", tmp_path / "spec.yaml", "-o", out).code == 0
    return out


def test_the_cross_certificate_is_the_new_root_signed_by_the_old_one(constrained: Path) -> None:
    new, old = load(constrained / "new-root"), load(constrained / "old-root")
    cross = load(constrained / "new-root", "cross.pem")
    assert cross.subject == new.subject and cross.issuer == old.subject
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert cross.public_key().public_bytes(der, spki) == new.public_key().public_bytes(der, spki)
    assert key_id(cross, x509.SubjectKeyIdentifier) == key_id(new, x509.SubjectKeyIdentifier)
    assert key_id(cross, x509.AuthorityKeyIdentifier) == key_id(old, x509.SubjectKeyIdentifier)
    # the new root's constraints and usages, carried over as they are
    for kind in (x509.BasicConstraints, x509.KeyUsage, x509.NameConstraints):
        assert cross.extensions.get_extension_for_class(
            kind
        ) == new.extensions.get_extension_for_class(kind)
    assert cross.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    # signed by the old root's key, with its hash; within the old root's validity
    cross.verify_directly_issued_by(old)
    assert isinstance(cross.signature_hash_algorithm, hashes.SHA256)
    assert cross.not_valid_after_utc == old.not_valid_after_utc < new.not_valid_after_utc
    assert cross.serial_number != new.serial_number


def test_the_cross_certificate_passes_pkilint(constrained: Path) -> None:
    bin_dir = Path(sys.executable).parent
    lint, pair = bin_dir / "lint_pkix_cert", bin_dir / "lint_pkix_signer_signee_cert_chain"
    if not lint.exists():
        pytest.skip("pkilint is not installed (pip install -e '.[test]')")
    cross = constrained / "new-root" / "cross.pem"

    def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*map(str, argv)], capture_output=True, text=True, timeout=60, check=False
        )

    assert run(lint, "lint", "-s", "ERROR", cross).returncode == 0
    signed = run(pair, "lint", "-s", "ERROR", constrained / "old-root" / "cert.pem", cross)
    assert (signed.returncode, signed.stdout) == (0, "\n")
    # the twin: the same certificate presented as the new root's own is refused
    wrong = run(pair, "lint", "-s", "ERROR", constrained / "new-root" / "cert.pem", cross)
    assert wrong.returncode != 0 and "signature_verification_failed" in wrong.stdout


def test_name_constraints_carry_over_into_the_cross_certificate(
    constrained: Path, tmp_path: Path
) -> None:
    """A leaf outside the new root's constraints, forged with the issuing CA's key, is
    refused by a party that trusts only the old root: the cross certificate on its path
    carries the constraints. Its twin, the real leaf, is accepted."""
    old_only = constrained / "old-root" / "cert.pem"
    assert accepted(verify(old_only, constrained / "web", tmp_path))
    issuing = load(constrained / "issuing")
    issuing_key = serialization.load_pem_private_key(read(constrained / "issuing", "key.pem"), None)
    assert isinstance(issuing_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil")]))
        .issuer_name(issuing.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("evil.example.org")]), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
        .sign(issuing_key, hashes.SHA256())
    )
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "cert.pem").write_bytes(pem(forged))
    shutil.copy(constrained / "web" / "chain.pem", evil / "chain.pem")
    assert refused(verify(old_only, evil, tmp_path), PERMITTED_SUBTREE_VIOLATION)


def cross_serial(out: Path) -> int:
    return load(out / "new-root", "cross.pem").serial_number


def test_the_cross_certificate_is_signed_again_when_a_key_changes_and_archived_each_time(
    constrained: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    first = cross_serial(constrained)
    for root in ("new-root", "old-root"):
        before = cross_serial(constrained)
        plan = run_cli("plan", spec, "-o", constrained, "--rekey", root)
        assert (
            f"  ~ new-root: re-sign cross.pem (signed by old-root)\n      {root!r} gets a new key\n"
            in plan.out
        )
        assert run_cli("apply", spec, "-o", constrained, "--rekey", root).code == 0
        assert cross_serial(constrained) != before
        cross = load(constrained / "new-root", "cross.pem")
        cross.verify_directly_issued_by(load(constrained / "old-root"))
        assert cross.public_key() == load(constrained / "new-root").public_key()
        assert run_cli("plan", spec, "-o", constrained).code == 0
    archived = sorted((constrained / "new-root" / "archive").glob("*/cross.pem*"))
    assert first in {x509.load_pem_x509_certificate(p.read_bytes()).serial_number for p in archived}
    assert len(archived) == 2
    # the parties of the new old root's certificate accept what moved, through the new cross
    old_only = constrained / "old-root" / "cert.pem"
    assert accepted(verify(old_only, constrained / "web", tmp_path))


def test_a_damaged_cross_certificate_is_named_by_status_and_signed_again(
    constrained: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    # another certificate in its place: the new root's own, which the old root did not sign
    shutil.copy(constrained / "new-root" / "cert.pem", constrained / "new-root" / "cross.pem")
    status = run_cli("status", spec, "-o", constrained)
    assert status.code == 1
    assert (
        "        cross.pem is not signed by the current certificate of 'old-root'\n" in status.out
    )
    plan = run_cli("plan", spec, "-o", constrained)
    assert (
        "  ~ new-root: re-sign cross.pem (signed by old-root)\n"
        "      cross.pem is not signed by the current certificate of 'old-root'\n"
    ) in plan.out
    # what ends its chain with it is written again with the new one
    repair = "  ~ web (server): repair files\n"
    assert repair + "      chain.pem gets the new cross certificate of 'new-root'\n" in plan.out
    assert run_cli("apply", spec, "-o", constrained).code == 0
    assert run_cli("status", spec, "-o", constrained).code == 0
    assert accepted(verify(constrained / "old-root" / "cert.pem", constrained / "web", tmp_path))


def test_the_old_root_keeps_its_crl_while_it_cross_signs(
    steps: dict[str, dict[str, Path]], tmp_path: Path
) -> None:
    """After the move nothing of the spec is below the old root, but it still signs the
    cross certificate: a party that checks every CRL on the old root's path finds it."""
    move = steps["root"]["move"]
    old_only = steps["root"]["before"] / "old-root" / "cert.pem"
    crls = [
        a
        for ca in ("old-root", "new-root", "issuing")
        for a in ("-CRLfile", str(move / ca / "crl.pem"))
    ]
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(read(move / "web", "chain.pem"))
    result = openssl(
        "verify",
        "-crl_check_all",
        *crls,
        "-CAfile",
        old_only,
        "-untrusted",
        untrusted,
        move / "web" / "cert.pem",
    )
    assert accepted(result), result.stdout + result.stderr
    # planned as of six days later, its CRL is re-signed like any CA's
    spec = tmp_path / "move.yaml"
    spec.write_text(ROOT_STEPS["move"])
    later = (datetime.now(UTC) + timedelta(days=6)).isoformat()
    plan = invoke("plan", spec, "-o", move, "--at", later)
    assert "  ~ old-root: re-sign crl.pem (CRL number 2, 0 revoked)\n" in plan.out


def test_every_step_applied_twice_changes_nothing(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "pki"
    for kind, texts in STEPS.items():
        for step, text in texts.items():
            spec = tmp_path / f"{kind}-{step}.yaml"
            spec.write_text(text)
            assert run_cli("apply", spec, "-o", out / kind).code == 0
            before = snapshot(out / kind)
            again = run_cli("apply", spec, "-o", out / kind)
            assert again.code == 0 and "0 changed" in again.out, again.out
            assert snapshot(out / kind) == before
