"""Real git for the tests that keep an output directory in a repository: a bare repository
as the shared remote, clones of it as the machines that run pkiform, each with the
configuration a test gives it (core.autocrlf, a umask) and none of the user's."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.helpers.tools import missing_tool


def git_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (this process's environment by default) but for git's own variables, and
    with those that make git read no configuration but the repository's (and the `-c`
    options given), and commit as a test author."""
    given = os.environ if base is None else base
    env = {k: v for k, v in given.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="pkiform test",
        GIT_AUTHOR_EMAIL="test@pkiform.invalid",
        GIT_COMMITTER_NAME="pkiform test",
        GIT_COMMITTER_EMAIL="test@pkiform.invalid",
        GIT_TERMINAL_PROMPT="0",
    )
    return env


def require_git() -> str:
    found = shutil.which("git")
    if found is None:
        missing_tool("git", "apt-get install git")
    return str(found)


def git(
    *args: str | Path,
    cwd: Path,
    home: Path,
    umask: int | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in `cwd`; with `umask`, the files it checks out get that umask's modes."""
    exe = require_git()

    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    result = subprocess.run(
        [exe, *map(str, args)],
        cwd=cwd,
        env=git_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=set_umask,
    )
    if check:
        assert result.returncode == 0, f"git {' '.join(map(str, args))}: {result.stderr}"
    return result


def bare_repository(path: Path, home: Path) -> Path:
    """An empty bare repository whose default branch is main: the shared remote."""
    git("init", "-q", "--bare", "--initial-branch=main", path, cwd=path.parent, home=home)
    return path


def clone(
    remote: Path, path: Path, home: Path, *, umask: int = 0o022, autocrlf: bool = False
) -> Path:
    """A fresh clone of `remote` at `path`, as a CI runner makes one (with `autocrlf`, as
    a Windows machine configured to convert line endings does)."""
    config = ["-c", "core.autocrlf=true"] if autocrlf else []
    git("clone", "-q", *config, remote, path, cwd=path.parent, home=home, umask=umask)
    if autocrlf:  # for every later checkout in it too
        git("config", "core.autocrlf", "true", cwd=path, home=home)
    return path


def commit_all(repo: Path, home: Path, message: str) -> None:
    git("add", "-A", cwd=repo, home=home)
    git("commit", "-q", "-m", message, cwd=repo, home=home)
