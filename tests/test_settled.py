"""The settled mark (src/pkiform/cache/settled.py): plan and apply on an up-to-date directory
answer without reading the spec, and only when planning in full would answer the same.

Every case applies a real spec, then plans or applies twice: once with the spec file
as applied (the mark may answer) and once with a copy that differs by a comment (its
digest differs, so pkiform plans in full). The two must print the same bytes and exit
the same, whatever was changed in between: a file, the spec, the clock.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkiform.cache import settled
from pkiform.durations import BACKDATE
from pkiform.plan.due import NEVER_QUIET, certificate_due, freshness_window, list_due, quiet_window
from pkiform.spec.load import validate_text
from pkiform.spec.model import Duration, Identity
from tests.helpers.files import snapshot
from tests.helpers.run import ApplySpec, RunCli, invoke, pkiform_env, run_python

SPEC = """\
version: 1
identities:
  root: {kind: root, validity: 10y}
  issuing:
    kind: intermediate
    issuer: root
    path_length: 0
    validity: 2y
    crl_validity: 6d
    ocsp: true
  web: {kind: server, issuer: issuing, dns: [web.example], validity: 90d, renew_before: 20d}
  api: {kind: server, issuer: issuing, dns: [api.example], outputs: {der: true}}
  alice: {kind: client, issuer: issuing, validity: 30d}
  old: {kind: client, issuer: issuing, revoked: {reason: superseded}}
"""
COUNT = 6  # old, revoked before it was ever issued, is skipped: 5 up to date, 1 skipped


def full_twin(spec: Path) -> Path:
    """The same spec but for a comment: pkiform plans it in full."""
    twin = spec.with_name("twin.yaml")
    twin.write_bytes(spec.read_bytes() + b"# planned in full\n")
    return twin


def both(run_cli: RunCli, command: str, spec: Path, out: Path, *flags: str) -> tuple[int, str]:
    """`command` on the spec and on its twin; they must agree."""
    marked = run_cli(command, spec, "-o", out, *flags)
    full = run_cli(command, full_twin(spec), "-o", out, *flags)
    assert (marked.code, marked.out, marked.err) == (full.code, full.out, full.err)
    return marked.code, marked.out


def answers(spec: Path, out: Path, at: datetime | None = None) -> bool:
    """Whether the mark answers for this spec, directory and clock."""
    return settled.check(spec.read_bytes(), out, at or datetime.now(UTC)) is not None


def test_an_apply_marks_the_directory_and_plan_answers_from_the_mark(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    assert answers(spec, out)
    mark = json.loads((out / "manifest.json").read_text())["settled"]
    full = json.loads(run_cli("plan", full_twin(spec), "-o", out, "--json").out)
    assert mark["order"] == [a["name"] for a in full["actions"]]
    before = snapshot(out)
    for command in ("plan", "apply"):
        for flags in ((), ("--json",)):
            assert run_cli(command, spec, "-o", out, *flags).code == 0
    assert snapshot(out) == before  # the answer wrote nothing


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("flags", [(), ("--json",)], ids=["text", "json"])
def test_the_answer_is_what_planning_in_full_prints(
    applied: ApplySpec, run_cli: RunCli, command: str, flags: tuple[str, ...]
) -> None:
    spec, out = applied(SPEC)
    marked = run_cli(command, spec, "-o", out, *flags)
    full = run_cli(command, full_twin(spec), "-o", out, *flags)
    assert (marked.code, marked.out, marked.err) == (full.code, full.out, full.err)
    if flags:
        json.loads(marked.out)
    else:
        assert f"{COUNT - 1} " in marked.out and ", 1 skipped." in marked.out


def test_the_answer_in_markdown_is_what_planning_in_full_prints(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    code, markdown = both(run_cli, "plan", spec, out, "--format", "markdown")
    assert code == 0
    assert markdown == (
        f"**No changes: {COUNT - 1} identities up to date, 1 skipped.**\n"
        "\n"
        "| | identity | change | reasons |\n"
        "|:-:|---|---|---|\n"
        "|  | `old` | skip | `revoked before it was ever issued: nothing to issue, nothing to "
        "list` |\n"
    )
    assert answers(spec, out)  # the first of the two came from the mark


def test_the_answer_loads_neither_the_spec_nor_cryptography(applied: ApplySpec) -> None:
    spec, out = applied(SPEC)
    for fmt in ("text", "json", "markdown"):
        probe = (
            "import sys; from pkiform.cli import main; "
            f"code = main(['plan', {str(spec)!r}, '-o', {str(out)!r}, '--format', {fmt!r}]); "
            "print(code, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('cryptography', 'yaml', 'jsonschema') "
            "or m in ('pkiform.spec.source', 'pkiform.api')))"
        )
        result = run_python("-c", probe, env=pkiform_env())
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "0 []"
    twin = probe.replace(repr(str(spec)), repr(str(full_twin(spec))))
    loaded = run_python("-c", twin, env=pkiform_env()).stdout.splitlines()[-1]
    assert "cryptography" in loaded and "pkiform.spec.source" in loaded  # the probe can tell


def test_the_answer_for_a_spec_on_standard_input_comes_from_the_bytes_read(
    applied: ApplySpec,
) -> None:
    spec, out = applied(SPEC)
    probe = (
        "import sys; from pkiform.cli import main; "
        f"code = main(['plan', '-', '-o', {str(out)!r}]); "
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('cryptography', 'yaml', 'jsonschema') or m in ('pkiform.spec.source', 'pkiform.api')))"
    )
    for data, loaded in ((spec.read_bytes(), False), (full_twin(spec).read_bytes(), True)):
        result = subprocess.run(
            [sys.executable, "-c", probe], input=data, capture_output=True, text=False,
            env=pkiform_env(), timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        last = result.stdout.decode().splitlines()[-1]
        assert last.startswith("0 ") and ("cryptography" in last) is loaded


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


CHANGES: dict[str, Callable[[Path], object]] = {
    "cert-byte": lambda out: _write(
        out / "web/cert.pem", (out / "web/cert.pem").read_bytes().replace(b"A", b"B", 1)
    ),
    "key-missing": lambda out: (out / "alice/key.pem").unlink(),
    "ca-pem-missing": lambda out: (out / "web/ca.pem").unlink(),
    "chain-junk": lambda out: _write(out / "api/chain.pem", b"junk\n"),
    "der-output-missing": lambda out: (out / "api/cert.der").unlink(),
    "crl-missing": lambda out: (out / "issuing/crl.pem").unlink(),
    "ocsp-junk": lambda out: _write(out / "web/ocsp.der", b"\0"),
    "trust-bundle-missing": lambda out: (out / "trust-bundle.pem").unlink(),
    "manifest-entry-edited": lambda out: _write(
        out / "manifest.json",
        (out / "manifest.json").read_bytes().replace(b'"kind": "server"', b'"kind": "client"', 1),
    ),
    "mark-until-edited": lambda out: _write(
        out / "manifest.json",
        (out / "manifest.json").read_bytes().replace(b'"until": "20', b'"until": "29', 1),
    ),
    "mark-from-edited": lambda out: _write(
        out / "manifest.json",
        (out / "manifest.json").read_bytes().replace(b'"from": "20', b'"from": "19', 1),
    ),
    "folder-missing": lambda out: (out / "web").rename(out / "web-moved"),
    "folder-of-the-unissued": lambda out: (out / "old").mkdir(),
    "folder-extra": lambda out: (out / "stray").mkdir(),
    "file-extra": lambda out: _write(out / "alice/notes.txt", b"hello\n"),
    "staged-file": lambda out: _write(out / "web/.pending.cert.pem", b"half"),
    "symlink": lambda out: (
        (out / "web/fullchain.pem").unlink()
        or (out / "web/fullchain.pem").symlink_to(out / "web/cert.pem")
    ),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_any_change_on_disk_is_planned_in_full(
    applied: ApplySpec, run_cli: RunCli, change: Callable[[Path], object]
) -> None:
    spec, out = applied(SPEC)
    change(out)
    assert not answers(spec, out)
    both(run_cli, "plan", spec, out)
    both(run_cli, "plan", spec, out, "--json")
    both(run_cli, "plan", spec, out, "--format", "markdown")


def test_an_apply_after_a_change_marks_the_directory_again(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    (out / "web/key.pem").unlink()
    assert run_cli("apply", spec, "-o", out).code == 0
    assert answers(spec, out)
    assert run_cli("plan", spec, "-o", out).code == 0


def test_a_changed_spec_is_planned_in_full(
    applied: ApplySpec, run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    _, out = applied(SPEC)
    changed = write_spec(SPEC.replace("web.example]", "web.example, www.example]"), "new.yaml")
    assert not answers(changed, out)
    result = run_cli("plan", changed, "-o", out)
    assert result.code == 2 and "www.example" in result.out


def test_the_mark_lasts_until_the_clock_gives_plan_work_and_no_longer(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    """`until` is the first instant at which planning in full finds something to do:
    here the intermediate's CRL and OCSP responses (crl_validity 6d: re-signed with 2d
    left), then alice's renewal (30d, renewed with 10d left), then web's."""
    spec, out = applied(SPEC)
    mark = json.loads((out / "manifest.json").read_text())["settled"]
    until = datetime.fromisoformat(mark["until"])
    now = datetime.now(UTC)
    assert timedelta(days=3, hours=23) < until - now <= timedelta(days=4)
    for at, code in [
        (until - timedelta(seconds=1), 0),
        (until + timedelta(seconds=1), 2),
        (until + timedelta(days=30), 2),
    ]:
        flag = ("--at", at.isoformat())
        assert answers(spec, out, at) is (code == 0)
        assert both(run_cli, "plan", spec, out, *flag)[0] == code
    # what the clock then asks for is a CRL and OCSP responses, nothing else yet
    result = run_cli("plan", spec, "-o", out, "--json", "--at", (until + timedelta(1)).isoformat())
    plan = json.loads(result.out)
    assert {a["verb"] for a in plan["actions"]} == {"unchanged", "skip"}
    assert {r["name"] for r in plan["revocations"]} >= {"issuing", "web"}


def test_apply_answers_only_under_the_lock(applied: ApplySpec, run_cli: RunCli) -> None:
    spec, out = applied(SPEC)
    fd = os.open(out / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another apply, writing
        result = run_cli("apply", spec, "-o", out)
    finally:
        os.close(fd)
    assert result.code == 1 and "held by another pkiform apply" in result.err


def test_the_mark_holds_only_from_when_everything_is_valid(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """An apply `--at` a later time signs what is not valid before then: its mark
    answers from then on, never for the clock now, where planning in full reissues."""
    spec, out = write_spec(SPEC), tmp_path / "pki"
    at = datetime.now(UTC) + timedelta(days=30)
    assert run_cli("apply", spec, "-o", out, "--at", at.isoformat()).code == 0
    mark = json.loads((out / "manifest.json").read_text())["settled"]
    since = datetime.fromisoformat(mark["from"])
    assert since == at.replace(microsecond=0) - BACKDATE
    assert answers(spec, out, since) and answers(spec, out, at)
    assert not answers(spec, out, since - TINY)
    assert not answers(spec, out)
    code, planned = both(run_cli, "plan", spec, out)
    assert code == 2 and planned.count("not valid before") == COUNT - 1  # old: never issued
    assert both(run_cli, "plan", spec, out, "--at", since.isoformat())[0] == 0
    assert both(run_cli, "plan", spec, out, "--at", (since - TINY).isoformat())[0] == 2


@pytest.mark.parametrize(
    ("spec_text", "flags"),
    [
        (
            SPEC + "  carol: {kind: client, issuer: issuing,"
            " key: {type: ec, curve: P-256, encrypt: {password_env: CAROL_PW}}}\n",
            (),
        ),
        (SPEC.replace("validity: 30d}", "validity: 3y}"), ()),  # outlives its issuer
        (SPEC, ("--seed-file", "seed.bin")),
    ],
    ids=["password", "warning", "seed"],
)
def test_no_mark_where_the_answer_would_need_more_than_the_mark_holds(
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spec_text: str,
    flags: tuple[str, ...],
) -> None:
    monkeypatch.setenv("CAROL_PW", "correct horse battery staple")
    (tmp_path / "seed.bin").write_bytes(b"a seed for the settled-mark tests only\n")
    spec, out = write_spec(spec_text), tmp_path / "pki"
    result = run_cli("apply", spec, "-o", out, *flags)
    assert result.code == 0, result.err
    assert b'"settled"' not in (out / "manifest.json").read_bytes()
    assert run_cli("plan", spec, "-o", out, *flags).code == 0


# -- the planner's time checks, inverted ------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPANS = st.integers(min_value=1, max_value=800).map(lambda d: timedelta(days=d))
TINY = timedelta(seconds=1)


def identity(validity: timedelta, renew_before: timedelta) -> Identity:
    text = "version: 1\nidentities:\n  ca: {kind: root}\n  leaf: {kind: client, issuer: ca}\n"
    leaf = validate_text(text).spec.identities["leaf"]
    return dataclasses.replace(
        leaf,
        validity=Duration(text=f"{validity.days}d", delta=validity),
        renew_before=Duration(text=f"{renew_before.days}d", delta=renew_before),
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, x509.Certificate]:
    """Real certificates to hold the checks to: one leaf, its issuer, and a short CA; and
    the same signed for a time a year from now (`apply --at`), as `future-...`."""
    base = tmp_path_factory.mktemp("certs")
    spec = base / "spec.yaml"
    spec.write_text(
        "version: 1\nidentities:\n"
        "  ca: {kind: root, validity: 1y}\n"
        "  leaf: {kind: client, issuer: ca, validity: 90d}\n"
        "  short: {kind: root, validity: 30d}\n"
        "  clamped: {kind: client, issuer: short, validity: 90d}\n"
    )
    later = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    found = {}
    for prefix, flags in (("", ()), ("future-", ("--at", later))):
        out = base / f"pki{prefix}"
        assert invoke("apply", spec, "-o", out, *flags).code == 0
        for n in ("ca", "leaf", "short", "clamped"):
            pem = (out / n / "cert.pem").read_bytes()
            found[prefix + n] = x509.load_pem_x509_certificate(pem)
    return found


def assert_inverted(
    reasons_at: Callable[[datetime], list[str]],
    window: tuple[datetime, datetime],
    valid_from: datetime,
) -> None:
    """`window` is when the check `reasons_at` has nothing to say: from its first instant
    (`valid_from`, when what is checked becomes valid) until just before its second, the
    first instant at which it has something to say again; NEVER_QUIET if it has something
    to say at any time."""
    since, until = window
    if window == NEVER_QUIET:
        for at in (valid_from, valid_from + timedelta(days=1), T0 + timedelta(days=3650)):
            assert reasons_at(at) != []
        return
    assert since == valid_from < until
    assert reasons_at(since - TINY) != []  # not valid yet
    assert reasons_at(since) == []
    assert reasons_at(since + (until - since) / 2) == []
    assert reasons_at(until - TINY) == []
    assert reasons_at(until + TINY) != []


@given(renew_before=SPANS, validity=st.sampled_from([90, 90, 30]), future=st.booleans())
def test_quiet_window_is_when_a_certificate_is_valid_and_not_yet_due(
    certs: dict[str, x509.Certificate], renew_before: timedelta, validity: int, future: bool
) -> None:
    """From notBefore (signed for a later time, a certificate is due before then) to
    its renewal or expiry; never, where its validity drifted from the spec's."""
    prefix = "future-" if future else ""
    for leaf, issuer in [("leaf", "ca"), ("clamped", "short")]:
        ident = identity(timedelta(days=validity), renew_before)
        cert, issuer_cert = certs[prefix + leaf], certs[prefix + issuer]
        assert_inverted(
            functools.partial(certificate_due, ident, cert, issuer_cert),
            quiet_window(ident, cert, issuer_cert),
            cert.not_valid_before_utc,
        )


@given(
    crl_days=st.integers(min_value=1, max_value=400),
    drift=st.sampled_from([0, 0, 1, 3600]),
    signed=st.integers(min_value=-800, max_value=800).map(lambda d: T0 + timedelta(days=d)),
)
def test_freshness_window_is_when_a_crl_is_valid_and_not_yet_due(
    crl_days: int, drift: int, signed: datetime
) -> None:
    """From thisUpdate (signed for a later time, it is due before then) until a third of
    its validity is left; never, where its length drifted from crl_validity."""
    text = f"version: 1\nidentities:\n  ca: {{kind: root, crl_validity: {crl_days}d}}\n"
    ca = validate_text(text).spec.identities["ca"]
    this_update = signed - BACKDATE  # as pkiform signs: backdated, valid for crl_validity
    length = BACKDATE + timedelta(days=crl_days, seconds=drift)  # 1 s of drift is allowed
    for next_update in (this_update + length, None):
        assert_inverted(
            functools.partial(list_due, this_update, next_update, ca),
            freshness_window(this_update, next_update, ca),
            this_update,
        )


def test_archives_count_whole_where_a_crl_lists_them(applied: ApplySpec, run_cli: RunCli) -> None:
    """With revoke_superseded, a CRL lists the certificates in its subjects' archives: one
    more there is work for plan, and the mark must not hide it."""
    text = SPEC.replace("    ocsp: true\n", "    ocsp: true\n    revoke_superseded: true\n")
    spec, out = applied(text)
    spec.write_text(text.replace("web.example]", "web.example, www.example]"))
    assert run_cli("apply", spec, "-o", out).code == 0  # web/archive/ now holds its old cert
    assert answers(spec, out)
    stamp = out / "web" / "archive" / "20990101T000000Z"
    stamp.mkdir(parents=True)
    (stamp / "cert.pem").write_bytes((out / "alice" / "cert.pem").read_bytes())
    assert not answers(spec, out)
    code, planned = both(run_cli, "plan", spec, out)
    assert code == 2 and "superseded" in planned


# -- soundness over random histories ---------------------------------------------------

SPECS = [
    SPEC,
    SPEC.replace("web.example]", "web.example, www.example]"),
    SPEC.replace("crl_validity: 6d", "crl_validity: 3d"),
    # CRLs and OCSP responses outlast alice's renewal: hers comes due first
    SPEC.replace("crl_validity: 6d", "crl_validity: 90d").replace(
        "root: {kind: root, validity: 10y}", "root: {kind: root, validity: 10y, crl_validity: 90d}"
    ),
    SPEC.replace(
        "alice: {kind: client, issuer: issuing, validity: 30d}",
        "alice: {kind: client, issuer: issuing, validity: 30d, revoked: {reason: keyCompromise}}",
    ),
]
FILES = ["root/cert.pem", "issuing/crl.pem", "issuing/key.pem", "web/chain.pem", "web/ocsp.der",
         "api/cert.der", "alice/fullchain.pem", "trust-bundle.pem", "manifest.json"]  # fmt: skip
APPLY = st.tuples(st.just("apply"))
STEPS = st.one_of(
    APPLY,
    APPLY,  # three times as likely: most marks are made by an apply
    APPLY,
    st.tuples(st.just("spec"), st.integers(0, len(SPECS) - 1)),
    # days from the start: mostly within the first month, where CRLs and alice come due;
    # some before it, where what was signed later is not valid yet
    st.tuples(st.just("clock"), st.integers(0, 30) | st.integers(-30, 400)),
    st.tuples(st.just("damage"), st.sampled_from(FILES), st.sampled_from(["flip", "cut", "rm"])),
    st.tuples(st.just("extra"), st.sampled_from(["web/notes.txt", "stray/cert.pem"])),
)


def _damage(path: Path, how: str) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if how == "rm":
        path.unlink()
    elif how == "cut":
        path.write_bytes(data[: len(data) // 2])
    elif data:
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.sampled_from(SPECS), steps=st.lists(STEPS, min_size=1, max_size=6))
def test_whenever_the_mark_answers_planning_in_full_finds_nothing_to_do(
    tmp_path_factory: pytest.TempPathFactory, first: str, steps: list[tuple[object, ...]]
) -> None:
    """Any history of applies, spec edits, clock jumps and damage: wherever the mark
    answers, planning in full at that moment agrees, to the byte."""
    base = tmp_path_factory.mktemp("history")
    spec, out, start = base / "spec.yaml", base / "pki", datetime.now(UTC)
    spec.write_text(first)
    at = start
    assert invoke("apply", spec, "-o", out, "--at", at.isoformat()).code == 0
    for step in steps:
        if step[0] == "apply":
            invoke("apply", spec, "-o", out, "--at", at.isoformat())
        elif step[0] == "spec":
            spec.write_text(SPECS[int(step[1])])  # type: ignore[call-overload]
        elif step[0] == "clock":
            at = start + timedelta(days=int(step[1]))  # type: ignore[call-overload]
        elif step[0] == "damage":
            _damage(out / str(step[1]), str(step[2]))
        else:
            (out / str(step[1])).parent.mkdir(exist_ok=True)
            (out / str(step[1])).write_text("x\n")
        if answers(spec, out, at):
            marked = invoke("plan", spec, "-o", out, "--at", at.isoformat())
            full = invoke("plan", full_twin(spec), "-o", out, "--at", at.isoformat())
            assert (full.code, full.out, full.err) == (0, marked.out, marked.err), step
