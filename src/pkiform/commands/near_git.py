"""Private keys near git: `plan` and `apply` warn, once, before keys in plain are written
where a `git add` would pick them up, and say what to do. An encrypted key (key.encrypt,
a PKCS#12 bundle) may be committed: its password is what protects it.

Two cases. An output directory that git tracks (some file of it is committed: the state
is kept in git, README "Running pkiform from CI, with the state in git"): the keys in
plain are named with the fixes that keep the directory public (encrypt, a token, CSRs).
Any other directory in a work tree: every key in plain that git would pick up is named,
with the .gitignore line that keeps the directory out.

Only git itself is asked, and only where there is a repository: the folders above the
output directory are searched for `.git` first (no process at all outside a work tree),
unless GIT_DIR or GIT_WORK_TREE say where the repository is. `git ls-files` tells
whether the directory is tracked, `git check-ignore` which of the key files are not
ignored (a tracked file never is). No git, or git failing: no warning.
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

# the outputs that may hold an identity's private key in plain (a bundle.p12 has a
# password of its own), by their switch
_KEY_OUTPUTS = (("der", "key.der"), ("kubernetes", "secret.yaml"), ("combined", "combined.pem"))
# those that hold it in plain unless key.encrypt encrypts it
_UNLESS_ENCRYPTED = frozenset(("key.pem", "key.der"))
_TIMEOUT = 10.0


def plain_key_files(plan: Plan, spec: ResolvedSpec) -> list[str]:
    """The files below the output directory holding a private key in plain that applying
    `plan` writes (or may rewrite: the store compares bytes): key.pem when the key is new
    (none for a key that lives elsewhere), and the outputs that carry the key, which
    follow any change of their identity; key.pem and key.der only without key.encrypt."""
    found = []
    for action in plan.changes:
        ident = spec.identities[action.name]
        files = [file for switch, file in _KEY_OUTPUTS if getattr(ident.outputs, switch)]
        if ident.key_source is None and action.new_key:
            files.insert(0, "key.pem")
        if ident.key_password is not None:
            files = [f for f in files if f not in _UNLESS_ENCRYPTED]
        found += [f"{action.name}/{file}" for file in files]
    return found


def keys_warning(out: Path, plan: Plan, spec: ResolvedSpec, *, planning: bool = False) -> str:
    """What `plan` and `apply` say before `plan` writes keys in plain near git (warning())."""
    return warning(out, plain_key_files(plan, spec), planning=planning)


def warning(
    out: Path,
    keys: Sequence[str],
    *,
    planning: bool = False,
) -> str:
    """The warning for writing `keys` (paths below `out`, keys in plain) into a git work
    tree that does not ignore them; empty when git ignores them all, when `out` is in no
    work tree, or when git is missing or fails. `planning`: said by plan, of the apply
    to come."""
    env = dict(os.environ)
    git = shutil.which("git", path=env.get("PATH"))
    if not keys or git is None:
        return ""
    if "GIT_DIR" in env or "GIT_WORK_TREE" in env:
        where = Path.cwd()  # as git takes them: relative to the working directory
    else:
        where = _nearest_existing(out.absolute())
        if not any((folder / ".git").exists() for folder in (where, *where.parents)):
            return ""
    state = _git(git, where, env, "ls-files", "-z", "--", str(out.absolute())) or []
    shown = [out / key for key in keys]
    paths = [str(path.absolute()) for path in shown]
    ignored = _git(git, where, env, "check-ignore", "--stdin", "-z", given=paths, ok=(0, 1))
    top = _git(git, where, env, "rev-parse", "--show-toplevel")
    if ignored is None or top is None:
        return ""
    exposed = [p for p, path in zip(shown, paths, strict=True) if path not in ignored]
    if not exposed:
        return ""
    toplevel = Path(top[0].rstrip("\n"))
    says = "applying this plan writes" if planning else "this apply writes"
    if state:
        return _tracked_text(out, exposed, toplevel, says)
    absolute = [str(path.absolute()) for path in exposed]
    tracked = _git(git, where, env, "ls-files", "-z", "--", *absolute) or []
    return _text(out, exposed, bool(tracked), toplevel, says)


def _text(out: Path, exposed: Sequence[Path], tracked: bool, top: Path, says: str) -> str:
    more = f" and {len(exposed) - 1} more" if len(exposed) > 1 else ""
    what = "git tracks" if tracked else "git would commit"
    return (
        f"pkiform: warning: {says} private keys that {what}: {exposed[0]}{more} "
        f"(the work tree {top} does not ignore them); {_ignore_fix(out, top, tracked)}\n"
    )


def _tracked_text(out: Path, exposed: Sequence[Path], top: Path, says: str) -> str:
    more = f" and {len(exposed) - 1} more" if len(exposed) > 1 else ""
    return (
        f"pkiform: warning: {says} private keys in plain into {out}, which git tracks: "
        f"{exposed[0]}{more} (whoever can read the repository could use them); "
        f"{STATE_FIX}, and check with pkiform status --public; "
        f"or {_ignore_fix(out, top, tracked=True)}\n"
    )


# what keeps a directory that git tracks free of keys in plain
STATE_FIX = (
    "encrypt them (key.encrypt), keep CA keys in a token (key.pkcs11) or sign CSRs for "
    "leaves whose keys stay on their hosts"
)


def _ignore_fix(out: Path, top: Path, tracked: bool) -> str:
    within = os.path.relpath(out.absolute(), top)
    if within == "." or within.startswith(".."):
        return "write them elsewhere: -o a folder of their own that .gitignore lists"
    pattern = "/" + within.replace(os.sep, "/") + "/"
    ignore = f"echo {_quoted(pattern)} >> {shlex.quote(_relative(top / '.gitignore'))}"
    forget = f"git rm -r --cached {shlex.quote(str(out))} && " if tracked else ""
    return f"keep them out of git: {forget}{ignore}"


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
