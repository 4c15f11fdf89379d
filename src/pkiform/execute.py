"""Carry out a plan: keys, signatures and file replacements, issuers first."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from pkiform import keys
from pkiform.errors import RefusedError
from pkiform.graph import IssuerGraph
from pkiform.issuing import Signer, issue, validity_window
from pkiform.model import Identity, IdentityName, Spec
from pkiform.observe import Observed
from pkiform.planner import Plan, Verb, derived_files
from pkiform.profile import desired
from pkiform.store import KEY_FILE, Store


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    done: tuple[IdentityName, ...]
    warnings: tuple[str, ...]
    manifest_written: bool


def apply(
    plan: Plan,
    spec: Spec,
    graph: IssuerGraph,
    observed: Observed,
    store: Store,
    now: datetime,
    *,
    stamp: str,
    on_done: Callable[[IdentityName], None] | None = None,
) -> Applied:
    """Execute every change in `plan`; refuse up front if any identity is blocked."""
    if plan.blocked:
        names = ", ".join(a.name for a in plan.blocked)
        raise RefusedError(
            f"refusing to replace the key of CA {names}: its key.pem is missing or does not "
            f"match its certificate; pass --rekey NAME to replace it (nothing was written)"
        )
    certs: dict[IdentityName, x509.Certificate] = {}
    ca_keys: dict[IdentityName, keys.PrivateKey] = {}
    done: list[IdentityName] = []
    warnings: list[str] = []
    for action in plan.actions:
        name = action.name
        ident = spec.identities[name]
        obs = observed.identities[name]
        key = keys.generate(ident.key) if action.new_key else obs.key
        if action.new_cert:
            assert key is not None
            issuer = spec.identities[ident.issuer] if ident.issuer else None
            signer = Signer(cert=certs[issuer.name], key=ca_keys[issuer.name]) if issuer else None
            if signer is not None and _clamped_by(ident, signer.cert, now) > CLAMP_NOTICE:
                warnings.append(
                    f"{name}: validity clamped to end with its issuer {issuer.name!r} "  # type: ignore[union-attr]
                    f"({signer.cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z)"
                )
            cert = issue(ident, desired(ident, issuer), key, signer, now)
        else:
            assert obs.cert is not None
            cert = obs.cert
        certs[name] = cert
        if ident.kind.is_ca:
            assert key is not None
            ca_keys[name] = key
        if action.verb is Verb.UNCHANGED:
            continue
        wanted = derived_files(cert, [certs[n] for n in graph.chain(name)])
        if action.new_key:
            assert key is not None
            wanted[KEY_FILE] = keys.to_pem(key)
        changed = {f: data for f, data in wanted.items() if obs.files.get(f) != data}
        store.replace_files(name, changed, stamp)
        done.append(name)
        if on_done is not None:
            on_done(name)
    written = store.write_manifest(manifest(spec, graph, certs))
    return Applied(done=tuple(done), warnings=tuple(warnings), manifest_written=written)


# a leaf as long-lived as its CA is clamped by the seconds between their issuing: not news
CLAMP_NOTICE = timedelta(hours=1)


def _clamped_by(ident: Identity, issuer_cert: x509.Certificate, now: datetime) -> timedelta:
    _, not_after, _ = validity_window(ident, issuer_cert, now)
    return now.replace(microsecond=0) + ident.validity.delta - not_after


def manifest(spec: Spec, graph: IssuerGraph, certs: dict[IdentityName, x509.Certificate]) -> bytes:
    """manifest.json: every identity, what it is and where its files are. Derived, not state."""
    entries = {}
    for name in sorted(certs):
        ident = spec.identities[name]
        cert = certs[name]
        entries[name] = {
            "kind": str(ident.kind),
            "issuer": ident.issuer,
            "chain": graph.chain(name),
            "subject": cert.subject.rfc4514_string(),
            "serial": format(cert.serial_number, "x"),
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "key": str(ident.key),
            "fingerprints": {
                "cert_sha256": cert.fingerprint(hashes.SHA256()).hex(),
                "public_key_sha256": keys.fingerprint(cert.public_key()),
            },
            "files": {
                f.removesuffix(".pem"): f"{name}/{f}"
                for f in ("key.pem", "cert.pem", "chain.pem", "fullchain.pem", "ca.pem")
            },
        }
    document = {"pkiform_manifest": 1, "identities": entries}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
