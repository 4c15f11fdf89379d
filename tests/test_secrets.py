"""Passwords read safely: a spec names a password file or variable, and pkiform reads it
without ever printing it, without reading anything but a small regular file inside the
spec's folder (or a folder the user allows on the command line), and without handing
cryptography a password it would choke on.

The runs that could print a secret go through a real subprocess: a Rust panic inside
cryptography writes its report straight to file descriptor 2, past Python's sys.stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

import pkiform
from pkiform.errors import StoreError
from pkiform.secrets import passwords
from pkiform.secrets.passwords import Password
from tests.helpers.files import snapshot
from tests.helpers.panics import panic_type
from tests.helpers.run import RunCli, environment_bytes, pkiform_env, pkiform_process

NUL_PASSWORD = b"hunter2\0TopSecret-p12"
# what OpenSSL takes: `openssl pkcs12 -passin` reads 1023 bytes, PEM encryption no more
MAX_PASSWORD_BYTES = 1023

# web's bundle.p12 takes its password from the file named at line 10, column 31
SPEC = """\
version: 1
identities:
  ca:
    kind: root
  web:
    kind: server
    issuer: ca
    dns: [localhost]
    outputs:
      pkcs12: {password_file: PASSWORD_FILE}
"""
FIELD = "identities.web.outputs.pkcs12.password_file"
WHERE = f"spec.yaml:10:31: error: {FIELD}: "
GOOD_PASSWORD = b"a-Good-Secret-4e1d\n"


def write(folder: Path, password_file: str, content: bytes | None = GOOD_PASSWORD) -> Path:
    """spec.yaml in `folder`, its pkcs12 password read from `password_file`, which gets
    `content` (unless None: the caller makes it)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "spec.yaml"
    spec.write_text(SPEC.replace("PASSWORD_FILE", password_file))
    if content is not None:
        (folder / password_file).write_bytes(content)
    return spec


def spelled(secret: bytes) -> list[bytes]:
    """Every way a secret has been seen printed: as text, in a Python repr, and as the
    decimal byte list of a Rust panic (`NulError(7, [104, 117, ...])`)."""
    forms = [secret, repr(secret).encode(), ", ".join(str(b) for b in secret).encode()]
    return forms + [part for part in secret.split(b"\0") if len(part) >= 6]


def assert_never_shown(secret: bytes, *outputs: bytes) -> None:
    for output in outputs:
        for form in spelled(secret):
            assert form not in output, (form, output)


# --- item 1: what a password may be, and that it never shows ---------------------------------


def test_a_password_with_a_nul_byte_is_a_located_error_never_printed(tmp_path: Path) -> None:
    # the finding: a bundle written with a good password, then the file gains a NUL byte;
    # every later plan, apply and status crashed in cryptography, spelling it out
    write(tmp_path, "nul.pw")
    first = pkiform_process("apply", "spec.yaml", "-o", "pki", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "nul.pw").write_bytes(NUL_PASSWORD)
    before = snapshot(tmp_path / "pki")
    for command in ("plan", "apply", "status"):
        done = pkiform_process(command, "spec.yaml", "-o", "pki", cwd=tmp_path)
        assert (done.returncode, done.stdout) == (1, b""), (command, done.stderr)
        assert done.stderr == (
            WHERE.encode() + b"password file nul.pw holds a NUL byte; a password must be text\n"
        ), command
        assert_never_shown(NUL_PASSWORD, done.stdout, done.stderr)
    assert snapshot(tmp_path / "pki") == before


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            b"caf\xe9-Secret-9b7f\n",
            "is not valid UTF-8; a password must be UTF-8 text (encode a binary secret, "
            "e.g. with base64)",
        ),
        (
            b"L0ng-Secret-" * 86 + b"\n",  # 1032 bytes
            f"is longer than {MAX_PASSWORD_BYTES} bytes, the most OpenSSL reads",
        ),
        (b"\0Secret-after-a-nul", "holds a NUL byte; a password must be text"),
    ],
    ids=["not-utf8", "too-long", "nul-first"],
)
@pytest.mark.parametrize("command", ["plan", "apply", "status"])
def test_a_password_file_pkiform_cannot_use_is_a_located_error(
    run_cli: RunCli, tmp_path: Path, content: bytes, problem: str, command: str
) -> None:
    spec = write(tmp_path, "pw.txt", content)
    if command == "status":
        (tmp_path / "pki").mkdir()
    done = run_cli(command, spec, "-o", tmp_path / "pki")
    assert (done.code, done.out) == (1, "")
    assert (
        done.err
        == f"{tmp_path / 'spec.yaml'}:10:31: error: {FIELD}: password file pw.txt {problem}\n"
    )
    assert_never_shown(content.strip(), done.err.encode(errors="surrogateescape"))
    assert [p.name for p in tmp_path.iterdir() if p.name == "pki"] == (
        ["pki"] if command == "status" else []
    )


def test_a_password_variable_that_is_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("password_file: PASSWORD_FILE", "password_env: WEB_P12"))
    secret = b"caf\xe9-Secret-0c3d"
    env = environment_bytes(WEB_P12=secret)
    done = pkiform_process("apply", "spec.yaml", "-o", "pki", cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr == (
        b"spec.yaml:10:30: error: identities.web.outputs.pkcs12.password_env: environment "
        b"variable WEB_P12 is not valid UTF-8; a password must be UTF-8 text (encode a binary "
        b"secret, e.g. with base64)\n"
    )
    assert_never_shown(secret, done.stderr)
    assert not (tmp_path / "pki").exists()


def test_a_password_is_checked_when_it_is_made() -> None:
    for bad, problem in (
        (b"", "is empty"),
        (b"a\0b", "holds a NUL byte; a password must be text"),
        (b"\xff\xfe", "is not valid UTF-8"),
        (b"x" * (MAX_PASSWORD_BYTES + 1), f"is longer than {MAX_PASSWORD_BYTES} bytes"),
    ):
        with pytest.raises(ValueError) as raised:
            Password(bad)
        assert str(raised.value).startswith(problem)
    # the longest password there may be still encrypts and opens a key
    longest = b"\xc3\xa9" * (MAX_PASSWORD_BYTES // 2) + b"x"
    assert len(Password(longest).reveal()) == MAX_PASSWORD_BYTES
    key = ec.generate_private_key(ec.SECP256R1())
    blob = pkcs12.serialize_key_and_certificates(
        b"k", key, None, None, BestAvailableEncryption(longest)
    )
    opened = pkcs12.load_pkcs12(blob, longest)
    assert opened.key is not None and opened.key.public_key() == key.public_key()


# --- item 1: a library that fails while it holds a secret -------------------------------------


def test_a_library_failure_holding_a_secret_is_reported_without_its_message() -> None:
    panic = panic_type()

    def native() -> None:
        raise panic("NulError(7, [104, 117, 110, 116, 101, 114, 50]) hunter2")

    with pytest.raises(passwords.SecretError) as raised:
        passwords.guard(
            native, path=Path("pki/web/bundle.p12"), doing="opening the bundle.p12 of 'web'"
        )
    assert str(raised.value) == (
        "pki/web/bundle.p12: failed with PanicException while opening the bundle.p12 of "
        "'web'; its message is not shown: it may hold the secret"
    )
    # nothing keeps the library's exception, and so its message, for a traceback to show
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    # what is not the library's failure goes through as it is
    for passing in (
        KeyboardInterrupt(),
        SystemExit(3),
        StoreError("x: cannot read"),
        ValueError("wrong"),
    ):

        def fail(exc: BaseException = passing) -> None:
            raise exc

        with pytest.raises(type(passing)):
            passwords.guard(fail, path="p", doing="d", keep=(ValueError,))


def test_a_password_cryptography_would_choke_on_is_never_handed_to_it(tmp_path: Path) -> None:
    # the guard checks the password itself, before the call: a panic reports its
    # arguments on fd 2 before Python can catch anything
    code = (
        "from cryptography.hazmat.primitives.serialization import pkcs12\n"
        "from pkiform.secrets.passwords import SecretError, guard\n"
        f"password = {NUL_PASSWORD!r}\n"
        "try:\n"
        "    guard(lambda: pkcs12.load_pkcs12(b'0', password), path='pki/web/bundle.p12',\n"
        "          doing=\"opening the bundle.p12 of 'web'\", passwords=[password])\n"
        "except SecretError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=pkiform_env(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        b"pki/web/bundle.p12: refusing to hand the cryptography library a password that "
        b"holds a NUL byte while opening the bundle.p12 of 'web'\n"
    )
    assert done.stderr == b""
    assert_never_shown(NUL_PASSWORD, done.stdout, done.stderr)


# --- item 4: where a password file may be, and what it may be ---------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A password file beside the spec's folder, not in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "pw.txt").write_bytes(GOOD_PASSWORD)
    return folder


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_a_password_file_outside_the_spec_folder_is_refused_unless_allowed(
    run_cli: RunCli, tmp_path: Path, outside: Path, how: str
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    named = {
        "absolute": str(outside / "pw.txt"),
        "dotdot": "../outside/pw.txt",
        "symlink": "pw.txt",
    }[how]
    if how == "symlink":
        (folder / "pw.txt").symlink_to(outside / "pw.txt")
    spec = write(folder, named, content=None)
    leads = "" if how == "absolute" else f" (it is {outside / 'pw.txt'})"
    for command in ("plan", "apply", "status"):
        done = run_cli(command, spec, "-o", folder / "pki")
        assert (done.code, done.out) == (1, ""), command
        assert done.err == (
            f"{spec}:10:31: error: identities.web.outputs.pkcs12.password_file: password file "
            f"{named} is outside the spec's folder {folder}{leads}; pkiform reads password "
            "files only there, or in a folder given with --allow-path DIR\n"
        ), command
        assert not (folder / "pki").exists()
    # the user's say on the command line lets it through
    allowed = run_cli("apply", spec, "-o", folder / "pki", "--allow-path", outside)
    assert allowed.code == 0, allowed.err
    opened = pkcs12.load_pkcs12((folder / "pki/web/bundle.p12").read_bytes(), GOOD_PASSWORD.strip())
    assert opened.key is not None
    for command in ("plan", "status"):
        assert run_cli(command, spec, "-o", folder / "pki", "--allow-path", outside).code == 0
    # an allowed folder is no wider than itself
    assert run_cli("plan", spec, "-o", folder / "pki", "--allow-path", folder).code == 1


def test_a_link_that_stays_in_the_spec_folder_is_read(run_cli: RunCli, tmp_path: Path) -> None:
    spec = write(tmp_path, "secrets/pw.txt", content=None)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "real.txt").write_bytes(GOOD_PASSWORD)
    (tmp_path / "secrets" / "pw.txt").symlink_to("../real.txt")
    done = run_cli("apply", spec, "-o", tmp_path / "pki")
    assert done.code == 0, done.err


def test_a_fifo_does_not_block_and_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "pw.fifo", content=None)
    os.mkfifo(tmp_path / "pw.fifo")
    for command in ("plan", "apply"):
        try:  # no writer ever opens the FIFO: a blocking read would wait forever
            done = pkiform_process(command, "spec.yaml", "-o", "pki", cwd=tmp_path, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"pkiform {command} blocked on a FIFO named as a password file")
        assert (done.returncode, done.stdout) == (1, b"")
        assert (
            done.stderr
            == WHERE.encode() + b"password file pw.fifo is not a regular file (a FIFO)\n"
        )
    assert not (tmp_path / "pki").exists()


@pytest.mark.parametrize(
    ("named", "allow", "problem"),
    [
        ("/dev/zero", "/dev", "is not a regular file (a character device)"),
        (
            "/dev/zero",
            None,
            "is outside the spec's folder {folder}; pkiform reads password files only there, "
            "or in a folder given with --allow-path DIR",
        ),
        ("big.txt", None, "is larger than 4096 bytes; it must hold the password alone"),
        ("folder", None, "is not a regular file (a directory)"),
    ],
)
def test_a_password_file_that_is_no_small_regular_file_is_refused_unread(
    tmp_path: Path, named: str, allow: str | None, problem: str
) -> None:
    # in a process of its own, its memory bounded: reading /dev/zero to the end would
    # take all there is
    write(tmp_path, named, content=None)
    (tmp_path / "big.txt").write_bytes(b"x" * 4097)
    (tmp_path / "folder").mkdir()
    extra = ["--allow-path", allow] if allow else []
    done = pkiform_process("plan", "spec.yaml", "-o", "pki", *extra, cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.decode() == (
        f"{WHERE}password file {named} {problem.format(folder=tmp_path)}\n"
    )
    assert not (tmp_path / "pki").exists()


def test_the_api_reads_password_files_as_the_command_line_does(
    tmp_path: Path, outside: Path
) -> None:
    text = SPEC.replace("PASSWORD_FILE", str(outside / "pw.txt"))
    folder = tmp_path / "project"
    folder.mkdir()
    spec_file = folder / "spec.yaml"
    spec_file.write_text(text)
    refused: list[Callable[[], pkiform.Spec]] = [
        lambda: pkiform.load(spec_file),
        lambda: pkiform.loads(text, base=folder),
        lambda: pkiform.from_dict(yaml.safe_load(text), base=folder),
    ]
    for load in refused:
        with pytest.raises(pkiform.SpecError) as raised:
            load().plan(folder / "pki")
        [problem] = raised.value.diagnostics
        assert problem.path == "identities.web.outputs.pkcs12.password_file"
        assert problem.message.startswith(
            f"password file {outside / 'pw.txt'} is outside the spec's folder {folder};"
        )
    assert not (folder / "pki").exists()
    for spec in (
        pkiform.load(spec_file, allow_paths=[outside]),
        pkiform.loads(text, base=folder, allow_paths=[outside]),
        pkiform.from_dict(yaml.safe_load(text), base=folder, allow_paths=[outside]),
    ):
        assert spec.plan(folder / "pki").has_changes
    applied = pkiform.load(spec_file, allow_paths=[str(outside)]).apply(folder / "pki")
    assert applied.pki["web"].cert is not None
