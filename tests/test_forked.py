"""The two-process apply (issue 6, part 2): enough new leaves are issued and written
half by the apply's process and half by a child it forks (execute._write_in_two).

Checked against real `python -m pkiform` processes, with an audit hook that logs which
process created each file and can SIGKILL the parent or the child at its N-th file
creation after the fork: both processes write, each identity whole by one of them;
the result verifies with openssl and is up to date for the next apply; a seeded apply
gives the same bytes in one process or two; and a kill of either process leaves a
directory that the next apply finishes, with no process left behind.
"""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pkiform
from pkiform.apply import parallel as forked
from pkiform.apply import run as execute
from tests.helpers.files import digests, snapshot
from tests.helpers.run import pkiform_env, run_pkiform_process, run_python
from tests.helpers.specs import leaf_lines
from tests.helpers.tools import openssl

N_LEAVES = execute.PARALLEL_MIN + 72
# where pkiform forks (forked.available, but for this test runner's own threads)
two_processes = pytest.mark.skipif(
    platform.system() != "Linux" or (os.cpu_count() or 1) < 2,
    reason="an apply forks only on Linux with a second core",
)
LEAVES = [f"leaf{i:03d}" for i in range(N_LEAVES)]
AT = "2026-06-01T12:00:00Z"


def spec_text(*defaults: str) -> str:
    lines = [
        "version: 1",
        *(["defaults:", *(f"  {d}" for d in defaults)] if defaults else []),
        "identities:",
        "  root: {kind: root}",
        "  issuing: {kind: intermediate, issuer: root, path_length: 0}",
        *leaf_lines(LEAVES, client_every=2, domain="example"),
    ]
    return "\n".join(lines) + "\n"


# `python -m pkiform ARGS`, logging "<pid> <path>" to $CREATED for every file created
# below $OUT; with KILL=parent or KILL=child, that process SIGKILLs itself at its
# KILL_AT-th file creation after the fork
HOOK = r"""
import os, runpy, signal, sys

OUT = os.path.abspath(os.environ["OUT"])
KILL, KILL_AT = os.environ.get("KILL"), int(os.environ.get("KILL_AT", "0"))
log = os.open(os.environ["CREATED"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
state = {"role": None, "count": 0}

def role(name):
    def now():
        state["role"], state["count"] = name, 0
    return now

os.register_at_fork(after_in_parent=role("parent"), after_in_child=role("child"))

def hook(event, args):
    if event != "open" or not isinstance(args[0], str) or not args[2] & os.O_CREAT:
        return
    path = os.path.abspath(args[0])
    if not path.startswith(OUT + os.sep):
        return
    os.write(log, f"{os.getpid()} {os.path.relpath(path, OUT)}\n".encode())
    if state["role"] == KILL:
        state["count"] += 1
        if state["count"] == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)

sys.addaudithook(hook)
sys.argv = ["pkiform", *sys.argv[1:]]
runpy.run_module("pkiform", run_name="__main__", alter_sys=True)
"""


def hooked_apply(
    spec: Path, out: Path, created: Path, *options: str, **kill: str
) -> subprocess.CompletedProcess[str]:
    env = pkiform_env(OUT=str(out), CREATED=str(created), **kill)
    return run_python("-c", HOOK, "apply", spec, "-o", out, "--quiet", *options, env=env)


def plain_apply(spec: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return run_pkiform_process("apply", spec, "-o", out, "--quiet")


def creators(created: Path) -> dict[str, set[int]]:
    """Per identity folder, the processes that created files in it."""
    by_folder: dict[str, set[int]] = {}
    for line in created.read_text().splitlines():
        pid, path = line.split(" ", 1)
        folder = path.split(os.sep, 1)[0].removeprefix(".new.")
        by_folder.setdefault(folder, set()).add(int(pid))
    return by_folder


def assert_complete(spec: Path, out: Path) -> None:
    """Every identity whole and valid, nothing half-done left, and nothing more to do."""
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith((".new.", ".pending"))]
    assert leftovers == []
    status = run_pkiform_process("status", spec, "-o", out)
    assert status.returncode == 0, status.stdout + status.stderr
    leaves = [out / name / "cert.pem" for name in LEAVES]
    verified = openssl(
        "verify", "-x509_strict", "-CAfile", out / "root" / "cert.pem",
        "-untrusted", out / "issuing" / "cert.pem", *leaves,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.decode().count(": OK\n") == N_LEAVES
    for name in LEAVES:
        key = serialization.load_pem_private_key((out / name / "key.pem").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((out / name / "cert.pem").read_bytes())
        assert cert.public_key() == key.public_key(), name
        assert (out / name / "key.pem").stat().st_mode & 0o777 == 0o600
        assert (out / name).stat().st_mode & 0o777 == 0o700
    before = snapshot(out)
    again = plain_apply(spec, out)
    assert again.returncode == 0, again.stderr
    assert "0 changed" in again.stdout
    assert snapshot(out) == before


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text())
    return path


@two_processes
def test_two_processes_write_half_the_leaves_each(spec: Path, tmp_path: Path) -> None:
    out, created = tmp_path / "pki", tmp_path / "created.log"
    done = hooked_apply(spec, out, created)
    assert done.returncode == 0, done.stderr
    by_folder = creators(created)
    assert all(len(pids) == 1 for pids in by_folder.values()), "a folder written by both"
    writers = Counter(next(iter(by_folder[name])) for name in LEAVES)
    assert len(writers) == 2
    assert min(writers.values()) >= N_LEAVES // 2 - 1
    assert_complete(spec, out)


@two_processes
def test_secrets_from_both_processes_are_emitted_in_the_plans_order(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text("outputs: {kubernetes: {namespace: shop}}"))
    out, created = tmp_path / "pki", tmp_path / "created.log"
    done = hooked_apply(spec, out, created, "--emit", "kubernetes")
    assert done.returncode == 0, done.stderr
    assert len(set().union(*creators(created).values())) == 2
    documents = done.stdout.split("---\n")[1:]
    names = list(LEAVES)  # defaults.outputs.kubernetes keeps the CAs' keys out of the cluster
    assert [yaml.safe_load(d)["metadata"]["name"] for d in documents] == names
    assert documents == [(out / n / "secret.yaml").read_text() for n in names]


@two_processes
def test_a_seeded_pki_is_the_same_from_one_process_or_two(spec: Path, tmp_path: Path) -> None:
    seed = b"a seed that is long enough to use"
    (tmp_path / "seed").write_bytes(seed)
    two, created = tmp_path / "two", tmp_path / "created.log"
    done = hooked_apply(spec, two, created, "--seed-file", str(tmp_path / "seed"), "--at", AT)
    assert done.returncode == 0, done.stderr
    assert len(set().union(*creators(created).values())) == 2
    # another thread alive: this process must not fork, and issues everything itself
    stop = threading.Event()
    waiting = threading.Thread(target=stop.wait)
    waiting.start()
    try:
        assert not forked.available()
        one = tmp_path / "one"
        pkiform.load(spec).apply(one, seed=seed, at=datetime.fromisoformat(AT))
    finally:
        stop.set()
        waiting.join()
    assert digests(one) == digests(two)


def child_pid(created: Path) -> int:
    """The forked child: the parent wrote the CAs' files, so the first line is its."""
    lines = created.read_text().splitlines()
    parent = lines[0].split(" ", 1)[0]
    return int(next(line for line in lines if not line.startswith(parent + " ")).split(" ")[0])


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # ended; its new parent has not reaped it yet


# its first file, in mid-share, and its last file (the folders not yet renamed)
CHILD_SHARE = (N_LEAVES - N_LEAVES // 2) * 5


@two_processes
@pytest.mark.parametrize("kill_at", [1, CHILD_SHARE // 2, CHILD_SHARE])
def test_a_killed_child_fails_the_apply_and_the_next_apply_finishes(
    spec: Path, tmp_path: Path, kill_at: int
) -> None:
    out, created = tmp_path / "pki", tmp_path / "created.log"
    done = hooked_apply(spec, out, created, KILL="child", KILL_AT=str(kill_at))
    assert done.returncode == 1, done.stderr
    assert "error: the second worker process ended: killed by SIGKILL" in done.stderr
    assert "Traceback" not in done.stderr
    again = plain_apply(spec, out)
    assert again.returncode == 0, again.stderr
    assert_complete(spec, out)


@two_processes
@pytest.mark.parametrize("kill_at", [1, CHILD_SHARE // 2, CHILD_SHARE])
def test_a_killed_parent_takes_its_child_along_and_the_next_apply_finishes(
    spec: Path, tmp_path: Path, kill_at: int
) -> None:
    out, created = tmp_path / "pki", tmp_path / "created.log"
    done = hooked_apply(spec, out, created, KILL="parent", KILL_AT=str(kill_at))
    assert done.returncode == -9, done.stderr
    child = child_pid(created)
    # it holds the lock too: it stops on its own once it finds its parent gone
    deadline = time.monotonic() + 30
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child)
    again = plain_apply(spec, out)
    assert again.returncode == 0, again.stderr
    assert_complete(spec, out)


def test_progress_names_every_identity_once_in_the_parent(spec: Path, tmp_path: Path) -> None:
    script = (
        "import os, sys, pkiform\n"
        "pkiform.load(sys.argv[1]).apply(sys.argv[2], "
        "on_done=lambda name: print(os.getpid(), name, flush=True))\n"
    )
    done = run_python("-c", script, spec, tmp_path / "pki")
    assert done.returncode == 0, done.stderr
    reported = [line.split(" ") for line in done.stdout.splitlines()]
    assert sorted(name for _, name in reported) == sorted(["root", "issuing", *LEAVES])
    assert len({pid for pid, _ in reported}) == 1


# forked.Child on its own, in a fresh process (no test runner's threads at the fork)
CHILD = r"""
import os, sys
from pkiform.apply import parallel as forked
from pkiform.errors import StoreError

class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not today")

def work(send):
    for i in range(3):
        send(i)
    ending = sys.argv[1]
    if ending == "error":
        raise StoreError("disk full")
    if ending == "unpicklable":  # as a Rust panic is: pyo3_runtime cannot be imported
        raise Unpicklable("NulError(7, [104, 117]) hunter2")
    if ending == "exit":
        os._exit(3)

child = forked.Child(work)
got = []
try:
    got.extend(child.finish())
    print("ok", got)
except StoreError as e:
    print("error", got, e)
"""


@pytest.mark.parametrize(
    ("ending", "printed"),
    [
        ("none", "ok [0, 1, 2]"),
        ("error", "error [0, 1, 2] disk full"),
        (
            "unpicklable",
            "error [0, 1, 2] the second worker process failed with Unpicklable (its message "
            "is not shown: it may hold a secret)",
        ),
        ("exit", "error [0, 1, 2] the second worker process ended: exit status 3"),
    ],
)
def test_a_child_sends_its_records_in_order_then_how_it_ended(ending: str, printed: str) -> None:
    done = run_python("-c", CHILD, ending, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, printed + "\n", "")
