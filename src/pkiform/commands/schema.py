from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TextIO

from pkiform.errors import PkiformError
from pkiform.spec.schema import schema_text

# far above the schema's size: a bigger file is something else, and is not read whole
_MAX_SCHEMA_BYTES = 1 << 20


def run(*, out: Path | None = None, stdout: TextIO) -> int:
    """Print the JSON Schema, byte for byte as shipped, or write it to `out`."""
    text = schema_text()
    if out is None:
        stdout.write(text)
        return 0
    data = text.encode("utf-8")
    existing = _existing(out)
    if existing != data:
        if existing is not None and not _is_pkiform_schema(existing, data):
            raise _not_a_schema(out)
        from pkiform.disk.store import replace_file  # only here: printing stays as light as it was

        replace_file(out, data)
    # editors (yaml-language-server) resolve a relative $schema against the spec's folder
    stdout.write(
        f"{out}: {'up to date' if existing == data else 'written'}; a spec in the same "
        f"folder starts with\n# yaml-language-server: $schema=./{out.name}\n"
    )
    return 0


def _existing(out: Path) -> bytes | None:
    """What `out` holds now, None if nothing is there; links and folders are refused."""
    try:
        st = out.lstat()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise PkiformError(f"{out}: cannot read: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise PkiformError(f"{out}: is a symlink; pkiform does not follow links")
    if stat.S_ISDIR(st.st_mode):
        raise PkiformError(
            f"{out}: is a directory; give a file name such as {out / 'pkiform.schema.json'}"
        )
    if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_SCHEMA_BYTES:
        raise _not_a_schema(out)  # not worth reading
    try:
        return out.read_bytes()
    except OSError as e:
        raise PkiformError(f"{out}: cannot read: {e.strerror}") from None


def _not_a_schema(out: Path) -> PkiformError:
    return PkiformError(
        f"{out}: exists and is not a pkiform schema; remove it or choose another file"
    )


def _is_pkiform_schema(existing: bytes, ours: bytes) -> bool:
    """Whether `existing` is a pkiform schema (any version: same $id), which `schema -o`
    may replace; anything else is the user's and stays."""
    try:
        found = json.loads(existing)
    except ValueError:  # not UTF-8 or not JSON
        return False
    return isinstance(found, dict) and found.get("$id") == json.loads(ours)["$id"]
