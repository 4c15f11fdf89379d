"""Seals: what lets plan skip re-checking an identity that cannot have changed.

An identity's seal, kept in its manifest.json entry, is a digest of everything its
plan depends on but the clock: the pkiform version, its spec and its issuer's (the
profile is built from both), the bytes of each of its files, and the certificates
of its issuers. Each apply writes it for every identity it leaves up to date, so a
later plan that computes the same digest from what it reads now knows the outcome of
the full comparison (certificate against spec, key against certificate, chain files,
outputs, issuer links) without parsing and comparing again; only the time checks
(expiry, renewal) are made afresh.

The files are still read, every one of them: the output directory stays the state.
The seal also covers its own manifest entry, so a hand-edited entry is rebuilt, and
a manifest deleted or damaged costs only time. Identities whose checks need a
password (an encrypted key, PKCS#12 outputs) are never sealed, nor revoked ones.

The rest of pkiform sees two objects: a Reader, which tells observe which identities a
manifest vouches for (disk/observe.py then skips what the seal stands for, and the
planner's comparisons come out equal), and a Writer, which gives an apply the entry to
write for each identity. Only this module knows what a seal is made of.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from pkiform._version import __version__
from pkiform.disk import manifest
from pkiform.layout import CERT_FILE, KEY_FILE, REVOCATION_FILES
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, ResolvedSpec
from pkiform.spec.rotation import Rotations

_SEAL = "seal"
# the spec of an identity, but where it was written
_SPEC_FIELDS = tuple(f.name for f in fields(Identity) if f.name != "loc")
# re-signed on their own schedule by the revocation planner, not by the identity's plan
_UNSEALED_FILES = frozenset(REVOCATION_FILES)


@dataclass(frozen=True, slots=True)
class _Found:
    """An identity found as the apply that sealed it left it."""

    own: bytes  # _own_digest
    seal: bytes
    entry: dict[str, Any]  # its manifest entry, seal included


class Reader:
    """Which identities a manifest's seals vouch for: those whose spec, files and issuers'
    certificates are what they were when an apply found them consistent."""

    def __init__(self, spec: ResolvedSpec, graph: IssuerGraph) -> None:
        self._spec = spec
        self._graph = graph
        self._rotations = Rotations.of(spec, graph)
        self.found: dict[IdentityName, _Found] = {}  # for the Writer of the same run

    def vouch(
        self, manifest_data: bytes | None, files: Mapping[IdentityName, Mapping[str, bytes]]
    ) -> frozenset[IdentityName]:
        """Of the identities whose `files` were read, those whose manifest entry carries
        the seal of what was read now."""
        entries = manifest.entries(manifest_data)
        issuer_texts = _IssuerTexts(self._spec)
        cert_digests: dict[IdentityName, bytes] = {}
        for name, own_files in files.items():
            entry = entries.get(name)
            ident = self._spec.identities[name]
            if entry is None or not _eligible(ident, own_files):
                continue
            chain = self._graph.chain(name)
            if any(CERT_FILE not in files.get(n, {}) for n in chain):
                continue
            own = _own_digest(ident, issuer_texts.of(ident), own_files)
            for n in chain:
                if n not in cert_digests:
                    cert_digests[n] = _cert_digest(files[n][CERT_FILE])
            rotation = _rotation_digest(self._rotations, name, lambda n, f: files.get(n, {}).get(f))
            sealed = _seal(own, (cert_digests[n] for n in chain), rotation)
            if _holds(entry, sealed):
                self.found[name] = _Found(own=own, seal=sealed, entry=entry)
        return frozenset(self.found)


class Writer:
    """The seals an apply leaves, identity by identity in issuing order (an issuer's
    cert.pem is part of its subjects' seals), and the manifest entries that carry them."""

    def __init__(
        self,
        spec: ResolvedSpec,
        graph: IssuerGraph,
        found: Mapping[IdentityName, _Found] | None = None,
    ) -> None:
        self._spec = spec
        self._graph = graph
        self._found = found or {}
        self._issuer_texts = _IssuerTexts(spec)
        self._cert_digests: dict[IdentityName, bytes] = {}
        self._made: dict[IdentityName, bytes] = {}
        self._rotations = Rotations.of(spec, graph)
        self._left: dict[IdentityName, Mapping[str, bytes]] = {}  # a rotation's roots' files

    def note(self, name: IdentityName, files: Mapping[str, bytes], *, unchanged: bool) -> None:
        """The identity's files as this apply leaves them (`unchanged`: as it found them)."""
        ident = self._spec.identities[name]
        pem = files.get(CERT_FILE)
        if pem is not None:
            self._cert_digests[name] = _cert_digest(pem)
        if self._rotations.involves(name):
            self._left[name] = files
        issuer_certs = [self._cert_digests.get(n) for n in self._graph.chain(name)]
        if not _eligible(ident, files) or None in issuer_certs:
            return
        rotation = _rotation_digest(
            self._rotations, name, lambda n, f: self._left[n].get(f) if n in self._left else None
        )
        if rotation is not None and self._rotations.needs_unseen(name, self._left):
            return  # the other root of its rotation comes later in this apply: no seal
        found = self._found.get(name)
        if unchanged and found is not None:
            own = found.own
        else:
            own = _own_digest(ident, self._issuer_texts.of(ident), files)
        self._made[name] = _seal(own, (d for d in issuer_certs if d is not None), rotation)

    def entry(self, name: IdentityName, fresh: Mapping[str, Any]) -> Mapping[str, Any]:
        """The manifest entry to write for an identity whose entry made now is `fresh` (when
        `kept` had none to keep): `fresh` carrying this apply's seal."""
        sealed = self._made.get(name)
        result = {k: v for k, v in fresh.items() if k != _SEAL}
        if sealed is not None:
            result[_SEAL] = _bind(sealed, result)
        return result

    def kept(self, name: IdentityName) -> Mapping[str, Any] | None:
        """The entry found for an identity, if this apply leaves its seal as it was: its
        line is written again as read, without making a fresh one."""
        old = self._found.get(name)
        return old.entry if old is not None and old.seal == self._made.get(name) else None


def vouches_for(ident: Identity) -> bool:
    """Whether a seal can ever vouch for the identity: its checks need no password (no
    digest can say a file still opens with the one the spec now names; the spec's model
    says which outputs take one), and revocation has not frozen it."""
    return not ident.password_sources() and ident.revoked is None


def _eligible(ident: Identity, files: Mapping[str, bytes]) -> bool:
    """A key and a certificate to vouch for each other, where a seal can vouch at all."""
    return vouches_for(ident) and KEY_FILE in files and CERT_FILE in files


def _own_digest(ident: Identity, issuer_text: str, files: Mapping[str, bytes]) -> bytes:
    """The part of the seal that is the identity's own: its spec, its issuer's (as
    _IssuerTexts gives it) and its files."""
    h = hashlib.sha256(f"pkiform {__version__}\0{_spec_text(ident)}\0{issuer_text}".encode())
    for filename in sorted(files):
        if filename not in _UNSEALED_FILES:
            data = files[filename]
            h.update(f"\0{filename}\0{len(data)}\0".encode())
            h.update(data)
    return h.digest()


def _spec_text(ident: Identity) -> str:
    """An identity's resolved spec as text, but for where it was written."""
    return repr(tuple(getattr(ident, f) for f in _SPEC_FIELDS))


class _IssuerTexts:
    """The _spec_text of each identity's issuer, made once: a thousand leaves share one."""

    def __init__(self, spec: ResolvedSpec) -> None:
        self._spec = spec
        self._texts: dict[IdentityName, str] = {}

    def of(self, ident: Identity) -> str:
        if ident.issuer is None:
            return "-"
        if ident.issuer not in self._texts:
            self._texts[ident.issuer] = _spec_text(self._spec.identities[ident.issuer])
        return self._texts[ident.issuer]


def _cert_digest(cert_pem: bytes) -> bytes:
    return hashlib.sha256(cert_pem).digest()


def _seal(own: bytes, issuer_certs: Iterable[bytes], rotation: bytes | None = None) -> bytes:
    """The whole seal: the identity's own digest and the digests of its issuers'
    cert.pem, nearest first, and of what its files take from a rotation, if any."""
    h = hashlib.sha256(own)
    for digest in issuer_certs:
        h.update(digest)
    if rotation is not None:
        h.update(rotation)
    return h.digest()


def _rotation_digest(
    rotations: Rotations, name: IdentityName, read: Callable[[IdentityName, str], bytes | None]
) -> bytes | None:
    """What an identity's files take from a rotation (spec/rotation.py): which roots its
    ca.pem holds besides its own and whose cross.pem ends its chain.pem, and those files'
    bytes as `read` finds them; None outside a rotation (its seal is what it always was)."""
    context = rotations.context(name)
    if not context:
        return None
    h = hashlib.sha256(context.encode())
    for other, filename in rotations.inputs(name):
        data = read(other, filename)
        h.update(b"-" if data is None else b"%d\0" % len(data) + data)
    return h.digest()


def _holds(entry: object, sealed: bytes) -> bool:
    """Whether a manifest entry carries this seal and is as the apply that sealed it
    wrote it."""
    if not isinstance(entry, dict) or not isinstance(entry.get(_SEAL), str):
        return False
    rest = {k: v for k, v in entry.items() if k != _SEAL}
    return bool(entry[_SEAL] == _bind(sealed, rest))


def _bind(sealed: bytes, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(sealed + json.dumps(entry, sort_keys=True).encode()).hexdigest()
