"""The output directory's promises under faults and hostile input (design.md §4, issue 5).

Crash safety: `pkiform apply` on a PKI of 122 identities (root, intermediate, 120 EC
P-256 leaves), a fresh one and one that rekeys the intermediate (every leaf reissued,
old files archived), is SIGKILLed at 22 moments (24 for the rekey: twice, the apply
that would finish the job is killed too), then applied again. Two reproducible ways
to pick the moment, both against a real `python -m pkiform` process:

* by change (18): after SIGKILL the directory holds exactly the file-system changes
  made before it, so a kill anywhere between two changes equals a kill just before the
  second. An audit hook (`sys.addaudithook`, and a wrapper of `os.write`) counts each
  change the process makes below the output directory (mkdir, file creation, write,
  rename, unlink) and SIGKILLs the process just before change N. A counting run of the
  same apply records the whole sequence first; the Ns are the first and last change of
  each phase (staging, COMMIT markers, swapping into place, manifest), the first
  marker write, the moves of each CA's key.pem and the ends of each CA's swap (where a
  half-swapped CA could lose its key), and the rest spread evenly. Same plan, same
  sequence, same kill points.
* by time (4): a plain `python -m pkiform` is killed from outside at fixed fractions
  of the quickest of three plain runs, measured in the same session: these land in
  start-up and in key generation and signing, where nothing has been written yet. A
  run that finishes first is tried again with half the delay.

After every recovery: each key.pem opens its cert.pem, each chain verifies (openssl,
one call per distinct chain), status exits 0, every key that existed before or was
live after the kill is live or archived, no staging or temporary file is left, and
another apply changes nothing.

Then: links planted where apply would write are refused and never followed; keys are
created 0600 (never widened, never chmod-ed) and folders 0700 whatever the umask; and
tampered files are named by plan and repaired by apply.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers.faults import (
    CA_NAMES,
    LEAVES,
    NAMES,
    SPEC,
    big_spec,
    check_each_identity_whole,
    load_cert,
    run_counted,
    verify_with_openssl,
)
from tests.helpers.files import archived, snapshot
from tests.helpers.run import ApplySpec, RunCli, pkiform_env, plan_actions

# the intermediate changes key type: it is rekeyed, every leaf reissued, all archived
REKEYED = big_spec("{type: ed25519}")


# -- running pkiform and killing it (the killer is in tests/helpers/faults.py) ------------


def run_killed_after(delay: float, *argv: str | Path) -> int:
    """`python -m pkiform ARGV`, SIGKILLed from outside `delay` seconds after it started
    (unless it finished first); its exit status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pkiform", *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=pkiform_env(),
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=60)


@dataclass(frozen=True)
class Baseline:
    spec: Path  # what the killed applies apply
    start: Path | None  # a copy of it is where they start (None: a fresh apply)
    changes: list[tuple[str, str]]  # every change of an uninterrupted run, in order
    seconds: float  # how long the quickest of three plain runs took, start-up included


PHASES = ("stage", "commit", "swap", "manifest")


def phase(change: tuple[str, str]) -> str:
    """Which step of a replacement a change belongs to (only to choose kill points):
    writing new files under a hidden name, writing COMMIT markers, moving files into
    place (and old ones to the archive), writing the manifest; "other" for the rest."""
    kind, where = change
    name = where.rsplit("/", 1)[-1]
    if "manifest.json" in name:
        return "manifest"
    if name == ".pending.COMMIT" and kind in ("open", "write"):
        return "commit"
    if kind in ("rename", "unlink") or "archive" in where:
        return "swap"
    if name.startswith(".") or where.startswith("."):
        return "stage"
    return "other"


TIMED = 4  # kills from outside, at fractions of the baseline duration
BY_EVENT = 18  # kills before a change (see kill_points)
POINTS = [f"t{i}" for i in range(TIMED)] + [f"e{i:02d}" for i in range(BY_EVENT)]
# the apply that would finish the job is killed too, a third and two thirds into its swaps
TWICE = ["d0", "d1"]


def kill_points(baseline: Baseline) -> list[int]:
    """BY_EVENT change numbers (1-based) to kill before: the first and last change of each
    phase; the first write of a COMMIT marker (leaves an empty marker behind); in each
    CA's folder the first and last change of its swap and every move of a key.pem (a CA
    half swapped is where a key could be lost, or replaced without --rekey); the rest
    spread evenly over the whole sequence."""
    numbered = list(enumerate(baseline.changes, start=1))
    by_phase: dict[str, list[int]] = defaultdict(list)
    for number, change in numbered:
        by_phase[phase(change)].append(number)
    chosen = {n for p in PHASES if by_phase[p] for n in (by_phase[p][0], by_phase[p][-1])}
    marker_writes = [n for n, (kind, where) in numbered if kind == "write" and "COMMIT" in where]
    chosen |= set(marker_writes[:1])
    for ca in CA_NAMES:
        swap = [(n, c) for n, c in numbered if phase(c) == "swap" and c[1].startswith(f"{ca}/")]
        moves = {n for n, (kind, where) in swap if kind == "rename" and "key.pem" in where}
        chosen |= {n for n, _ in swap[:1] + swap[-1:]} | moves
    assert len(chosen) <= BY_EVENT - 3, "too few kill points left to spread evenly"
    rest = [n for n, _ in numbered if n not in chosen]
    needed = BY_EVENT - len(chosen)
    chosen |= {rest[int(len(rest) * (i + 0.5) / needed)] for i in range(needed)}
    return sorted(chosen)


def kill(baseline: Baseline, point: str, out: Path) -> None:
    """Run the apply of `baseline` on a copy of its start in `out`, killed at `point`."""
    if baseline.start is not None:
        shutil.copytree(baseline.start, out, symlinks=True)
    argv = ("apply", baseline.spec, "-o", out, "--quiet")
    kind, i = point[0], int(point[1:])
    if kind == "t":  # from 10% to 60% of the quickest plain run's duration
        delay = baseline.seconds * (0.1 + 0.5 * i / (TIMED - 1))
        # a run that finished first leaves nothing to check: it is removed and tried
        # again sooner, since the other core's load makes durations vary
        for _ in range(3):
            if run_killed_after(delay, *argv) == -signal.SIGKILL:
                return
            shutil.rmtree(out)
            if baseline.start is not None:
                shutil.copytree(baseline.start, out, symlinks=True)
            delay /= 2
        pytest.fail(f"apply finished before each of three kills, the last at {delay * 2:.3f} s")
    if kind == "e":
        killed = run_counted(out, *argv, kill_at=kill_points(baseline)[i])
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        return
    swaps = [n for n, c in enumerate(baseline.changes, start=1) if phase(c) == "swap"]
    first = run_counted(out, *argv, kill_at=swaps[0])  # every marker written, nothing swapped
    assert first.returncode == -signal.SIGKILL, first.stderr
    second = run_counted(out, *argv, kill_at=len(swaps) * (i + 1) // 3)
    assert second.returncode == -signal.SIGKILL, second.stderr


class Kills:
    """Kills run in a background thread, one ahead of the test that checks them: the
    subprocess uses one core while the checks of the previous kill use the other."""

    def __init__(self, baseline: Baseline, tmp: Path, points: list[str]) -> None:
        self.baseline, self.tmp, self.points = baseline, tmp, points
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.jobs: dict[str, Future[Path]] = {}

    def _run(self, point: str) -> Path:
        out = self.tmp / point / "pki"
        out.parent.mkdir()
        kill(self.baseline, point, out)
        return out

    def result(self, point: str) -> Path:
        at = self.points.index(point)
        for ahead in self.points[at : at + 2]:
            if ahead not in self.jobs:
                self.jobs[ahead] = self.pool.submit(self._run, ahead)
        return self.jobs[point].result()


def measure(tmp: Path, spec_text: str, start: Path | None) -> Baseline:
    """The changes an uninterrupted apply makes, and how long a plain one takes."""
    spec = tmp / "spec.yaml"
    spec.write_text(spec_text)
    counted, timed = tmp / "counted", tmp / "timed"
    if start is not None:
        shutil.copytree(start, counted, symlinks=True)
    log = tmp / "changes.json"
    done = run_counted(counted, "apply", spec, "-o", counted, "--quiet", log=log)
    assert done.returncode == 0, done.stderr
    durations = []
    # the quickest of three: one run slowed by the other core's load would put the
    # timed kills past the end of a quicker one
    for _ in range(3):
        if timed.exists():
            shutil.rmtree(timed)
        if start is not None:
            shutil.copytree(start, timed, symlinks=True)
        began = time.monotonic()
        assert run_killed_after(60, "apply", spec, "-o", timed, "--quiet") == 0
        durations.append(time.monotonic() - began)
    changes = [(kind, where) for kind, where in json.loads(log.read_text())]
    assert {"stage", "swap", "manifest"} <= {phase(c) for c in changes}
    return Baseline(spec=spec, start=start, changes=changes, seconds=min(durations))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kills]:
    tmp = tmp_path_factory.mktemp("fresh")
    kills = Kills(measure(tmp, SPEC, None), tmp, POINTS)
    yield kills
    kills.pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="module")
def rekey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kills]:
    tmp = tmp_path_factory.mktemp("rekey")
    (tmp / "old.yaml").write_text(SPEC)
    start = tmp / "start"
    first = run_counted(start, "apply", tmp / "old.yaml", "-o", start, "--quiet")
    assert first.returncode == 0, first.stderr
    kills = Kills(measure(tmp, REKEYED, start), tmp, POINTS + TWICE)
    yield kills
    kills.pool.shutdown(cancel_futures=True)


# -- what must hold after a kill and a recovery --------------------------------------------


def live_keys(out: Path) -> dict[str, bytes]:
    """Every identity's live key.pem, as it is right now."""
    found = {}
    for name in NAMES:
        path = out / name / "key.pem"
        if path.is_file():
            found[name] = path.read_bytes()
    return found


def keys_kept(out: Path, name: str) -> set[bytes]:
    """The identity's live key and every key in its archive."""
    folder = out / name
    kept = {p.read_bytes() for p in (folder / "archive").rglob("key.pem*")}
    if (folder / "key.pem").is_file():
        kept.add((folder / "key.pem").read_bytes())
    return kept


def check_recovered(
    run_cli: RunCli, spec: Path, out: Path, must_keep: dict[str, set[bytes]], point: str
) -> None:
    """Apply finishes the job; then everything holds, and one more apply changes nothing."""
    finished = run_cli("apply", spec, "-o", out)
    assert finished.code == 0, f"{point}: {finished.err}"
    assert not list(out.rglob(".pending*")), point
    assert not list(out.rglob("*.tmp")), point
    check_each_identity_whole(out)
    verify_with_openssl(out)
    status = run_cli("status", spec, "-o", out)
    assert status.code == 0, f"{point}: {status.out}"
    for name, keys in must_keep.items():
        lost = keys - keys_kept(out, name)
        assert not lost, f"{point}: {name} lost {len(lost)} key(s)"
    before = snapshot(out)
    again = run_cli("apply", spec, "-o", out)
    assert again.code == 0, again.err
    assert snapshot(out) == before, f"{point}: the apply after recovery was not a no-op"


def union(*maps: dict[str, bytes]) -> dict[str, set[bytes]]:
    merged: dict[str, set[bytes]] = defaultdict(set)
    for keys in maps:
        for name, key in keys.items():
            merged[name].add(key)
    return merged


@pytest.mark.parametrize("point", POINTS)
def test_fresh_apply_killed_at_any_moment_is_finished_by_the_next(
    run_cli: RunCli, fresh: Kills, point: str
) -> None:
    out = fresh.result(point)
    after_kill = live_keys(out)
    check_recovered(run_cli, fresh.baseline.spec, out, union(after_kill), point)
    # an identity whose key was live when the apply died kept exactly that key
    assert {n: k for n, k in live_keys(out).items() if n in after_kill} == after_kill


@pytest.mark.parametrize("point", POINTS + TWICE)
def test_rekeying_apply_killed_at_any_moment_loses_no_key(
    run_cli: RunCli, rekey: Kills, point: str
) -> None:
    assert rekey.baseline.start is not None
    original = live_keys(rekey.baseline.start)
    out = rekey.result(point)
    check_recovered(run_cli, rekey.baseline.spec, out, union(original, live_keys(out)), point)
    now = live_keys(out)
    # the leaves are reissued, never rekeyed; the root is not touched
    assert {n: now[n] for n in (*LEAVES, "root")} == {n: original[n] for n in (*LEAVES, "root")}
    assert now["issuing"] != original["issuing"]
    [archived] = list((out / "issuing" / "archive").rglob("key.pem*"))
    assert archived.read_bytes() == original["issuing"]
    assert archived.stat().st_mode & 0o777 == 0o600


# -- links: never written through ----------------------------------------------------------

SMALL = """\
version: 1
identities:
  root: {kind: root}
  issuing: {kind: intermediate, issuer: root}
  web: {kind: server, issuer: issuing, dns: [web.example.com]}
  api: {kind: server, issuer: issuing, dns: [api.example.com]}
"""
SMALL_NAMES = ("root", "issuing", "web", "api")
# web is reissued: its cert.pem and fullchain.pem go to web/archive/<stamp>/
WEB_CHANGED = SMALL.replace("dns: [web.example.com]", "dns: [web.example.com, www.example.com]")
WITH_DB = SMALL + "  db: {kind: server, issuer: issuing, dns: [db.example.com]}\n"
WITHOUT_API = SMALL.replace("  api: {kind: server, issuer: issuing, dns: [api.example.com]}\n", "")
# issuing gets a new key type: rekeyed, web and api reissued
ISSUING_REKEYED = SMALL.replace("issuer: root}", "issuer: root, key: {type: ed25519}}")


def tree(directory: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Everything below `directory` without following any link: kind, content, mode."""
    found: dict[str, tuple[str, bytes | str, int]] = {}
    for top, dirs, files in os.walk(directory):
        for entry in dirs + files:
            path = Path(top) / entry
            st = path.lstat()
            rel = str(path.relative_to(directory))
            if path.is_symlink():
                found[rel] = ("link", str(path.readlink()), 0)
            elif path.is_dir():
                found[rel] = ("dir", "", st.st_mode)
            else:
                found[rel] = ("file", path.read_bytes(), st.st_mode)
    return found


def stamps() -> list[str]:
    """The archive folder names an apply starting in the next seconds could use."""
    now = datetime.now(UTC)
    return [f"{now + timedelta(seconds=s):%Y%m%dT%H%M%SZ}" for s in range(-1, 30)]


# where a link is planted, whether it replaces a file (else it points at a folder), the
# spec applied then, with extra flags: each apply would write at the link if it followed it
LINKS = {
    "CA key": ("issuing/key.pem", "file", WEB_CHANGED, ()),
    "chain": ("web/chain.pem", "file", SMALL, ()),
    "identity archive": ("web/archive", "", WEB_CHANGED, ()),
    "archive stamp": ("web/archive/{stamp}", "", WEB_CHANGED, ()),
    "prune archive": ("archive", "", WITHOUT_API, ("--prune",)),
    "prune archive stamp": ("archive/{stamp}", "", WITHOUT_API, ("--prune",)),
    "manifest": ("manifest.json", "file", WITH_DB, ()),
    "trust bundle": ("trust-bundle.pem", "file", WITH_DB, ()),
    "an output's name": ("web/secret.yaml", "file", SMALL, ()),
    "lock": (".lock", "file", WEB_CHANGED, ()),
    "new identity": ("db", "", WITH_DB, ()),
}


@pytest.mark.parametrize("case", LINKS)
def test_a_planted_link_is_refused_and_never_written_through(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path, case: str
) -> None:
    planted, replaces, spec_text, flags = LINKS[case]
    spec, out = applied(SMALL)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("precious\n")
    (outside / "cert.pem").write_text("precious too\n")
    target = outside / "victim" if replaces == "file" else outside
    aside = tmp_path / "aside"
    links = [out / planted.format(stamp=s) for s in stamps()] if "{" in planted else [out / planted]
    for link in links:
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists():
            link.rename(aside)
        link.symlink_to(target)
    spec.write_text(spec_text)
    outside_before, inside_before = tree(outside), tree(out)

    result = run_cli("apply", spec, "-o", out, *flags)
    assert result.code == 1, result.out
    assert f"{links[0].parent}/" in result.err and ": is a symlink" in result.err, result.err
    assert "Traceback" not in result.err
    assert tree(outside) == outside_before
    assert tree(out) == inside_before  # refused before writing anything

    for link in links:
        link.unlink()
    if aside.exists():
        aside.rename(links[0])
    assert run_cli("apply", spec, "-o", out, *flags).code == 0
    assert run_cli("status", spec, "-o", out).code == 0
    assert tree(outside) == outside_before


def test_leftover_staging_links_are_removed_never_followed(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path
) -> None:
    spec, out = applied(SMALL)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("precious\n")
    (outside / "marker").write_text('{"archive": "20260101T000000Z", "files": ["key.pem"]}')
    # uncommitted staging, a manifest's temporary file: discarded (the link, not its target)
    (out / "web" / ".pending.key.pem").symlink_to(outside / "victim")
    (out / "api" / ".pending.cert.pem").symlink_to(outside / "victim")
    (out / ".manifest.json.1.tmp").symlink_to(outside / "victim")
    (out / ".new.db").symlink_to(outside)  # where a new identity's folder could be built
    before = tree(outside)
    spec.write_text(WITH_DB.replace("dns: [web.example.com]", "dns: [web.example.com, w.example]"))
    result = run_cli("apply", spec, "-o", out)
    assert result.code == 0, result.err
    assert tree(outside) == before
    assert not list(out.rglob(".pending*")) and not list(out.rglob("*.tmp"))
    assert run_cli("status", spec, "-o", out).code == 0

    # a COMMIT marker would move files: read through a link, it is refused
    (out / "api" / ".pending.COMMIT").symlink_to(outside / "marker")
    refused = run_cli("apply", spec, "-o", out)
    assert refused.code == 1
    assert refused.err == (
        f"pkiform: error: {out}/api/.pending.COMMIT: is a symlink; pkiform does not follow links\n"
    )
    assert tree(outside) == before


def test_a_marker_that_would_move_files_elsewhere_is_refused(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path
) -> None:
    spec, out = applied(SMALL)
    (out / "web" / ".pending.key.pem").write_bytes(b"staged")
    for marker in (
        {"archive": "../../../elsewhere", "files": ["key.pem"]},
        {"archive": "20260101T000000Z", "files": ["../../elsewhere"]},
    ):
        (out / "web" / ".pending.COMMIT").write_text(json.dumps(marker))
        before = tree(tmp_path)
        refused = run_cli("apply", spec, "-o", out)
        assert refused.code == 1
        assert refused.err == (
            f"pkiform: error: {out}/web/.pending.COMMIT: not a marker pkiform wrote; "
            "remove it to go on\n"
        )
        assert tree(tmp_path) == before


# -- permissions ---------------------------------------------------------------------------


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def grow_everything(run_cli: RunCli, spec: Path, out: Path) -> None:
    """Apply, rekey a CA (archives in three folders), prune an identity (DIR/archive)."""
    assert run_cli("apply", spec, "-o", out).code == 0
    spec.write_text(ISSUING_REKEYED)
    assert run_cli("apply", spec, "-o", out).code == 0
    spec.write_text(
        ISSUING_REKEYED.replace(
            "  api: {kind: server, issuer: issuing, dns: [api.example.com]}\n", ""
        )
    )
    assert run_cli("apply", spec, "-o", out, "--prune").code == 0


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_every_key_is_0600_and_every_folder_0700_whatever_the_umask(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path, mask: int
) -> None:
    out = tmp_path / "pki"
    with umask(mask):
        grow_everything(run_cli, write_spec(SMALL), out)
    found = tree(out)
    keys = [p for p in found if p.rsplit("/", 1)[-1].startswith("key.pem")]
    folders = [p for p, (kind, _, _) in found.items() if kind == "dir"]
    # live keys, keys archived by a rekey, the key of a pruned identity
    assert len(keys) == 3 + 1 + 1, keys
    assert {p: oct(found[p][2] & 0o777) for p in keys} == {p: "0o600" for p in keys}
    assert "issuing/archive" in folders and "archive" in folders
    assert {p: oct(found[p][2] & 0o777) for p in folders} == {p: "0o700" for p in folders}


class CreationRecorder:
    """How every file below a directory came to be: the mode and flags it was created with
    (os.open), followed through renames. An audit hook sees every open, including the
    builtin open() and pathlib writes that do not go through os.open."""

    active: ClassVar[CreationRecorder | None] = None
    hooked: ClassVar[bool] = False

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.created: dict[str, tuple[int, int]] = {}  # path -> (mode, flags)
        self.chmods: list[str] = []
        self._os_open_mode: int | None = None

    def below(self, path: object) -> str | None:
        if isinstance(path, int):
            return None
        text = str(Path(os.fsdecode(path)).absolute())
        return text if text.startswith(self.root + os.sep) else None

    @classmethod
    def hook(cls, event: str, args: tuple[Any, ...]) -> None:
        self = cls.active
        if self is None:
            return
        if event == "open" and args[2] & os.O_CREAT and self.below(args[0]):
            # os.open passes its mode to us below; builtin open() creates with 0o666
            mode = self._os_open_mode if self._os_open_mode is not None else 0o666
            self.created[str(Path(args[0]).absolute())] = (mode, args[2])
        elif event == "os.rename" and self.below(args[0]):
            src, dst = str(Path(args[0]).absolute()), str(Path(args[1]).absolute())
            for path in [p for p in self.created if p == src or p.startswith(src + os.sep)]:
                self.created[dst + path[len(src) :]] = self.created.pop(path)
        elif event == "os.chmod" and (isinstance(args[0], int) or self.below(args[0])):
            self.chmods.append(str(args[0]))

    def os_open(self, real: Callable[..., int]) -> Callable[..., int]:
        def recording(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
            self._os_open_mode = mode
            try:
                return real(path, flags, mode, **kwargs)
            finally:
                self._os_open_mode = None

        return recording


def test_a_key_is_created_0600_exclusively_never_widened_or_renamed_from_wider(
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "pki"
    recorder = CreationRecorder(out)
    if not CreationRecorder.hooked:
        sys.addaudithook(CreationRecorder.hook)
        CreationRecorder.hooked = True
    monkeypatch.setattr(os, "open", recorder.os_open(os.open))
    CreationRecorder.active = recorder
    try:
        with umask(0):
            grow_everything(run_cli, write_spec(SMALL), out)
    finally:
        CreationRecorder.active = None
    keys = list(out.rglob("key.pem*"))
    assert len(keys) == 5
    for key in keys:
        mode, flags = recorder.created[str(key)]
        # O_EXCL: a new file, so the mode it is created with is the mode it has
        assert flags & os.O_CREAT and flags & os.O_EXCL, key
        assert mode & 0o077 == 0, f"{key} was created {oct(mode)}"
    assert recorder.chmods == []  # nothing is chmod-ed after the fact


# -- tampering -----------------------------------------------------------------------------


def archived_files(out: Path, name: str, filename: str) -> list[bytes]:
    return [p.read_bytes() for p in archived(out, name, f"{filename}*")]


def impostor(
    out: Path, name: str, signer: str | None, key: ec.EllipticCurvePrivateKey | None = None
) -> bytes:
    """A certificate just like `name`'s (subject, issuer, extensions, dates) for another
    key, signed by `signer`'s key (by its own when None): only the key gives it away."""
    real = load_cert((out / name / "cert.pem").read_bytes())
    key = key or ec.generate_private_key(ec.SECP256R1())
    signing_key = (
        serialization.load_pem_private_key((out / signer / "key.pem").read_bytes(), None)
        if signer
        else key
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
    )
    for ext in real.extensions:
        value = ext.value
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        elif isinstance(value, x509.AuthorityKeyIdentifier) and signer is None:
            continue
        builder = builder.add_extension(value, critical=ext.critical)
    cert = builder.sign(signing_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


def fresh_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# name -> (file, how to damage it from the directory, expected verb, expected reasons)
Damage = Callable[[Path], bytes]
UNREADABLE_CERT = "cert.pem is not a readable PEM certificate"
UNREADABLE_KEY = "key.pem is not a readable PEM private key"
TAMPERED: dict[str, tuple[str, str, Damage, str, list[str]]] = {
    "leaf cert truncated": (
        "web",
        "cert.pem",
        lambda out: (out / "web/cert.pem").read_bytes()[:200],
        "reissue",
        [UNREADABLE_CERT],
    ),
    "leaf cert empty": ("web", "cert.pem", lambda out: b"", "reissue", [UNREADABLE_CERT]),
    "leaf cert holds a key": (
        "web",
        "cert.pem",
        lambda out: (out / "web/key.pem").read_bytes(),
        "reissue",
        [UNREADABLE_CERT],
    ),
    "leaf cert holds two": (
        "web",
        "cert.pem",
        lambda out: (out / "web/fullchain.pem").read_bytes(),
        "reissue",
        ["cert.pem holds 2 certificates, expected 1"],
    ),
    "leaf cert of another key": (
        "web",
        "cert.pem",
        lambda out: impostor(out, "web", "issuing"),
        "reissue",
        ["cert.pem does not match key.pem"],
    ),
    "leaf key garbage": (
        "web",
        "key.pem",
        lambda out: b"-----BEGIN PRIVATE KEY-----\nnonsense\n",
        "rekey",
        [UNREADABLE_KEY],
    ),
    "leaf key holds a cert": (
        "web",
        "key.pem",
        lambda out: (out / "web/cert.pem").read_bytes(),
        "rekey",
        [UNREADABLE_KEY],
    ),
    "leaf key of another identity": (
        "web",
        "key.pem",
        lambda out: (out / "api/key.pem").read_bytes(),
        "rekey",
        ["key.pem does not match cert.pem: it is the key of identity 'api'"],
    ),
    "leaf key replaced": (
        "web",
        "key.pem",
        lambda out: fresh_key(),
        "reissue",
        ["cert.pem does not match key.pem"],
    ),
    "fullchain truncated": (
        "web",
        "fullchain.pem",
        lambda out: (out / "web/fullchain.pem").read_bytes()[:-100],
        "repair",
        ["fullchain.pem is out of date"],
    ),
    "ca.pem garbage": (
        "api",
        "ca.pem",
        lambda out: b"\x00" * 64,
        "repair",
        ["ca.pem is out of date"],
    ),
    "CA cert truncated": (
        "issuing",
        "cert.pem",
        lambda out: (out / "issuing/cert.pem").read_bytes()[:300],
        "reissue",
        [UNREADABLE_CERT],
    ),
    "CA cert of another identity": (
        "issuing",
        "cert.pem",
        lambda out: (out / "root/cert.pem").read_bytes(),
        "reissue",
        ["cert.pem does not match key.pem"],
    ),
    "CA cert of same subject, another key": (
        "issuing",
        "cert.pem",
        lambda out: impostor(out, "issuing", "root"),
        "reissue",
        ["cert.pem does not match key.pem"],
    ),
    "root cert of same subject, another key": (
        "root",
        "cert.pem",
        lambda out: impostor(out, "root", None),
        "reissue",
        ["cert.pem does not match key.pem"],
    ),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_tampered_files_are_named_by_plan_and_repaired_by_apply(
    applied: ApplySpec, run_cli: RunCli, case: str
) -> None:
    name, filename, damage, verb, reasons = TAMPERED[case]
    spec, out = applied(SMALL)
    keys = live_keys_of(out)
    certs = {n: (out / n / "cert.pem").read_bytes() for n in SMALL_NAMES}
    bad = damage(out)
    (out / name / filename).write_bytes(bad)

    assert run_cli("status", spec, "-o", out).code == 1
    code, actions = plan_actions(run_cli, spec, out)
    assert code == 2
    assert (actions[name]["verb"], actions[name]["reasons"]) == (verb, reasons)
    below = [n for n in SMALL_NAMES if name in chain_of(n)]
    if verb != "repair":  # a new certificate: everything below is reissued with it
        assert {n: actions[n]["verb"] for n in below} == {n: "reissue" for n in below}
    assert {n for n, a in actions.items() if a["verb"] != "unchanged"} == {name, *below}

    result = run_cli("apply", spec, "-o", out)
    assert result.code == 0, result.err
    now = live_keys_of(out)
    if filename == "key.pem" and verb == "reissue":
        assert now[name] == bad  # the new key is sound: a certificate is issued for it
        assert certs[name] in archived_files(out, name, "cert.pem")
    else:
        assert bad in archived_files(out, name, filename)  # what it replaced is kept
    if verb == "rekey":
        assert now[name] != keys[name] and now[name] != bad
    elif filename != "key.pem":
        assert now[name] == keys[name]
    assert {n: now[n] for n in SMALL_NAMES if n != name} == {
        n: keys[n] for n in SMALL_NAMES if n != name
    }
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0
    verify_with_openssl(out, SMALL_NAMES)


CA_KEY_DAMAGE: dict[str, tuple[str, Damage, str]] = {
    "root key replaced": ("root", lambda out: fresh_key(), "key.pem does not match cert.pem"),
    "CA key truncated": (
        "issuing",
        lambda out: (out / "issuing/key.pem").read_bytes()[:100],
        UNREADABLE_KEY,
    ),
    "CA key of another CA": (
        "issuing",
        lambda out: (out / "root/key.pem").read_bytes(),
        "key.pem does not match cert.pem: it is the key of identity 'root'",
    ),
}


@pytest.mark.parametrize("case", CA_KEY_DAMAGE)
def test_a_ca_key_that_no_longer_matches_blocks_apply_until_rekey(
    applied: ApplySpec, run_cli: RunCli, case: str
) -> None:
    name, damage, reason = CA_KEY_DAMAGE[case]
    spec, out = applied(SMALL)
    bad = damage(out)
    (out / name / "key.pem").write_bytes(bad)
    before = tree(out)

    code, actions = plan_actions(run_cli, spec, out, blocked=True)
    assert code == 1
    assert actions[name]["verb"] == "blocked"
    assert actions[name]["reasons"] == [
        f"{reason} while its certificate is still there; a CA key is never replaced "
        f"implicitly: pass --rekey {name} to replace it and reissue everything below it"
    ]
    refused = run_cli("apply", spec, "-o", out)
    assert refused.code == 1
    assert refused.err.startswith(f"pkiform: error: refusing to replace the key of CA {name}:")
    assert tree(out) == before  # nothing written
    assert run_cli("status", spec, "-o", out).code == 1

    done = run_cli("apply", spec, "-o", out, "--rekey", name)
    assert done.code == 0, done.err
    assert bad in archived_files(out, name, "key.pem")
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0
    verify_with_openssl(out, SMALL_NAMES)


def test_a_ca_cert_for_another_key_type_does_not_rekey_the_ca_without_rekey(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """The spec did not change: key.pem still fits it, so a certificate of another key type
    is no reason to replace the CA's key. With nothing issued on disk to tell which of the
    two files changed, the CA is blocked like any CA whose key and certificate disagree."""
    spec = write_spec(
        "version: 1\nidentities:\n  root: {kind: root}\n"
        "  spare: {kind: intermediate, issuer: root}\n"
    )
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    key = (out / "spare" / "key.pem").read_bytes()
    (out / "spare" / "cert.pem").write_bytes(
        impostor(out, "spare", "root", ec.generate_private_key(ec.SECP384R1()))
    )
    code, actions = plan_actions(run_cli, spec, out, blocked=True)
    assert (code, actions["spare"]["verb"]) == (1, "blocked")
    assert actions["spare"]["reasons"] == [
        "key.pem does not match cert.pem while its certificate is still there; a CA key is "
        "never replaced implicitly: pass --rekey spare to replace it and reissue everything "
        "below it"
    ]
    assert run_cli("apply", spec, "-o", out).code == 1
    assert (out / "spare" / "key.pem").read_bytes() == key


def live_keys_of(out: Path) -> dict[str, bytes]:
    return {n: (out / n / "key.pem").read_bytes() for n in SMALL_NAMES}


def chain_of(name: str) -> list[str]:
    issuers = {"issuing": "root", "web": "issuing", "api": "issuing"}
    chain = []
    while name in issuers:
        name = issuers[name]
        chain.append(name)
    return chain
