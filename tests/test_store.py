"""The output directory's guarantees: modes, all-or-nothing replacement, recovery, lock, links."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pkiform.disk.store import Store
from tests.helpers.faults import Crash, crash_at_rename
from tests.helpers.files import snapshot
from tests.helpers.run import ApplySpec, RunCli

SPEC = """\
version: 1
identities:
  ca: {kind: root}
  web: {kind: server, issuer: ca, dns: [web.example.com]}
"""
REKEYED = SPEC.replace("dns: [web.example.com]}", "dns: [web.example.com], key: {type: ed25519}}")


def test_keys_are_0600_and_folders_0700_whatever_the_umask(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    old = os.umask(0)
    try:
        assert run_cli("apply", write_spec(SPEC), "-o", tmp_path / "pki").code == 0
    finally:
        os.umask(old)
    for name in ("ca", "web"):
        assert (tmp_path / "pki" / name / "key.pem").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "pki" / name).stat().st_mode & 0o777 == 0o700
        assert (tmp_path / "pki" / name / "cert.pem").stat().st_mode & 0o777 == 0o644


def test_replace_files_archives_what_it_replaces(tmp_path: Path) -> None:
    store = Store(tmp_path / "pki")
    store.replace_files("web", {"key.pem": b"k1", "cert.pem": b"c1"}, "20260101T000000Z")
    store.replace_files("web", {"key.pem": b"k2"}, "20260102T000000Z")
    folder = tmp_path / "pki" / "web"
    assert (folder / "key.pem").read_bytes() == b"k2"
    assert (folder / "cert.pem").read_bytes() == b"c1"
    assert (folder / "archive" / "20260102T000000Z" / "key.pem").read_bytes() == b"k1"
    assert not list(folder.glob(".pending*"))


def test_files_replaced_in_place_are_not_archived(tmp_path: Path) -> None:
    """A key re-encrypted is the same key: its plain copy must not stay in the archive,
    not even when a crash leaves the swap to the next run."""
    store = Store(tmp_path / "pki")
    store.replace_files("web", {"key.pem": b"plain", "cert.pem": b"c1"}, "20260101T000000Z")
    store.replace_batch(
        [("web", {"key.pem": b"encrypted", "cert.pem": b"c2"})],
        "20260102T000000Z",
        in_place={"web": ["key.pem"]},
    )
    folder = tmp_path / "pki" / "web"
    assert (folder / "key.pem").read_bytes() == b"encrypted"
    assert [p.name for p in (folder / "archive").rglob("*") if p.is_file()] == ["cert.pem"]
    # committed but not swapped: recovery keeps the promise of the marker
    (folder / ".pending.key.pem").write_bytes(b"encrypted again")
    (folder / ".pending.COMMIT").write_text(
        json.dumps({"archive": "20260103T000000Z", "files": ["key.pem"], "in_place": ["key.pem"]})
    )
    assert store.recover() == ["web"]
    assert (folder / "key.pem").read_bytes() == b"encrypted again"
    assert not (folder / "archive" / "20260103T000000Z").exists()


def test_output_files_that_hold_a_key_are_0600(tmp_path: Path) -> None:
    store = Store(tmp_path / "pki")
    files = {f: b"x" for f in ("key.der", "bundle.p12", "secret.yaml", "cert.der")}
    store.replace_files("web", {**files, "truststore.p12": b"x"}, "20260101T000000Z")
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "pki" / "web").iterdir()}
    assert modes == {
        "key.der": 0o600,
        "bundle.p12": 0o600,
        "secret.yaml": 0o600,
        "cert.der": 0o644,
        "truststore.p12": 0o644,
    }


@pytest.mark.parametrize("survive", range(12))
def test_a_crash_at_any_rename_is_finished_by_the_next_apply(
    applied: ApplySpec, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, survive: int
) -> None:
    spec, out = applied(SPEC)
    old_key = (out / "web" / "key.pem").read_bytes()
    spec.write_text(REKEYED)

    with crash_at_rename(monkeypatch, survive) as calls:
        crashed = run_cli("apply", spec, "-o", out)

    # whatever happened, the live files of each identity still belong together
    store = Store(out)
    store.recover()
    for name in ("ca", "web"):
        files, interrupted = store.read_identity(name)
        assert not interrupted
        assert {"key.pem", "cert.pem", "chain.pem", "fullchain.pem", "ca.pem"} <= set(files)
    assert run_cli("status", spec.with_name("old.yaml") if False else spec, "-o", out).code in (
        0,
        1,
    )

    finished = run_cli("apply", spec, "-o", out)
    assert finished.code == 0, finished.err
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0
    assert (out / "web" / "key.pem").read_bytes() != old_key
    archived = [p.read_bytes() for p in (out / "web" / "archive").rglob("key.pem")]
    assert archived == [old_key]  # replaced, never lost
    assert not list(out.rglob(".pending*")) and not list(out.rglob("*.tmp"))
    if crashed.code == 0:
        assert calls["n"] <= survive  # the apply needed no more renames than were allowed


@pytest.mark.parametrize("survive", [0, 1])
def test_a_new_identity_appears_whole_or_not_at_all(
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    survive: int,
) -> None:
    """New folders are built as DIR/.new.<name> and renamed into place: a crash before
    the rename leaves nothing that looks like an identity, and the next apply starts over."""
    spec = write_spec(SPEC)
    out = tmp_path / "pki"
    with crash_at_rename(monkeypatch, survive):
        assert run_cli("apply", spec, "-o", out).code == 1
    left = sorted(p.name for p in out.iterdir() if p.name.startswith(".new."))
    assert left == [".new.ca", ".new.web"][survive:]
    assert Store(out).names_on_disk() == ["ca", "web"][:survive]
    for name in ("ca", "web")[:survive]:  # what was renamed is whole
        assert {p.name for p in (out / name).iterdir()} >= {
            "key.pem", "cert.pem", "chain.pem", "fullchain.pem", "ca.pem"
        }  # fmt: skip

    assert run_cli("apply", spec, "-o", out).code == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".new.")]
    assert run_cli("status", spec, "-o", out).code == 0


def test_uncommitted_staging_is_discarded_and_live_files_kept(applied: ApplySpec) -> None:
    _, out = applied(SPEC)
    before = snapshot(out)
    pending = out / "web" / ".pending.key.pem"
    pending.write_bytes(b"half-written")
    (out / "web" / ".pending.COMMIT").write_bytes(b'{"archive": "2026')  # cut short
    assert Store(out).recover() == ["web"]
    assert not pending.exists()
    assert snapshot(out) == before


def lock_holder(out: Path) -> subprocess.Popen[str]:
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(out / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[1]))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, "30"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_second_apply_fails_clearly_while_the_lock_is_held(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "pki"
    out.mkdir()
    holder = lock_holder(out)
    try:
        result = run_cli("apply", write_spec(SPEC), "-o", out)
    finally:
        stop(holder)
    assert result.code == 1
    assert result.err == (
        f"pkiform: error: {out}/.lock is held by another pkiform apply (pid {holder.pid}); "
        "wait for it to finish or pass --lock-timeout SECONDS\n"
    )
    assert not (out / "web").exists()


def test_a_killed_lock_holder_does_not_block_the_next_apply(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "pki"
    out.mkdir()
    stop(lock_holder(out))
    assert run_cli("apply", write_spec(SPEC), "-o", out).code == 0


def test_lock_timeout_waits_for_the_holder(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "pki"
    out.mkdir()
    code = (
        "import fcntl, os, time\n"
        f"fd = os.open({str(out / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(1)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "locked\n"
    started = time.monotonic()
    result = run_cli("apply", write_spec(SPEC), "-o", out, "--lock-timeout", "30")
    holder.wait()
    holder.stdout.close()
    assert result.code == 0, result.err
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("target", ["web", "web/key.pem", "web/cert.pem"])
def test_symlinks_into_the_output_are_never_written_through(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path, target: str
) -> None:
    spec, out = applied(SPEC)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("precious\n")
    planted = out / target
    if planted.is_dir():
        planted.rename(tmp_path / "moved")
        planted.symlink_to(outside, target_is_directory=True)
    else:
        planted.unlink()
        planted.symlink_to(outside / "victim")
    spec.write_text(SPEC.replace("web.example.com]", "web.example.com, www.example.com]"))
    before = snapshot(out)
    result = run_cli("apply", spec, "-o", out)
    assert result.code == 1
    assert "is a symlink" in result.err
    assert "Traceback" not in result.err
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text() == "precious\n"
    assert snapshot(out) == before  # refused before writing anything
    assert not list(out.rglob(".pending*"))


def test_plan_on_an_interrupted_swap_says_apply_finishes_it(
    applied: ApplySpec, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, out = applied(SPEC)
    spec.write_text(REKEYED)
    real_replace = Path.replace
    calls = {"n": 0}

    def crash_after_first_swap(self: Path, target: str | os.PathLike[str]) -> Path:
        if calls["n"] >= 1 and Path(target).name == "cert.pem":
            raise Crash("killed between the key and the certificate")
        calls["n"] += 1
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", crash_after_first_swap)
    assert run_cli("apply", spec, "-o", out).code == 1
    monkeypatch.setattr(Path, "replace", real_replace)
    plan = run_cli("plan", spec, "-o", out, "--json")
    actions = {a["name"]: a for a in json.loads(plan.out)["actions"]}
    assert plan.code == 2
    assert actions["web"]["verb"] == "repair"
    assert actions["web"]["reasons"] == ["an earlier apply was interrupted here; apply finishes it"]
    assert run_cli("apply", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0
    assert run_cli("status", spec, "-o", out).code == 0
