"""Private keys near git: `apply` warns, once, before it writes keys where a `git add`
would pick them up, and says how to ignore them.

Only git itself is asked, and only where there is a repository: the folders above the
output directory are searched for `.git` first (no process at all outside a work tree),
unless GIT_DIR or GIT_WORK_TREE say where the repository is. `git check-ignore` then
tells which of the key files are not ignored (a tracked file never is), and `git
ls-files` which of those are tracked already. No git, or git failing: no warning.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pkiform.plan.types import Plan
    from pkiform.spec.model import ResolvedSpec

# the outputs that hold an identity's private key (store.PRIVATE_FILES), by their switch
_KEY_OUTPUTS = (("der", "key.der"), ("pkcs12", "bundle.p12"), ("kubernetes", "secret.yaml"))
_TIMEOUT = 10.0


def key_files(plan: Plan, spec: ResolvedSpec) -> list[str]:
    """The files below the output directory holding a private key that applying `plan`
    writes (or may rewrite: the store compares bytes): key.pem when the key is new or may
    be encrypted in place, and the outputs that carry the key, which follow any change of
    their identity."""
    found = []
    for action in plan.changes:
        ident = spec.identities[action.name]
        if action.new_key or ident.key_password is not None:
            found.append(f"{action.name}/key.pem")
        found += [
            f"{action.name}/{file}"
            for switch, file in _KEY_OUTPUTS
            if getattr(ident.outputs, switch)
        ]
    return found


def warning(out: Path, keys: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """The warning for writing `keys` (paths below `out`) into a git work tree that does
    not ignore them; empty when git ignores them all, when `out` is in no work tree, or
    when git is missing or fails."""
    env = dict(os.environ if environ is None else environ)
    git = shutil.which("git", path=env.get("PATH"))
    if not keys or git is None:
        return ""
    if "GIT_DIR" in env or "GIT_WORK_TREE" in env:
        where = Path.cwd()  # as git takes them: relative to the working directory
    else:
        where = _nearest_existing(out.absolute())
        if not any((folder / ".git").exists() for folder in (where, *where.parents)):
            return ""
    shown = [out / key for key in keys]
    paths = [str(path.absolute()) for path in shown]
    ignored = _git(git, where, env, "check-ignore", "--stdin", "-z", given=paths, ok=(0, 1))
    top = _git(git, where, env, "rev-parse", "--show-toplevel")
    if ignored is None or top is None:
        return ""
    exposed = [p for p, path in zip(shown, paths, strict=True) if path not in ignored]
    if not exposed:
        return ""
    absolute = [str(path.absolute()) for path in exposed]
    tracked = _git(git, where, env, "ls-files", "-z", "--", *absolute) or []
    return _text(out, exposed, bool(tracked), Path(top[0].rstrip("\n")))


def _text(out: Path, exposed: Sequence[Path], tracked: bool, top: Path) -> str:
    more = f" and {len(exposed) - 1} more" if len(exposed) > 1 else ""
    within = os.path.relpath(out.absolute(), top)
    if within == "." or within.startswith(".."):
        fix = "write them elsewhere: -o a folder of their own that .gitignore lists"
    else:
        pattern = "/" + within.replace(os.sep, "/") + "/"
        ignore = f"echo {_quoted(pattern)} >> {shlex.quote(_relative(top / '.gitignore'))}"
        forget = f"git rm -r --cached {shlex.quote(str(out))} && " if tracked else ""
        fix = f"keep them out of git: {forget}{ignore}"
    what = "git tracks" if tracked else "git would commit"
    return (
        f"pkiform: warning: this apply writes private keys that {what}: {exposed[0]}{more} "
        f"(the work tree {top} does not ignore them); {fix}\n"
    )


def _quoted(word: str) -> str:
    return f"'{word}'" if "'" not in word else shlex.quote(word)


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _git(
    git: str,
    where: Path,
    env: Mapping[str, str],
    *args: str,
    given: Sequence[str] = (),
    ok: tuple[int, ...] = (0,),
) -> list[str] | None:
    """git's output split at NULs (or lines), or None if it failed."""
    # a repository's configuration can name programs: none of them is needed here
    command = [git, "-c", "core.fsmonitor=false", *args]
    try:
        result = subprocess.run(
            command,
            cwd=where,
            env=dict(env),
            input="\0".join(given) + "\0" if given else None,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode not in ok:
        return None
    separator = "\0" if "\0" in result.stdout or "-z" in args else "\n"
    return [item for item in result.stdout.split(separator) if item]
