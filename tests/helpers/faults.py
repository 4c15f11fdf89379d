"""Crashes on purpose: a PKI big enough to kill an apply in the middle of, a process that
SIGKILLs itself before its Nth change to the disk, a rename that raises, and the checks
that every identity came through whole."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pkiform.apply.run import PARALLEL_MIN
from tests.helpers.run import pkiform_env, run_python
from tests.helpers.specs import leaf_lines
from tests.helpers.tools import openssl

# one process: the kill points count one sequence of changes (tests/test_forked.py
# kills the two-process apply)
N_LEAVES = 120
assert N_LEAVES < PARALLEL_MIN
CA_NAMES = ("root", "issuing")
LEAVES = tuple(f"leaf{i:03d}" for i in range(N_LEAVES))
NAMES = CA_NAMES + LEAVES
IDENTITY_FILES = ("key.pem", "cert.pem", "chain.pem", "fullchain.pem", "ca.pem")


def big_spec(issuing_key: str = "{type: ec, curve: P-256}") -> str:
    lines = [
        "version: 1",
        "defaults:",
        "  key: {type: ec, curve: P-256}",
        "  subject: {O: Crash Test}",
        "identities:",
        "  root: {kind: root, validity: 10y}",
        "  issuing: {kind: intermediate, issuer: root, validity: 5y, path_length: 0,",
        f"            key: {issuing_key}}}",
        *leaf_lines(LEAVES, client_every=3, domain="example.com"),
    ]
    return "\n".join(lines) + "\n"


SPEC = big_spec()


# -- a process that kills itself ----------------------------------------------------------

# Runs `python -m pkiform ARGS` after installing the change counter described in
# tests/test_faults.py's docstring.
# env: KILL_OUT (the output directory), KILL_AT (SIGKILL before change N; 0: never),
# KILL_LOG (write the list of changes there at exit).
KILLER = r"""
import atexit, json, os, runpy, signal, sys

OUT = os.path.abspath(os.environ["KILL_OUT"])
KILL_AT = int(os.environ.get("KILL_AT", "0"))
LOG = os.environ.get("KILL_LOG")
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
changes = []
open_fds = {}

def below(path):
    if isinstance(path, int):
        return None
    path = os.path.abspath(os.fsdecode(path))
    if path == OUT or path.startswith(OUT + os.sep):
        return os.path.relpath(path, OUT)
    return None

def change(kind, where):
    changes.append([kind, where])
    if len(changes) == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)

def hook(event, args):
    if event == "open" and args[2] & WRITING and below(args[0]) is not None:
        change("open", below(args[0]))
    elif event == "os.rename" and below(args[0]) is not None:
        change("rename", below(args[1]))
    elif event == "os.remove" and below(args[0]) is not None:
        change("unlink", below(args[0]))
    elif event in ("os.mkdir", "os.rmdir", "os.chmod") and below(args[0]) is not None:
        change(event[3:], below(args[0]))

real_open, real_close, real_write = os.open, os.close, os.write

def os_open(path, flags, *args, **kwargs):
    fd = real_open(path, flags, *args, **kwargs)
    where = below(path)
    if where is not None and flags & WRITING:
        open_fds[fd] = where
    return fd

def os_close(fd):
    open_fds.pop(fd, None)
    return real_close(fd)

def os_write(fd, data):
    if fd in open_fds:
        change("write", open_fds[fd])
    return real_write(fd, data)

os.open, os.close, os.write = os_open, os_close, os_write
sys.addaudithook(hook)
if LOG:
    atexit.register(lambda: open(LOG, "w").write(json.dumps(changes)))
sys.argv = ["pkiform", *sys.argv[1:]]
runpy.run_module("pkiform", run_name="__main__", alter_sys=True)
"""


def run_counted(
    out: Path, *argv: str | Path, kill_at: int = 0, log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`pkiform ARGV` in a subprocess that SIGKILLs itself before change number `kill_at`."""
    env = pkiform_env(KILL_OUT=str(out), KILL_AT=str(kill_at))
    if log is not None:
        env["KILL_LOG"] = str(log)
    return run_python("-c", KILLER, *argv, env=env, timeout=120)


# -- what must hold after a kill ----------------------------------------------------------


def load_cert(data: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data)


def spki(obj: x509.Certificate | bytes) -> bytes:
    public = (
        obj.public_key()
        if isinstance(obj, x509.Certificate)
        else serialization.load_pem_private_key(obj, password=None).public_key()
    )
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_each_identity_whole(out: Path) -> None:
    """Each identity's live files belong together: its key opens its certificate, which
    its chain's first certificate (or its root) signed, and fullchain is cert + chain."""
    for name in NAMES:
        folder = out / name
        files = {f: (folder / f).read_bytes() for f in IDENTITY_FILES}
        cert = load_cert(files["cert.pem"])
        assert spki(files["key.pem"]) == spki(cert), f"{name}: key.pem does not open cert.pem"
        assert files["fullchain.pem"] == files["cert.pem"] + files["chain.pem"], name
        chain = x509.load_pem_x509_certificates(files["chain.pem"]) if files["chain.pem"] else []
        issuer = chain[0] if chain else load_cert(files["ca.pem"])
        cert.verify_directly_issued_by(issuer)


def verify_with_openssl(out: Path, names: Sequence[str] = NAMES) -> None:
    """Each identity's certificate against its own ca.pem and chain.pem: one openssl call
    for all the identities whose two files hold the same certificates."""
    groups: dict[tuple[bytes, bytes], list[str]] = defaultdict(list)
    for name in names:
        key = ((out / name / "ca.pem").read_bytes(), (out / name / "chain.pem").read_bytes())
        groups[key].append(name)
    for (_, chain), group in groups.items():
        first = out / group[0]
        untrusted = ["-untrusted", first / "chain.pem"] if chain else []
        certs = [out / n / "cert.pem" for n in group]
        result = openssl("verify", "-CAfile", first / "ca.pem", *untrusted, *certs)
        assert result.returncode == 0, (group, result.stdout + result.stderr)
        assert result.stdout.decode().count(": OK\n") == len(group), result.stdout


# -- a crash in this process ---------------------------------------------------------------


class Crash(Exception):
    """Stands in for the process dying at a rename."""


@contextlib.contextmanager
def crash_at_rename(monkeypatch: pytest.MonkeyPatch, survive: int) -> Iterator[dict[str, int]]:
    """Every rename after the first `survive` raises Crash; yields the count of renames."""
    real_replace = Path.replace
    calls = {"n": 0}

    def crashing_replace(self: Path, target: str | os.PathLike[str]) -> Path:
        if calls["n"] >= survive:
            raise Crash(f"killed at rename {survive}")
        calls["n"] += 1
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", crashing_replace)
    try:
        yield calls
    finally:
        monkeypatch.setattr(Path, "replace", real_replace)
