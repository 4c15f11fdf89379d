"""`pkiform init [DIR]`: a commented starter spec, the schema its first line names, and a
.gitignore that keeps the output directory (private keys) out of git. New files only."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TextIO

from pkiform.errors import PkiformError
from pkiform.spec.schema import schema_text

SPEC = "pki.yaml"
GITIGNORE = ".gitignore"
SCHEMA = "pkiform.schema.json"  # the name the starter spec's modeline gives


def run(folder: Path, *, stdout: TextIO) -> int:
    """Write the starter files into `folder` (made if missing); refuse, writing nothing,
    if any of them is there already."""
    if _exists(folder) and not folder.is_dir():
        raise PkiformError(f"{folder}: exists and is not a directory")
    taken = [name for name in (SPEC, GITIGNORE, SCHEMA) if _exists(folder / name)]
    if taken:
        listed = ", ".join(str(folder / name) for name in taken)
        raise PkiformError(
            f"{listed}: {'exists' if len(taken) == 1 else 'exist'} already; init writes only "
            f"new files, so it wrote nothing (give it a folder without them, e.g. "
            f"pkiform init {folder / 'pki-spec'})"
        )
    templates = resources.files("pkiform") / "templates"
    files = {
        SPEC: templates.joinpath("pki.yaml").read_bytes(),
        GITIGNORE: templates.joinpath("gitignore").read_bytes(),
        SCHEMA: schema_text().encode("utf-8"),
    }
    from pkiform.disk.store import create_files

    create_files(folder, files)
    here = str(folder) in (".", "")
    stdout.write(
        f"{folder / SPEC}: written: a root CA, an intermediate, a server and a client\n"
        f"{folder / GITIGNORE}: written: keeps {folder / 'pki'}/, the output directory, "
        "out of git\n"
        f"{folder / SCHEMA}: written: for editors (the spec's first line names it)\n"
        f"next: {'' if here else f'cd {folder} && '}pkiform plan {SPEC}\n"
    )
    return 0


def _exists(path: Path) -> bool:
    """Whether anything is at `path`, a dangling link included."""
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    except OSError as e:
        raise PkiformError(f"{path}: cannot read: {e.strerror}") from None
    return True
