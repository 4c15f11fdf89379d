"""What a git checkout does to an output directory, and what plan makes of it (README,
"Running pkiform from CI, with the state in git").

git keeps neither modes nor mtimes: a clone has every file 0644 (or as the umask says)
and every folder 0755, each with a new mtime. None of it is a change to the state: plan
never reissues or archives for it. Only the mode of a file that holds a private key
matters; apply tightens it back in place, and plan lists it, apart from the changes.
A checkout may also have turned LF into CRLF (core.autocrlf, where no .gitattributes of
pkiform's said otherwise): a PEM file converted so is rewritten with LF in place, a
repair, never a reissue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from pkiform.disk.observe import Observed
from pkiform.formats import git_files
from pkiform.formats.git_files import CRLF, CRLF_REASON, LF
from pkiform.layout import (
    CA_FILE,
    CERT_FILE,
    CHAIN_FILE,
    COMBINED,
    CRL_PEM,
    FULLCHAIN_FILE,
    KEY_FILE,
    SECRET,
    SEED_ID,
)
from pkiform.plan.types import Action, Tighten, Verb
from pkiform.spec.model import Identity

# the text files of an identity's folder: what a checkout may convert
TEXT_FILES = (
    *(KEY_FILE, CERT_FILE, CHAIN_FILE, FULLCHAIN_FILE, CA_FILE),
    *(CRL_PEM, COMBINED, SECRET, SEED_ID),
)
# those the identity's plan compares with what they should hold (formats/outputs.py's
# file_problems says they have CRLF line endings): the others are named here
_COMPARED = frozenset((CERT_FILE, CHAIN_FILE, FULLCHAIN_FILE, CA_FILE, COMBINED, SECRET, SEED_ID))


def tightening(observed: Observed) -> tuple[Tighten, ...]:
    """The files holding a private key whose modes apply takes back to the owner's."""
    return tuple(Tighten(path=path, mode=mode) for path, mode in observed.loose)


def git_file_problems(observed: Observed) -> tuple[tuple[str, str], ...]:
    """.gitattributes and .gitignore to (re)write, with why; none where nothing was ever
    applied (a first apply writes them with everything else, as it does trust-bundle.pem)."""
    applied = observed.manifest is not None or any(o.files for o in observed.identities.values())
    return git_files.problems(observed.git_files) if applied else ()


def line_ending_fixes(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Each text file of an identity's folder that has CRLF line endings, as LF."""
    return {f: files[f].replace(CRLF, LF) for f in TEXT_FILES if CRLF in files.get(f, b"")}


def with_line_endings(action: Action, ident: Identity, files: Mapping[str, bytes]) -> Action:
    """The identity's action, with the files a checkout gave CRLF line endings that no
    other reason rewrites (key.pem, crl.pem): LF in place, the same key, the same CRL.
    A revoked identity is frozen as it is (plan/identities.py), line endings included."""
    if action.verb in (Verb.BLOCKED, Verb.SKIP) or ident.revoked is not None:
        return action
    fixed = [f for f in line_ending_fixes(files) if f not in _COMPARED]
    if action.new_key:
        fixed = [f for f in fixed if f != KEY_FILE]  # replaced by a new key anyway
    if not fixed:
        return action
    notes = tuple(f"{f} {CRLF_REASON}" for f in fixed)
    verb = Verb.REPAIR if action.verb is Verb.UNCHANGED else action.verb
    return replace(action, verb=verb, reasons=(*action.reasons, *notes))


def in_place(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> tuple[str, ...]:
    """The files whose new bytes are their old ones with LF line endings: a rewrite that
    archives nothing (the archive would only keep a second copy of the same thing)."""
    return tuple(f for f, data in new.items() if f in old and git_files.crlf_only(old[f], data))
