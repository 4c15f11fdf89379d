"""The pre-commit hook (.pre-commit-hooks.yaml), run by the real pre-commit: it installs
this source tree (committed to a scratch clone) into its own virtualenv from PyPI, as it
does for any user's `repo:`, and runs it on the files of a scratch git repository, with
the README's own .pre-commit-config.yaml. Slow the first time (pre-commit builds its
environment once per session, in a temporary PRE_COMMIT_HOME)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helpers.repo import ROOT
from tests.helpers.tools import missing_tool

README = (ROOT / "README.md").read_text()
GIT_ENV = {
    "GIT_AUTHOR_NAME": "pkiform tests",
    "GIT_AUTHOR_EMAIL": "tests@pkiform.invalid",
    "GIT_COMMITTER_NAME": "pkiform tests",
    "GIT_COMMITTER_EMAIL": "tests@pkiform.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
VALID = """\
version: 1
identities:
  root: {kind: root}
  web: {kind: server, issuer: root, dns: [web.example]}
"""
BROKEN = """\
version: 1
identities:
  root: {kind: root}
  web: {kind: server, issuer: roto, dns: [web.example]}
"""
BROKEN_ERROR = (
    "pki.yaml:4:31: error: identities.web.issuer: unknown identity 'roto' (did you mean 'root'?)"
)


def readme_config() -> str:
    """The .pre-commit-config.yaml the README shows."""
    tag = "<!-- tested by tests/test_precommit.py: pre-commit-config -->"
    found = re.search(re.escape(tag) + r"\n```yaml\n(.*?)```", README, re.S)
    assert found, "README.md lost the pre-commit configuration"
    return found.group(1)


def git(*args: str | Path, cwd: Path) -> str:
    env = {**os.environ, **GIT_ENV}
    env.pop("GIT_DIR", None)
    result = subprocess.run(
        ["git", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass(frozen=True)
class PreCommit:
    hook_repo: Path  # a clone of this source tree, as a user's `repo:` is
    rev: str
    home: Path  # PRE_COMMIT_HOME: the hook's environment, built once

    def config(self, files: str | None = None) -> str:
        """The README's configuration, pointing at the scratch clone; `files` replaces
        its pattern (with "", the hook's own default stays)."""
        text = re.sub(r"(?m)^(\s*- repo:).*$", rf"\1 {self.hook_repo}", readme_config())
        text = re.sub(r"(?m)^(\s*rev:).*$", rf"\1 {self.rev}", text)
        if files == "":
            text = re.sub(r"(?m)^\s*files:.*\n", "", text)
        elif files is not None:
            text = re.sub(r"(?m)^(\s*files:).*$", lambda m: f"{m[1]} {files}", text)
        return text

    def run(self, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GIT_DIR")}
        env.update(GIT_ENV, PRE_COMMIT_HOME=str(self.home), PRE_COMMIT_COLOR="never")
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", *args], cwd=project, env=env,
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip


def _snapshot_of_this_tree(into: Path) -> str:
    """This source tree as it is (uncommitted changes too), committed into a new repo."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    git("init", "-q", cwd=into)
    git("add", "-A", cwd=into)
    git("commit", "-q", "-m", "snapshot", cwd=into)
    return git("rev-parse", "HEAD", cwd=into).strip()


@pytest.fixture(scope="session")
def pre_commit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreCommit]:
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        missing_tool("pre-commit", "pip install -e '.[test]'")
    if shutil.which("git") is None:
        missing_tool("git", "apt-get install git")
    hook_repo = tmp_path_factory.mktemp("hook-repo")
    tool = PreCommit(hook_repo, _snapshot_of_this_tree(hook_repo), tmp_path_factory.mktemp("home"))
    project = tmp_path_factory.mktemp("install")
    git("init", "-q", cwd=project)
    (project / ".pre-commit-config.yaml").write_text(tool.config())
    installed = tool.run(project, "install-hooks")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield tool


def project(tmp_path: Path, tool: PreCommit, contents: dict[str, str], **config: str) -> Path:
    """A git repository holding `contents` (added: pre-commit looks at what git has)."""
    root = tmp_path / "project"
    root.mkdir()
    git("init", "-q", cwd=root)
    (root / ".pre-commit-config.yaml").write_text(tool.config(**config))
    for name, text in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git("add", "-A", cwd=root)
    return root


def test_the_hook_manifest_is_valid_for_pre_commit() -> None:
    try:
        from pre_commit.clientlib import load_manifest
    except ImportError:
        missing_tool("pre-commit", "pip install -e '.[test]'")
    (hook,) = load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert (hook["id"], hook["entry"], hook["language"]) == (
        "pkiform-validate",
        "pkiform validate",
        "python",
    )
    files = re.compile(hook["files"])
    for name in ("pki.yaml", "infra/pki.yml"):
        assert files.search(name), name
    for name in ("mypki.yaml", "pki.yaml.bak", ".github/workflows/ci.yml", "pki.json"):
        assert not files.search(name), name


def test_the_readme_configuration_is_what_pre_commit_reads() -> None:
    config = yaml.safe_load(readme_config())
    (repo,) = config["repos"]
    assert [h["id"] for h in repo["hooks"]] == ["pkiform-validate"]
    assert set(repo) == {"repo", "rev", "hooks"}


def test_a_valid_spec_passes_and_a_broken_one_fails_with_the_located_error(
    pre_commit: PreCommit, tmp_path: Path
) -> None:
    files = {"pki.yaml": VALID, "notes.yaml": "a: [1, 2\n"}  # no spec: not checked
    root = project(tmp_path, pre_commit, files, files="")
    passed = pre_commit.run(root, "run", "--all-files")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"^pkiform validate\.+Passed$", passed.stdout, re.M), passed.stdout
    (root / "pki.yaml").write_text(BROKEN)
    git("add", "-A", cwd=root)
    failed = pre_commit.run(root, "run", "--all-files")
    assert failed.returncode == 1
    assert re.search(r"^pkiform validate\.+Failed$", failed.stdout, re.M), failed.stdout
    assert f"\n{BROKEN_ERROR}\n" in failed.stdout
    assert "- exit code: 1" in failed.stdout
    assert f"(`{BROKEN_ERROR}`)" in README.replace("\n", " ")  # what the README quotes


def test_every_spec_matching_files_is_checked_and_nothing_else(
    pre_commit: PreCommit, tmp_path: Path
) -> None:
    files = {
        "infra/pki/a.yaml": BROKEN,
        "infra/pki/b.yaml": BROKEN.replace("roto", "nope"),
        "infra/pki/c.yaml": VALID,
        "infra/other.yaml": BROKEN,
        "pki.yaml": BROKEN,  # the default pattern's; the README's sets another
        ".gitlab-ci.yml": "stages: [test]\n",
    }
    root = project(tmp_path, pre_commit, files)  # the README's pattern
    failed = pre_commit.run(root, "run", "--all-files")
    assert failed.returncode == 1
    errors = [line for line in failed.stdout.splitlines() if ": error: " in line]
    assert errors == [
        BROKEN_ERROR.replace("pki.yaml", "infra/pki/a.yaml"),
        "infra/pki/b.yaml:4:31: error: identities.web.issuer: unknown identity 'nope'",
    ]
    assert "infra/pki/c.yaml: valid (2 identities)" in failed.stdout


def test_the_hook_runs_in_a_commit(pre_commit: PreCommit, tmp_path: Path) -> None:
    root = project(tmp_path, pre_commit, {"pki.yaml": BROKEN}, files="")
    installed = pre_commit.run(root, "install")
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GIT_DIR")}
    env.update(GIT_ENV, PRE_COMMIT_HOME=str(pre_commit.home), PRE_COMMIT_COLOR="never")
    refused = subprocess.run(
        ["git", "commit", "-m", "a broken spec"], cwd=root, env=env, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert BROKEN_ERROR in refused.stdout + refused.stderr
    assert git("rev-list", "--all", cwd=root) == ""  # nothing was committed
    (root / "pki.yaml").write_text(VALID)
    git("add", "-A", cwd=root)
    committed = subprocess.run(
        ["git", "commit", "-m", "a valid spec"], cwd=root, env=env, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert committed.returncode == 0, committed.stdout + committed.stderr
    assert git("log", "--format=%s", cwd=root) == "a valid spec\n"


def test_the_package_pre_commit_installed_carries_the_starter_files(
    pre_commit: PreCommit, tmp_path: Path
) -> None:
    # pre-commit built and installed a wheel of this tree (pip install .): the templates
    # `pkiform init` writes must be package data in it, not only files of the checkout
    (installed,) = pre_commit.home.glob("repo*/py_env-*/bin/pkiform")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [installed, "init", "starter"], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("pki.yaml", "gitignore"):
        shipped = (ROOT / "src" / "pkiform" / "templates" / name).read_bytes()
        written = tmp_path / "starter" / ("." + name if name == "gitignore" else name)
        assert written.read_bytes() == shipped
