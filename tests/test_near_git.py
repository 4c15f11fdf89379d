"""Keys near git: an apply that writes private keys into a git work tree that does not
ignore them warns once, on stderr, saying what, where and the fix; the fix works. Real
git repositories, a real git (wrapped to count its runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.run import RunCli
from tests.helpers.tools import missing_tool

SPEC = """\
version: 1
identities:
  root: {kind: root}
  web: {kind: server, issuer: root, dns: [web.example]}
"""


@pytest.fixture
def git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `git` first on PATH that logs each run to the returned file, then runs git."""
    real = shutil.which("git")
    if real is None:
        missing_tool("git", "apt-get install git")
    bin_dir = tmp_path_factory.mktemp("bin")
    log = bin_dir / "runs.log"
    log.touch()
    (bin_dir / "git").write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name in [n for n in os.environ if n.startswith("GIT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t.invalid")
    return log


def sh(command: str, cwd: Path) -> str:
    result = subprocess.run(
        ["bash", "-e", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def warning(keys: str, top: Path, fix: str, what: str = "git would commit") -> str:
    return (
        f"pkiform: warning: this apply writes private keys that {what}: {keys} (the work "
        f"tree {top} does not ignore them); {fix}\n"
    )


def test_an_apply_into_a_work_tree_that_does_not_ignore_keys_warns_once(
    git: Path, run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    sh("git init -q", tmp_path)
    spec = write_spec(SPEC)
    result = run_cli("apply", spec)
    assert result.code == 0
    assert result.err == warning(
        "pki/root/key.pem and 1 more", tmp_path, "keep them out of git: echo '/pki/' >> .gitignore"
    )
    assert (tmp_path / "pki" / "web" / "key.pem").is_file()  # a warning, not a refusal
    # git sees them as the warning says, before anyone follows its advice
    assert "?? pki/web/key.pem" in sh("git status --porcelain -uall", tmp_path).splitlines()
    # nothing more to write, nothing more said
    assert run_cli("apply", spec).err == ""
    # the fix, run as printed, ignores them: a new key is written without a word
    sh("echo '/pki/' >> .gitignore", tmp_path)
    assert run_cli("apply", spec, "--rekey", "web").err == ""
    assert sh("git check-ignore pki/web/key.pem", tmp_path) == "pki/web/key.pem\n"


def test_nothing_is_said_where_git_ignores_the_keys_or_there_is_no_work_tree(
    git: Path, run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    spec = write_spec(SPEC)
    assert run_cli("apply", spec, "-o", outside / "pki").err == ""
    assert git.read_text() == ""  # no repository above: git is not even asked
    repo = tmp_path / "repo"
    sh("git init -q repo && echo '*.pem' > repo/.gitignore", tmp_path)
    assert run_cli("apply", spec, "-o", repo / "pki").err == ""
    assert git.read_text().count("check-ignore") == 1


def test_a_reissue_warns_only_for_the_outputs_that_carry_the_key(
    git: Path, run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    sh("git init -q && echo '/pki/**/key.pem' > .gitignore", tmp_path)
    spec = write_spec(SPEC)
    assert run_cli("apply", spec).err == ""
    spec.write_text(SPEC.replace("[web.example]", "[web.example, www.example]"))
    assert run_cli("apply", spec).err == ""  # cert.pem and chains only
    spec.write_text(SPEC.replace("[web.example]", "[web.example], outputs: {der: true}"))
    result = run_cli("apply", spec)
    fix = "keep them out of git: echo '/pki/' >> .gitignore"
    assert result.err == warning("pki/web/key.der", tmp_path, fix)


def tracked_warning(keys: str, out: str, fix: str, says: str = "this apply writes") -> str:
    return (
        f"pkiform: warning: {says} private keys in plain into {out}, which git tracks: {keys} "
        "(whoever can read the repository could use them); encrypt them (key.encrypt), keep "
        "CA keys in a token (key.pkcs11) or sign CSRs for leaves whose keys stay on their "
        f"hosts, and check with pkiform status --public; or {fix}\n"
    )


def test_a_tracked_key_is_named_and_the_fix_untracks_it(
    git: Path, run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    (tmp_path / "repo").mkdir()
    repo = tmp_path / "repo"
    sh("git init -q", repo)
    spec = write_spec(SPEC)
    assert run_cli("apply", spec, "-o", repo / "infra" / "pki").code == 0
    sh("git add -A && git commit -qm 'keys, by mistake'", repo)
    os.chdir(repo / "infra")  # the fix names .gitignore from here
    fix = "keep them out of git: git rm -r --cached pki && echo '/infra/pki/' >> ../.gitignore"
    # the directory is kept in git: plan says it before apply does
    plan = run_cli("plan", spec, "-o", "pki", "--rekey", "web")
    assert plan.code == 2
    assert plan.err == tracked_warning("pki/web/key.pem", "pki", fix, "applying this plan writes")
    result = run_cli("apply", spec, "-o", "pki", "--rekey", "web")
    assert result.err == tracked_warning("pki/web/key.pem", "pki", fix)
    sh(fix.split(": ", 1)[1], repo / "infra")
    assert run_cli("apply", spec, "-o", "pki", "--rekey", "web").err == ""


def test_a_tracked_directory_may_hold_encrypted_keys_never_keys_in_plain(
    git: Path,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The state kept in git (README, "Running pkiform from CI, with the state in git"):
    encrypted keys and password-protected bundles are said nothing about, before the
    directory is committed or after; a key in plain, and the outputs that hold one in
    plain, are named with the fixes."""
    monkeypatch.setenv("KEY_PASSWORD", "a-long-random-password-91ce")
    encrypted = SPEC.replace(
        "identities:\n",
        "defaults: {key: {type: ec, encrypt: {password_env: KEY_PASSWORD}}}\nidentities:\n",
    )
    sh("git init -q", tmp_path)
    spec = write_spec(encrypted)
    assert run_cli("apply", spec).err == ""  # encrypted: they may be committed
    sh("git add -A && git commit -qm 'the state, its keys encrypted'", tmp_path)
    assert run_cli("apply", spec, "--rekey", "web").err == ""
    bundle = "[web.example], outputs: {pkcs12: {password_env: KEY_PASSWORD}, der: true}"
    spec.write_text(encrypted.replace("[web.example]", bundle))
    assert run_cli("plan", spec).err == ""  # bundle.p12 and key.der: encrypted too
    assert run_cli("apply", spec).err == ""
    # back to keys in plain, and a Secret, which can hold no other
    spec.write_text(SPEC.replace("[web.example]", "[web.example], outputs: {kubernetes: {}}"))
    fix = "keep them out of git: git rm -r --cached pki && echo '/pki/' >> .gitignore"
    result = run_cli("apply", spec, "--rekey", "root", "--rekey", "web")
    assert result.err == tracked_warning("pki/root/key.pem and 2 more", "pki", fix)


def test_git_dir_names_the_repository(
    git: Path, run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    sh(f"git init -q --separate-git-dir {tmp_path / 'store.git'} work && rm work/.git", tmp_path)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "store.git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(work))
    os.chdir(work)
    result = run_cli("apply", write_spec(SPEC))
    fix = "keep them out of git: echo '/pki/' >> .gitignore"
    assert result.err == warning("pki/root/key.pem and 1 more", work, fix)


def test_without_git_nothing_is_said(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    (tmp_path / ".git").mkdir()  # looks like a work tree; there is no git to ask
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    result = run_cli("apply", write_spec(SPEC))
    assert (result.code, result.err) == (0, "")
