"""`status --public`: whether an output directory holds no secret, so that it may be
committed to git and read by anyone who can read the repository (README, "Running
pkiform from CI, with the state in git").

Every file below the directory is read (archives, retired identities and hidden files
included; links are not followed, `.git` is not entered), whatever its name, and judged
by what it holds, without any password: a private key in plain, as PEM, as DER, or
base64-encoded inside another file (a Kubernetes Secret's `tls.key`), or a PKCS#12 file
whose key opens without a password, is a secret; so is a file the spec reads a password,
PIN or seed from. An encrypted key (PKCS#8 `ENCRYPTED PRIVATE KEY`, a PKCS#12 bundle with
a password) is no secret here: its password is.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from pkiform.errors import StoreError

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
# a run of base64 long enough to hold a key (the shortest, Ed25519 PKCS#8 DER, is 48
# bytes: 64 characters)
_BASE64 = re.compile(rb"[A-Za-z0-9+/]{64,}={0,2}")
_SKIPPED_FOLDERS = frozenset((".git",))

PLAIN = "holds a private key in plain"
PLAIN_DER = "holds a private key in plain (DER)"
PLAIN_BASE64 = "holds a private key in plain (base64-encoded, as a Kubernetes Secret holds it)"
OPEN_P12 = "is a PKCS#12 file whose private key opens without a password"


@dataclass(frozen=True, slots=True, kw_only=True)
class Offender:
    """A file that must not be in a public directory, and why."""

    path: str  # below the output directory
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicReport:
    """What `status --public` found: every file read, those that hold a secret."""

    files: int  # how many files were read
    encrypted: int  # how many of them hold an encrypted private key (allowed)
    offenders: tuple[Offender, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.offenders


def check(root: Path, secrets: Mapping[str, str]) -> PublicReport:
    """Read every file below `root` and name each that holds a secret. `secrets`: the
    files below `root` (paths relative to it) that the spec reads a password, PIN or
    seed from, with what it reads there."""
    files = encrypted = 0
    offenders = []
    for relative, data in _files(root):
        files += 1
        if relative in secrets:
            offenders.append(Offender(path=relative, reason=secrets[relative]))
            continue
        reason, locked = judge(data)
        encrypted += locked
        if reason is not None:
            offenders.append(Offender(path=relative, reason=reason))
    return PublicReport(files=files, encrypted=encrypted, offenders=tuple(offenders))


def judge(data: bytes) -> tuple[str | None, bool]:
    """Why `data` is a secret (None: it is not), and whether it holds an encrypted
    private key."""
    reason, locked = _pem(data)
    if reason is not None:
        return reason, locked
    if data[:1] == b"\x30":  # a DER SEQUENCE: a key, or a PKCS#12 file
        der = _der(data)
        if der is not None:
            return (PLAIN_DER, False) if der else (None, True)
        if _open_p12(data):
            return OPEN_P12, False
        return None, locked
    for blob in _BASE64.findall(_PEM.sub(b"", data)):
        try:
            decoded = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            continue
        inner, _ = _pem(decoded)
        if inner is not None or (decoded[:1] == b"\x30" and _der(decoded)):
            return PLAIN_BASE64, locked
    return None, locked


def _pem(data: bytes) -> tuple[str | None, bool]:
    """Whether a PEM block holds a private key in plain; and one holds it encrypted."""
    locked = False
    for block in _PEM.finditer(data):
        label = block[1]
        if b"PRIVATE KEY" not in label:
            continue
        if label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block[0]:
            locked = True
            continue
        opened = _open_pem(block[0], label)
        if opened is False:
            locked = True
            continue
        return PLAIN if opened else f"holds a {label.decode()} block pkiform cannot read", False
    return None, locked


def _open_pem(block: bytes, label: bytes) -> bool | None:
    """True: the key opens without a password; False: it needs one; None: unreadable."""
    try:
        if label == b"OPENSSH PRIVATE KEY":
            serialization.load_ssh_private_key(block, None)
        else:
            serialization.load_pem_private_key(block, None, unsafe_skip_rsa_key_validation=True)
    except TypeError:  # "Password was not given but private key is encrypted"
        return False
    except (ValueError, UnsupportedAlgorithm):
        return None
    return True


def _der(data: bytes) -> bool | None:
    """True: a private key in plain; False: an encrypted one; None: no key."""
    try:
        serialization.load_der_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        return False
    except (ValueError, UnsupportedAlgorithm):
        return None
    return True


def _open_p12(data: bytes) -> bool:
    """A PKCS#12 file that yields its private key without a password (none, or empty)."""
    for password in (None, b""):
        try:
            key, _, _ = pkcs12.load_key_and_certificates(data, password)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if key is not None:
            return True
    return False


def _files(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every regular file below `root`, by its path relative to it, sorted; links are
    neither followed nor read."""
    try:
        fd = os.open(root, _READ_FLAGS | os.O_DIRECTORY)
    except OSError as e:
        raise StoreError(f"{root}: cannot read: {e.strerror}") from e
    try:
        yield from _walk(fd, "", root)
    finally:
        os.close(fd)


def _walk(folder: int, prefix: str, root: Path) -> Iterator[tuple[str, bytes]]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise StoreError(f"{root / prefix}: cannot read: {e.strerror}") from e
    for entry in entries:
        relative = prefix + entry.name
        if entry.is_symlink():
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if entry.name in _SKIPPED_FOLDERS:
                    continue
                inner = os.open(entry.name, _READ_FLAGS | os.O_DIRECTORY, dir_fd=folder)
                try:
                    yield from _walk(inner, relative + "/", root)
                finally:
                    os.close(inner)
            elif entry.is_file(follow_symlinks=False):
                yield relative, _read(folder, entry.name)
        except OSError as e:
            raise StoreError(f"{root / relative}: cannot read: {e.strerror}") from e


def _read(folder: int, name: str) -> bytes:
    fd = os.open(name, _READ_FLAGS | os.O_NONBLOCK, dir_fd=folder)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since it was listed
            return b""
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
