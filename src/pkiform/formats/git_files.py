"""DIR/.gitattributes and DIR/.gitignore: what makes an output directory that is kept in
git come back from any checkout byte for byte (README, "Running pkiform from CI, with
the state in git").

git keeps neither modes nor mtimes (plan and apply do without them), but a checkout may
convert line endings (core.autocrlf, a `text` attribute above), which would change the
bytes of every PEM file and, in a DER file, corrupt it. `-text` on every file stops any
conversion, whatever the repository or the user's configuration says. `-merge` makes
two branches that both changed a file conflict instead of merging text line by line: a
CRL or manifest.json merged that way would be nonsense. DER and PKCS#12 files are
binary to `git diff` too.

The .gitignore leaves out what is never state: the lock file and the staging names of a
replacement in progress (disk/store.py).

Standard library only, like layout: plan compares, apply writes, settled counts them.
"""

from __future__ import annotations

from collections.abc import Mapping

from pkiform.layout import GITATTRIBUTES, GITIGNORE, LOCK, NEW, PENDING

ATTRIBUTES = b"""\
# written by pkiform: every file here is kept byte for byte, by any checkout
* -text -merge
*.der binary
*.p12 binary
"""

IGNORE = f"""\
# written by pkiform: its lock, and the files of a replacement in progress
/{LOCK}
{PENDING}*
/{NEW}*
/.*.tmp
""".encode()

CONTENTS: Mapping[str, bytes] = {GITATTRIBUTES: ATTRIBUTES, GITIGNORE: IGNORE}

CRLF, LF = b"\r\n", b"\n"
# why a file that differs from what it should hold by its line endings alone is rewritten
CRLF_REASON = "has CRLF line endings (a checkout converted them): rewritten with LF in place"


def crlf_only(have: bytes, wanted: bytes) -> bool:
    """Whether `have` is `wanted` with its LF line endings turned into CRLF."""
    return CRLF in have and have.replace(CRLF, LF) == wanted


def problems(found: Mapping[str, bytes | None]) -> tuple[tuple[str, str], ...]:
    """Each git file whose bytes on disk (`found`, None when absent) are not pkiform's,
    with why: (file, reason)."""
    out = []
    for filename, wanted in CONTENTS.items():
        have = found.get(filename)
        if have is None:
            out.append((filename, f"{filename} is missing"))
        elif have != wanted:
            out.append((filename, f"{filename} is not the one pkiform writes"))
    return tuple(out)
