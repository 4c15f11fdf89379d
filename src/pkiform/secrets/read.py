"""Read the passwords the spec names, from the environment and from files: the only place
pkiform reads a password (or the seed of reproducible mode). What cannot be read is
recorded, not raised: the core decides whether this run needs it. What must not be read
at all (a file outside the spec's folder, a device, a FIFO, a password no library can
take) is an error, located in the spec, whatever the run needs."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from pkiform.secrets.passwords import (
    UTF8_HINT,
    Password,
    PasswordError,
    Passwords,
    diagnostic,
    password_problem,
    sources,
)
from pkiform.spec.model import PasswordSource, ResolvedSpec

# a password file holds one line; a seed file one line of base64: anything larger is a
# mistake (or /dev/zero under another name) and is not read at all
MAX_FILE_BYTES = 4096
# a certificate, a request or a key is a few KiB, a chain of them some tens
MAX_INPUT_BYTES = 256 * 1024

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
}


class Refused(Exception):
    """A file or value pkiform will not read or use; the message says why, never what
    it holds (`is not a regular file (a FIFO)`)."""


def read_passwords(
    spec: ResolvedSpec,
    base: Path,
    environ: Mapping[str, str] | None = None,
    *,
    allow: Sequence[Path] = (),
    left: Mapping[PasswordSource, str] | None = None,
) -> Passwords:
    """Every password source of the spec: its password, or why there is none. Password
    files are found relative to `base`, the spec file's folder, and read only inside it
    or inside a folder of `allow` (--allow-path). The sources of `left` are not read at
    all: each is missing for the reason given. Raises PasswordError for every source
    that must not be read or used."""
    environ = os.environ if environ is None else environ
    found: dict[PasswordSource, Password] = {}
    missing: dict[PasswordSource, str] = dict(left or {})
    refused = []
    for source in sources(spec):
        if source in missing:
            continue
        try:
            value, problem = _read(source, base, environ, allow)
        except Refused as e:
            refused.append(diagnostic(source, f"{source} {e}"))
            continue
        if value is not None:
            found[source] = Password(value)
        else:
            missing[source] = problem
    if refused:
        raise PasswordError(refused)
    return Passwords(found=found, missing=missing)


def read_password(
    source: PasswordSource,
    base: Path,
    environ: Mapping[str, str] | None = None,
    *,
    allow: Sequence[Path] = (),
) -> Password | None:
    """One source's password, or None when it cannot be read: for a caller that needs
    only this one (no other source of the spec is touched). Raises PasswordError as
    read_passwords does."""
    return password_or_why(source, base, environ, allow=allow)[0]


def password_or_why(
    source: PasswordSource,
    base: Path,
    environ: Mapping[str, str] | None = None,
    *,
    allow: Sequence[Path] = (),
) -> tuple[Password | None, str]:
    """read_password, and when there is none, why (`environment variable X is not set`)."""
    try:
        value, problem = _read(source, base, os.environ if environ is None else environ, allow)
    except Refused as e:
        raise PasswordError([diagnostic(source, f"{source} {e}")]) from None
    return (Password(value), "") if value is not None else (None, f"{source} {problem}")


def _read(
    source: PasswordSource, base: Path, environ: Mapping[str, str], allow: Sequence[Path]
) -> tuple[bytes | None, str]:
    if source.env is not None:
        text = environ.get(source.env)
        if text is None:
            return None, "is not set"
        try:  # os.environ holds a non-UTF-8 value as surrogate escapes: its bytes back
            value = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise Refused(f"is not valid UTF-8; {UTF8_HINT}") from None
    else:
        assert source.file is not None
        path = _inside(source.file, base, allow)
        try:
            value = read_small_file(path, holding="the password", follow=False)
        except FileNotFoundError as e:
            return None, f"cannot be read: {e.strerror}"
        except OSError as e:
            if e.errno == errno.ELOOP:  # swapped for a link since it was resolved
                raise Refused("is a symbolic link") from None
            return None, f"cannot be read: {e.strerror}"
        # `echo secret > file` ends it with a newline that is no part of the password
        value = value.removesuffix(b"\n").removesuffix(b"\r")
    problem = password_problem(value)
    if problem == "is empty":
        return None, problem  # like an unset variable: an error only where it is needed
    if problem is not None:
        raise Refused(problem)
    return value, ""


def read_input(file: str, base: Path, allow: Sequence[Path], *, holding: str) -> bytes:
    """The bytes of a file the spec names for pkiform to read (a certificate request, a
    CA's certificate or key to adopt), with the rules of password files: found relative
    to `base`, read only inside it or a folder of `allow`, a regular file of at most
    MAX_INPUT_BYTES, not read through a link swapped in since. Raises Refused, or OSError
    when it cannot be read (FileNotFoundError: not there)."""
    path = _inside(file, base, allow, what="the files a spec names")
    try:
        return read_small_file(path, holding=holding, follow=False, limit=MAX_INPUT_BYTES)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Refused("is a symbolic link") from None
        raise


def _inside(file: str, base: Path, allow: Sequence[Path], *, what: str = "password files") -> Path:
    """Where `file` really is (links and `..` resolved), if that is inside the spec's
    folder or an allowed one. A spec is not trusted to point anywhere else: it could
    name /etc/shadow and have it used as a password."""
    named = base / file
    real = Path(os.path.realpath(named))
    folder = Path(os.path.realpath(base))
    if any(real.is_relative_to(os.path.realpath(root)) for root in (base, *allow)):
        return real
    leads = "" if str(real) == file else f" (it is {real})"
    raise Refused(
        f"is outside the spec's folder {folder}{leads}; pkiform reads {what} only "
        "there, or in a folder given with --allow-path DIR"
    )


def read_small_file(
    path: Path, *, holding: str, follow: bool = True, limit: int = MAX_FILE_BYTES
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, which holds `holding` (`the
    seed`) and nothing else. Anything else is Refused
    without being read: a FIFO without a writer would block forever, /dev/zero would
    never end, and opening some devices has effects of its own. Opened without
    blocking, and the type checked again on what was opened (fstat), not only on the
    name. Raises OSError when the file cannot be opened."""
    too_large = f"is larger than {limit} bytes; it must hold {holding} alone"
    _check(path.stat() if follow else path.lstat(), limit, too_large)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    fd = os.open(path, flags if follow else flags | os.O_NOFOLLOW)
    try:
        _check(os.fstat(fd), limit, too_large)
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:  # it grew since fstat
        raise Refused(too_large)
    return b"".join(chunks)


def _check(st: os.stat_result, limit: int, too_large: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a file")
        raise Refused(f"is not a regular file ({kind})")
    if st.st_size > limit:
        raise Refused(too_large)
