"""An output directory as a git checkout leaves it (issue 18): git keeps neither modes nor
mtimes and may convert line endings, and none of it is a change to the state. A fresh
clone plans "no changes"; the keys it left 0644 are tightened in place; the settled mark
holds on a clone with the same bytes; PEM files a checkout gave CRLF are rewritten with
LF in place, never reissued; DIR/.gitattributes stops any conversion. Real git, real
clones."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pkiform.api import load
from pkiform.cache import seals, settled
from pkiform.disk.store import Store
from pkiform.formats import git_files
from pkiform.spec.model import IdentityName
from tests.helpers.files import digests, mode
from tests.helpers.git import bare_repository, clone, commit_all, git
from tests.helpers.run import RunCli

SPEC = """\
version: 1
identities:
  root: {kind: root}
  issuing: {kind: intermediate, issuer: root, path_length: 0}
  web: {kind: server, issuer: issuing, dns: [web.example], outputs: {der: true}}
"""


def mtimes(tree: Path) -> dict[str, int]:
    return {str(p.relative_to(tree)): p.stat().st_mtime_ns for p in tree.rglob("*")}


def state(out: Path) -> dict[str, str]:
    """What git keeps of the output directory: every file's digest but the lock's (which
    apply makes, and DIR/.gitignore leaves out)."""
    return {path: digest for path, digest in digests(out).items() if path != ".lock"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def published(
    run_cli: RunCli, home: Path, tmp_path: Path
) -> Callable[..., tuple[Path, dict[str, str]]]:
    """published(*applies) -> (the bare repository, the digests of pki/ as pushed): the
    spec applied in a first clone (then each extra apply's arguments), committed, pushed."""

    def publish(*applies: tuple[str, ...]) -> tuple[Path, dict[str, str]]:
        remote = bare_repository(tmp_path / "remote.git", home)
        first = clone(remote, tmp_path / "first", home)
        (first / "pki.yaml").write_text(SPEC)
        for extra in ((), *applies):
            result = run_cli("apply", first / "pki.yaml", "-o", first / "pki", *extra)
            assert result.code == 0, result.err
        commit_all(first, home, "the PKI")
        git("push", "-q", "origin", "HEAD:main", cwd=first, home=home)
        return remote, state(first / "pki")

    return publish


def test_a_fresh_clone_plans_no_changes_and_apply_only_tightens_the_key_files(
    published: Callable[..., tuple[Path, dict[str, str]]],
    run_cli: RunCli,
    home: Path,
    tmp_path: Path,
) -> None:
    remote, pushed = published(("--rekey", "web"))  # an archived key too
    repo = clone(remote, tmp_path / "runner", home)
    spec, out = repo / "pki.yaml", repo / "pki"
    [stamp] = (p.name for p in (out / "web" / "archive").iterdir())
    assert mode(out / "web" / "key.pem") == 0o644 and mode(out / "web") == 0o755
    # every seal holds: they stand for bytes, never for modes, mtimes or inodes
    loaded, store = load(spec), Store(out)
    files = {IdentityName(n): store.read_identity(n)[0] for n in loaded.names}
    reader = seals.Reader(loaded.valid.spec, loaded.valid.graph)
    assert reader.vouch(store.read_manifest(), files) == set(files)
    plan = run_cli("plan", spec, "-o", out)
    assert (plan.code, plan.err) == (0, "")
    assert plan.out == (
        "  ~ key files: tighten modes in place (git keeps no modes)\n"
        "      issuing/key.pem: 0644 -> 0600\n"
        "      root/key.pem: 0644 -> 0600\n"
        f"      web/archive/{stamp}/key.der: 0644 -> 0600\n"
        f"      web/archive/{stamp}/key.pem: 0644 -> 0600\n"
        "      web/key.der: 0644 -> 0600\n"
        "      web/key.pem: 0644 -> 0600\n"
        "No changes: 3 identities up to date; 6 key files to tighten.\n"
    )
    before = mtimes(out)
    applied = run_cli("apply", spec, "-o", out)
    assert applied.code == 0, applied.err
    assert applied.out.endswith(
        f"Apply complete in {out}: 0 changed, 3 unchanged, 6 key files tightened.\n"
    )
    # the same bytes, nothing archived, nothing rewritten: only modes changed
    assert state(out) == pushed
    assert mtimes(out) == {**before, ".lock": mtimes(out)[".lock"]}
    for path in ("root/key.pem", "web/key.der", f"web/archive/{stamp}/key.pem"):
        assert mode(out / path) == 0o600, path
    assert mode(out / "web" / "cert.pem") == 0o644  # public: left as the checkout made it
    assert mode(out / "web") == 0o755  # folders too
    assert git("status", "--porcelain", cwd=repo, home=home).stdout == ""
    again = run_cli("plan", spec, "-o", out)
    assert (again.code, again.out) == (0, "No changes: 3 identities up to date.\n")
    assert settled.check(spec.read_bytes(), out, datetime.now(UTC)) is not None


@pytest.mark.parametrize("autocrlf", [False, True], ids=["lf", "autocrlf"])
def test_a_clone_with_the_same_bytes_holds_the_settled_mark_whatever_its_mtimes(
    published: Callable[..., tuple[Path, dict[str, str]]],
    run_cli: RunCli,
    home: Path,
    tmp_path: Path,
    autocrlf: bool,
) -> None:
    remote, pushed = published()
    now = datetime.now(UTC)
    # umask 077: the keys come out 0600, as apply left them; every mtime and inode is new
    repo = clone(remote, tmp_path / "runner", home, umask=0o077, autocrlf=autocrlf)
    spec, out = repo / "pki.yaml", repo / "pki"
    assert (b"\r\n" in spec.read_bytes()) is autocrlf  # the checkout converted the spec
    assert state(out) == pushed  # but not one byte below pki/: its .gitattributes
    assert settled.check(spec.read_bytes(), out, now) is not None
    plan = run_cli("plan", spec, "-o", out)
    assert (plan.code, plan.out) == (0, "No changes: 3 identities up to date.\n")
    # the negative twin: a key others may read is a mode that matters
    (out / "web" / "key.pem").chmod(0o640)
    assert settled.check(spec.read_bytes(), out, now) is None


def test_two_machines_applying_the_same_state_change_nothing_whatever_their_paths_or_clocks(
    published: Callable[..., tuple[Path, dict[str, str]]],
    run_cli: RunCli,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """manifest.json holds no host, path or time of the run: two runners, at other paths,
    a day apart, the spec and directory named absolutely or relatively, leave the
    committed directory as it is."""
    remote, pushed = published()
    one = clone(remote, tmp_path / "one", home)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    two = clone(remote, tmp_path / "deep" / "er" / "two", home, umask=0o077)
    assert run_cli("apply", one / "pki.yaml", "-o", one / "pki").code == 0
    monkeypatch.chdir(two)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run_cli("apply", "pki.yaml", "-o", "pki", "--at", tomorrow).code == 0
    for repo in (one, two):
        assert git("status", "--porcelain", cwd=repo, home=home).stdout == ""
        assert state(repo / "pki") == pushed


def test_without_pkiforms_gitattributes_autocrlf_would_convert_every_pem_file(
    published: Callable[..., tuple[Path, dict[str, str]]],
    home: Path,
    tmp_path: Path,
) -> None:
    """What DIR/.gitattributes is for: the same clone, without it, converts."""
    remote, _ = published()
    editor = clone(remote, tmp_path / "editor", home)
    git("rm", "-q", "pki/.gitattributes", cwd=editor, home=home)
    git("commit", "-q", "-m", "no attributes", cwd=editor, home=home)
    git("push", "-q", "origin", "HEAD:main", cwd=editor, home=home)
    repo = clone(remote, tmp_path / "runner", home, autocrlf=True)
    assert b"\r\n" in (repo / "pki" / "web" / "cert.pem").read_bytes()


def test_pem_files_a_checkout_gave_crlf_are_rewritten_with_lf_in_place(
    applied: Callable[[str], tuple[Path, Path]], run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    original = digests(out)
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".pem", ".yaml"):
            path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    plan = run_cli("plan", spec, "-o", out)
    crlf = git_files.CRLF_REASON
    assert (plan.code, plan.err) == (2, "")
    assert plan.out == (
        "  ~ root (root): repair files\n"
        f"      cert.pem {crlf}\n"
        f"      fullchain.pem {crlf}\n"
        f"      ca.pem {crlf}\n"
        f"      key.pem {crlf}\n"
        f"      crl.pem {crlf}\n"
        "  ~ issuing (intermediate): repair files\n"
        f"      cert.pem {crlf}\n"
        f"      fullchain.pem {crlf}\n"
        f"      ca.pem {crlf}\n"
        f"      key.pem {crlf}\n"
        f"      crl.pem {crlf}\n"
        "  ~ web (server): repair files\n"
        f"      cert.pem {crlf}\n"
        f"      chain.pem {crlf}\n"
        f"      fullchain.pem {crlf}\n"
        f"      ca.pem {crlf}\n"
        f"      key.pem {crlf}\n"
        f"  ~ trust-bundle.pem: write\n"
        f"      trust-bundle.pem {crlf}\n"
        "Plan: 3 to repair files, trust-bundle.pem to write; 0 unchanged.\n"
    )
    assert run_cli("apply", spec, "-o", out).code == 0
    assert digests(out) == original  # every byte as it was: no reissue, no new signature
    assert not list(out.rglob("archive"))  # and nothing archived
    assert run_cli("plan", spec, "-o", out).code == 0


def test_apply_writes_gitattributes_and_gitignore_and_puts_them_back(
    applied: Callable[[str], tuple[Path, Path]],
    run_cli: RunCli,
    home: Path,
    tmp_path: Path,
) -> None:
    spec, out = applied(SPEC)
    assert (out / ".gitattributes").read_bytes() == (
        b"# written by pkiform: every file here is kept byte for byte, by any checkout\n"
        b"* -text -merge\n"
        b"*.der binary\n"
        b"*.p12 binary\n"
    )
    assert (out / ".gitignore").read_bytes() == (
        b"# written by pkiform: its lock, and the files of a replacement in progress\n"
        b"/.lock\n"
        b".pending.*\n"
        b"/.new.*\n"
        b"/.*.tmp\n"
    )
    # git leaves out what is never state, and nothing else
    git("init", "-q", cwd=tmp_path, home=home)
    (out / "web" / ".pending.cert.pem").write_bytes(b"staged")
    ignored = git(
        "check-ignore", "--no-index", "pki/.lock", "pki/web/.pending.cert.pem", "pki/.new.api",
        "pki/.manifest.json.123.tmp", "pki/web/cert.pem", "pki/manifest.json",
        cwd=tmp_path, home=home, check=False,
    ).stdout.split()  # fmt: skip
    assert ignored == [
        "pki/.lock",
        "pki/web/.pending.cert.pem",
        "pki/.new.api",
        "pki/.manifest.json.123.tmp",
    ]
    (out / "web" / ".pending.cert.pem").unlink()
    # they are no strangers: nothing to do, nothing said
    assert run_cli("plan", spec, "-o", out).out == "No changes: 3 identities up to date.\n"
    assert run_cli("status", spec, "-o", out).code == 0
    # pkiform's own: put back as it writes them
    (out / ".gitattributes").unlink()
    (out / ".gitignore").write_bytes(b"*\n")
    plan = run_cli("plan", spec, "-o", out)
    assert (plan.code, plan.out) == (
        2,
        "  + .gitattributes: write\n"
        "      .gitattributes is missing\n"
        "  ~ .gitignore: write\n"
        "      .gitignore is not the one pkiform writes\n"
        "Plan: .gitattributes and .gitignore to write; 3 unchanged.\n",
    )
    assert run_cli("apply", spec, "-o", out).code == 0
    assert (out / ".gitignore").read_bytes() == git_files.IGNORE
    assert (out / ".gitattributes").read_bytes() == git_files.ATTRIBUTES
    assert run_cli("plan", spec, "-o", out).code == 0


def test_the_plan_in_json_lists_the_modes_to_tighten_apart_from_the_changes(
    applied: Callable[[str], tuple[Path, Path]], run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    (out / "root" / "key.pem").chmod(0o644)
    result = run_cli("plan", spec, "-o", out, "--json")
    document = json.loads(result.out)
    assert result.code == 0 and document["changes"] is False
    assert document["tighten"] == [{"file": "root/key.pem", "mode": "0644", "to": "0600"}]
    applied_json = json.loads(run_cli("apply", spec, "-o", out, "--json").out)
    assert applied_json["tightened"] == document["tighten"]
    assert applied_json["changed"] == []
    assert mode(out / "root" / "key.pem") == 0o600
