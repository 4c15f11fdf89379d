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
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from pkiform._version import __version__
from pkiform.layout import CERT_FILE, KEY_FILE, REVOCATION_FILES
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, Spec

_SEAL = "seal"
# the spec of an identity, but where it was written
_SPEC_FIELDS = tuple(f.name for f in fields(Identity) if f.name != "loc")
# re-signed on their own schedule by the revocation planner, not by the identity's plan
_UNSEALED_FILES = frozenset(REVOCATION_FILES)


def eligible(ident: Identity, files: Mapping[str, bytes]) -> bool:
    """Whether the identity can be sealed: checked without any password, not frozen by
    revocation, and with a key and a certificate to vouch for each other."""
    return (
        not needs_password(ident)
        and ident.revoked is None
        and KEY_FILE in files
        and CERT_FILE in files
    )


def needs_password(ident: Identity) -> bool:
    """Whether checking the identity's files takes a password (no digest can say they
    still open with the one the spec now names)."""
    return (
        ident.key_password is not None
        or ident.outputs.pkcs12 is not None
        or ident.outputs.truststore is not None
    )


def own_digest(ident: Identity, issuer_text: str, files: Mapping[str, bytes]) -> bytes:
    """The part of the seal that is the identity's own: its spec, its issuer's (as
    IssuerTexts gives it) and its files."""
    h = hashlib.sha256(f"pkiform {__version__}\0{spec_text(ident)}\0{issuer_text}".encode())
    for filename in sorted(files):
        if filename not in _UNSEALED_FILES:
            data = files[filename]
            h.update(f"\0{filename}\0{len(data)}\0".encode())
            h.update(data)
    return h.digest()


def spec_text(ident: Identity) -> str:
    """An identity's resolved spec as text, but for where it was written."""
    return repr(tuple(getattr(ident, f) for f in _SPEC_FIELDS))


class IssuerTexts:
    """The spec_text of each identity's issuer, made once: a thousand leaves share one."""

    def __init__(self, spec: Spec) -> None:
        self._spec = spec
        self._texts: dict[IdentityName, str] = {}

    def of(self, ident: Identity) -> str:
        if ident.issuer is None:
            return "-"
        if ident.issuer not in self._texts:
            self._texts[ident.issuer] = spec_text(self._spec.identities[ident.issuer])
        return self._texts[ident.issuer]


def cert_digest(cert_pem: bytes) -> bytes:
    return hashlib.sha256(cert_pem).digest()


def seal(own: bytes, issuer_certs: Iterable[bytes]) -> bytes:
    """The whole seal: the identity's own digest and the digests of its issuers'
    cert.pem, nearest first."""
    h = hashlib.sha256(own)
    for digest in issuer_certs:
        h.update(digest)
    return h.digest()


def signed_entry(entry: Mapping[str, Any], sealed: bytes | None) -> dict[str, Any]:
    """A manifest entry carrying `sealed` (if any), bound to the entry's own content."""
    result = {k: v for k, v in entry.items() if k != _SEAL}
    if sealed is not None:
        result[_SEAL] = _bind(sealed, result)
    return result


def holds(entry: object, sealed: bytes) -> bool:
    """Whether a manifest entry carries this seal and is as the apply that sealed it
    wrote it."""
    if not isinstance(entry, dict) or not isinstance(entry.get(_SEAL), str):
        return False
    rest = {k: v for k, v in entry.items() if k != _SEAL}
    return bool(entry[_SEAL] == _bind(sealed, rest))


@dataclass(frozen=True, slots=True)
class Sealed:
    """An identity found as the apply that sealed it left it."""

    own: bytes  # own_digest
    seal: bytes
    entry: dict[str, Any]  # its manifest entry, seal included


def holding(
    spec: Spec,
    graph: IssuerGraph,
    manifest: bytes | None,
    files: Mapping[IdentityName, Mapping[str, bytes]],
) -> dict[IdentityName, Sealed]:
    """The identities (of those whose `files` were read) whose manifest entry carries
    the seal of what was read now."""
    entries = recorded(manifest)
    found: dict[IdentityName, Sealed] = {}
    issuer_texts = IssuerTexts(spec)
    cert_digests: dict[IdentityName, bytes] = {}
    for name, own_files in files.items():
        entry = entries.get(name)
        ident = spec.identities[name]
        if entry is None or not eligible(ident, own_files):
            continue
        chain = graph.chain(name)
        if any(CERT_FILE not in files.get(n, {}) for n in chain):
            continue
        own = own_digest(ident, issuer_texts.of(ident), own_files)
        for n in chain:
            if n not in cert_digests:
                cert_digests[n] = cert_digest(files[n][CERT_FILE])
        sealed = seal(own, (cert_digests[n] for n in chain))
        if holds(entry, sealed):
            found[name] = Sealed(own=own, seal=sealed, entry=entry)
    return found


def recorded(manifest: bytes | None) -> dict[IdentityName, Any]:
    """The identities' entries of a manifest; none when it is missing or unreadable."""
    try:
        entries = json.loads(manifest or b"{}").get("identities")
    except (ValueError, AttributeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _bind(sealed: bytes, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(sealed + json.dumps(entry, sort_keys=True).encode()).hexdigest()
