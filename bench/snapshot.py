"""A private copy of the pkiform to measure, so that every round runs the same code."""

from __future__ import annotations

import compileall
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from measure import BenchError

REPO = Path(__file__).resolve().parent.parent
# the package, and the schema file it reads from the source tree (schema.py)
PARTS = ("src", "schemas")


def take(dest: Path, ref: str | None) -> str:
    """Copy src/ and schemas/ into `dest`, from the working tree or from commit `ref`,
    and compile it to byte-code as pip does on install; return what was copied, e.g.
    'working tree at 90acd7c + uncommitted changes'."""
    source = _copy(dest, ref)
    # with PYTHONDONTWRITEBYTECODE set (as on the project's VM) every run would
    # otherwise compile pkiform's ~40 modules again (~70 ms), which no install does
    if not compileall.compile_dir(dest / "src", quiet=1):
        raise BenchError(f"{dest / 'src'}: does not compile")
    return source


def _copy(dest: Path, ref: str | None) -> str:
    if ref is None:
        for part in PARTS:
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(REPO / part, dest / part, ignore=ignore)
        changed = " + uncommitted changes" if _git("status", "--porcelain", "-uno") else ""
        return f"working tree at {_git('rev-parse', '--short', 'HEAD')}{changed}"
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, *PARTS], cwd=REPO, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise BenchError(f"git archive {ref}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return f"commit {_git('rev-parse', '--short', ref)} ({ref})"


def _git(*args: str) -> str:
    # GIT_OPTIONAL_LOCKS=0: `git status` must not even refresh the index
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    argv = ["git", *args]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()
