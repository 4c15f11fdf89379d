"""The settled mark: how plan and apply tell that an output directory is up to date
without reading the spec, a key or a certificate.

An apply that leaves the directory matching its spec ends manifest.json with what it
matched it against: the SHA-256 of the spec file's bytes (spec/source.py's Document.digest),
the pkiform version and a digest of its code, the identities in plan order, the window
of time in which the clock alone gives plan nothing to do (from the instant everything
in it is valid, to the first renewal or CRL or OCSP response to re-sign), and a digest
of every file of the directory as the apply left it. A later plan or apply that finds
the same spec bytes, the same files, the same code and a clock inside that window knows
the outcome of planning (nothing to do) and says so without loading the spec,
cryptography or a single certificate: a start-up and a read of every file.

Anything else (a byte of any file changed, a file added or removed, another spec or
version, a clock outside the window, flags that change what plan does) and pkiform
plans in full, as if there were no mark: it caches one answer, bound to the bytes it
was made from, and losing or garbling it costs time, never correctness. Like the seals
(seals.py), it is not state the plan depends on: every file is still read on every run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pkiform._version import __version__
from pkiform.disk import manifest
from pkiform.disk.store import Store
from pkiform.errors import StoreError
from pkiform.layout import ARCHIVE, GIT_FILES, LOCK, MANIFEST, TRUST_BUNDLE
from pkiform.spec.digest import spec_digest

# what the output directory holds besides identity folders: manifest.json counts by
# its body (the mark cannot cover itself), the lock file holds nothing, and the folders
# `apply --prune` retired are no plan's business (but for the modes of the keys in them)
_TOP_FILES = (TRUST_BUNDLE, *GIT_FILES)
_TOP_ENTRIES = frozenset((*_TOP_FILES, ARCHIVE))
_SKIPPED = frozenset((MANIFEST, LOCK))


@dataclass(frozen=True, slots=True)
class Settled:
    """What a mark that holds says: the identities, in plan order, have nothing to do."""

    order: tuple[str, ...]


def mark(
    body: bytes,
    *,
    spec: str,
    order: Sequence[str],
    archives: Collection[str],
    since: datetime,
    until: datetime,
    root: Path,
) -> bytes:
    """manifest.json: `body` (everything up to the end of the identities' block) with the
    mark of the directory as it now is, or closed without one if the directory holds
    anything the mark could not vouch for."""
    files = survey(root, order, body, archives)
    if files is None:
        return manifest.close(body)
    fields: dict[str, object] = {
        "pkiform": _code(),
        "spec": spec,
        "from": since.isoformat(),
        "until": until.isoformat(),
        "order": list(order),
        "archives": sorted(archives),
    }
    fields["digest"] = _digest(fields, files)
    return manifest.close(body, fields)


def check(source: bytes, root: Path, now: datetime, *, files: bool = True) -> Settled | None:
    """The mark of `root`'s manifest, if it holds for the spec's bytes `source` (the file
    as it now is, or standard input as read), this pkiform, the files under `root` as
    they are (unless `files` is false: a first look, to be confirmed) and the clock at
    `now`; None if anything differs."""
    try:
        found = manifest.marked(Store(root).read_manifest())
    except (OSError, StoreError):
        return None  # planning in full says what is wrong
    if found is None:
        return None
    body, fields = found.body, found.fields
    try:
        since = datetime.fromisoformat(fields["from"])
        until = datetime.fromisoformat(fields["until"])
        order = tuple(fields["order"])
        if (
            not all(isinstance(n, str) for n in order)
            or fields["pkiform"] != _code()
            or fields["spec"] != spec_digest(source)
            or not since <= now < until  # before `from`, something is not valid yet
        ):
            return None
        if files:
            surveyed = survey(root, order, body, set(fields["archives"]))
            recorded = {k: v for k, v in fields.items() if k != "digest"}
            if surveyed is None or fields["digest"] != _digest(recorded, surveyed):
                return None
    except (ValueError, KeyError, TypeError, AttributeError):  # not a mark this code wrote
        return None
    return Settled(order=order)


def check_locked(
    source: bytes, root: Path, now: datetime, *, lock_timeout: float
) -> Settled | None:
    """check(), as an apply must make it: a first look without the files, then, if the
    mark may hold, the whole check under the directory's lock (never half-way through
    another apply's writes). The lock is not taken where the mark cannot hold: taking it
    would create a missing directory."""
    if check(source, root, now, files=False) is None:
        return None
    with Store(root).locked(timeout=lock_timeout):
        return check(source, root, now)


def survey(
    root: Path, names: Sequence[str], manifest_body: bytes, archives: Collection[str]
) -> str | None:
    """A digest of every file of the output directory: the identities' folders in
    `names` order (or that there is none), each entry by name and content, trust-bundle.pem,
    .gitattributes, .gitignore and the manifest's body. Archive folders count by name but
    for the identities in `archives`, whose archived certificates a CRL lists
    (revoke_superseded): theirs count whole. Modes count where they matter: None if a
    file holding a private key, live or archived, is open to others than its owner (as
    a git checkout leaves it: apply tightens it). Never mtimes or inode numbers, which a
    clone renews: a clone with the same bytes holds the same mark. None too if the
    directory holds what no apply leaves there: a link, an entry that is neither an
    identity of `names` nor pkiform's own, or anything unreadable (a crash's staged files
    show up as extra entries)."""
    store = Store(root)
    digest = hashlib.sha256(manifest_body)
    try:
        top = {e.name: e for e in os.scandir(root) if e.name not in _SKIPPED}
        if not top.keys() <= {*names, *_TOP_ENTRIES} or not top.keys() >= {*_TOP_FILES}:
            return None
        for name in names:
            if name not in top:  # a revoked identity never issued has no folder
                digest.update(b"- %s\0" % name.encode())
                continue
            found = store.contents(name, deep=name in archives)
            if found is None:
                return None
            digest.update(b"d %s %d\0" % (name.encode(), len(found)))
            for entry, data in found:
                _add(digest, entry, data)
        if ARCHIVE in top:
            if not top[ARCHIVE].is_dir(follow_symlinks=False):  # nor a link to one
                return None
            if store.loose(below=ARCHIVE):
                return None
            _add(digest, ARCHIVE, None)
        for filename in _TOP_FILES:
            data = store.read_top(filename)  # a link is refused (StoreError)
            if data is None:
                return None
            _add(digest, filename, data)
    except (OSError, StoreError):
        return None
    return digest.hexdigest()


def _add(digest: hashlib._Hash, name: str, data: bytes | None) -> None:
    if data is None:
        digest.update(b"d %s\0" % name.encode())
    else:
        digest.update(b"f %s %d\0" % (name.encode(), len(data)))
        digest.update(data)


@functools.cache
def _code() -> str:
    """pkiform's version and a digest of its code and schema: a mark made by other code
    (another release, or a working tree edited since) is not trusted to say what this
    code would plan. Reading them costs about a millisecond."""
    package = Path(__file__).parents[1]
    # the schema as schema.py finds it: beside the code in a wheel, in schemas/ in a checkout
    schemas = [package / "pkiform.schema.json", package.parents[1] / "schemas/pkiform.schema.json"]
    digest = hashlib.sha256()
    schema = [p for p in schemas if p.is_file()][:1]
    for path in [*sorted(package.rglob("*.py")), *schema]:
        data = path.read_bytes()
        name = path.relative_to(package) if path.is_relative_to(package) else path.name
        digest.update(b"%s %d\0" % (str(name).encode(), len(data)))
        digest.update(data)
    return f"{__version__} {digest.hexdigest()[:32]}"


def _digest(fields: Mapping[str, object], files: str) -> str:
    # the mark's own fields are bound too: a hand-edited `until` is not trusted
    text = json.dumps(fields, sort_keys=True) + files
    return hashlib.sha256(text.encode()).hexdigest()
