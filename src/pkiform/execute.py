"""Carry out a plan: keys, signatures and file replacements, issuers first."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from pkiform import keys
from pkiform.derive import Seed, derive_key
from pkiform.errors import RefusedError, StoreError
from pkiform.graph import IssuerGraph
from pkiform.issuing import BACKDATE, Signer, issue, validity_window
from pkiform.model import Identity, IdentityName, KeyType, Spec
from pkiform.observe import Observed
from pkiform.planner import Action, Plan, Verb, derived_files
from pkiform.profile import desired
from pkiform.revocation import build_crl, build_ocsp_response, crl_files
from pkiform.revocation_planner import ListKind, ListVerb, RevocationAction
from pkiform.store import KEY_FILE, Store


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    warnings: tuple[str, ...]  # found while issuing, e.g. a validity clamped to the issuer's


def apply(
    plan: Plan,
    spec: Spec,
    graph: IssuerGraph,
    observed: Observed,
    store: Store,
    now: datetime,
    *,
    stamp: str,
    seed: Seed | None = None,
    on_done: Callable[[IdentityName], None] | None = None,
) -> Applied:
    """Execute every change in `plan`; refuse up front if any identity is blocked. With a
    seed, keys and serials are derived from it instead of drawn at random."""
    if plan.blocked:
        names = ", ".join(a.name for a in plan.blocked)
        raise RefusedError(
            f"refusing to replace the key of CA {names}: its key.pem is missing or does not "
            f"match its certificate; pass --rekey NAME to replace it (nothing was written)"
        )
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        rsa_keys = _start_rsa_keys(plan, spec, pool, seed)
        return _apply(plan, spec, graph, observed, store, now, stamp, seed, on_done, rsa_keys)


def _new_key(ident: Identity, seed: Seed | None) -> keys.PrivateKey:
    return derive_key(seed, ident.name, ident.key) if seed else keys.generate(ident.key)


def _start_rsa_keys(
    plan: Plan, spec: Spec, pool: ThreadPoolExecutor, seed: Seed | None
) -> dict[IdentityName, Future[keys.PrivateKey]]:
    """RSA key generation, started for every identity that needs a new RSA key.
    cryptography releases the GIL there (2x on two cores); EC and EdDSA keys are
    too quick to gain from threads, so they are made inline. (Derived RSA keys are
    found in Python and hold the GIL: no gain, no loss.)"""
    return {
        a.name: pool.submit(_new_key, spec.identities[a.name], seed)
        for a in plan.actions
        if a.new_key and spec.identities[a.name].key.type is KeyType.RSA
    }


def _apply(
    plan: Plan,
    spec: Spec,
    graph: IssuerGraph,
    observed: Observed,
    store: Store,
    now: datetime,
    stamp: str,
    seed: Seed | None,
    on_done: Callable[[IdentityName], None] | None,
    rsa_keys: dict[IdentityName, Future[keys.PrivateKey]],
) -> Applied:
    issuer = _Issuer(spec, observed, store, now, seed, rsa_keys)
    batch: list[tuple[str, dict[str, bytes]]] = []
    with _Writer(store, stamp) as writer:
        for action in plan.actions:
            cert, key = issuer.carry_out(action)
            if cert is None or action.verb is Verb.UNCHANGED:
                continue
            obs = observed.identities[action.name]
            wanted = derived_files(cert, [issuer.certs[n] for n in graph.chain(action.name)])
            if action.new_key:
                assert key is not None
                wanted[KEY_FILE] = keys.to_pem(key)
            changed = {f: data for f, data in wanted.items() if obs.files.get(f) != data}
            batch.append((action.name, changed))
            if len(batch) >= BATCH:
                writer.write(batch)
                batch = []
            if on_done is not None:
                on_done(action.name)
        for revocation in plan.revocations:
            batch.append((revocation.name, issuer.revocation_files(revocation)))
        writer.write(batch)
    for retired in plan.retire:
        store.retire(retired, stamp)
    store.write_manifest(manifest(spec, graph, issuer.certs, seed=seed))
    return Applied(warnings=tuple(issuer.warnings))


class _Issuer:
    """Signs what the plan asks for, issuers first, and remembers every certificate
    (chains are built from them) and the CAs' keys (they sign); no other private key
    outlives its identity's turn."""

    def __init__(
        self,
        spec: Spec,
        observed: Observed,
        store: Store,
        now: datetime,
        seed: Seed | None,
        rsa_keys: dict[IdentityName, Future[keys.PrivateKey]],
    ) -> None:
        self.spec, self.observed, self.store, self.now, self.seed = spec, observed, store, now, seed
        self.rsa_keys = rsa_keys
        self.certs: dict[IdentityName, x509.Certificate] = {}
        self.keys: dict[IdentityName, keys.PrivateKey] = {}
        self.warnings: list[str] = []

    def carry_out(self, action: Action) -> tuple[x509.Certificate | None, keys.PrivateKey | None]:
        """The identity's certificate after this apply, new or the one on disk (None:
        revoked before it was ever issued), and its private key if it was needed."""
        name = action.name
        ident = self.spec.identities[name]
        obs = self.observed.identities[name]
        if action.verb is Verb.UNCHANGED and obs.cert is None:
            return None, None
        key: keys.PrivateKey | None = obs.key
        if action.new_key:
            pending = self.rsa_keys.pop(name, None)
            key = pending.result() if pending else _new_key(ident, self.seed)
        elif action.new_cert and key is None:
            key = _reload_key(self.store, name)
        if action.new_cert:
            assert key is not None
            cert = issue(
                ident, desired(ident, self._issuer(ident)), key, self._signer(ident),
                self.now, seed=self.seed,
            )  # fmt: skip
        else:
            assert obs.cert is not None
            cert = obs.cert
        self.certs[name] = cert
        if key is not None and ident.kind.is_ca:
            self.keys[name] = key
        return cert, key

    def _issuer(self, ident: Identity) -> Identity | None:
        return self.spec.identities[ident.issuer] if ident.issuer else None

    def _signer(self, ident: Identity) -> Signer | None:
        issuer = self._issuer(ident)
        if issuer is None:
            return None
        signer = Signer(cert=self.certs[issuer.name], key=self.keys[issuer.name])
        if _clamped_by(ident, signer.cert, self.now) > CLAMP_NOTICE:
            self.warnings.append(
                f"{ident.name}: validity clamped to end with its issuer {issuer.name!r} "
                f"({signer.cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z)"
            )
        return signer

    def revocation_files(self, action: RevocationAction) -> dict[str, bytes]:
        return _revocation_files(action, self.observed, self.certs, self.keys, self.spec, self.now)


class _Writer:
    """Writes batches in order on a thread of its own, one at a time, while the next
    batch is signed: file creation is system time, signing is user time, and the two
    overlap on two cores (best with a short GIL switch interval: see cli). A failed
    write stops the apply at the next batch."""

    def __init__(self, store: Store, stamp: str) -> None:
        self.store = store
        self.stamp = stamp
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pkiform-writer")
        self.pending: Future[None] | None = None

    def write(self, batch: list[tuple[str, dict[str, bytes]]]) -> None:
        self.wait()
        self.pending = self.pool.submit(self.store.replace_batch, batch, self.stamp)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        # never return while a write runs: the caller's lock must outlive it
        self.pool.shutdown(wait=True)
        if error is None:
            self.wait()


def _reload_key(store: Store, name: IdentityName) -> keys.PrivateKey:
    """A leaf's key, read again when it is reissued: observe keeps no leaf keys."""
    data = store.read(name, KEY_FILE)
    if data is None:
        raise StoreError(f"{store.root / name / KEY_FILE}: vanished during apply")
    try:
        return keys.load_pem(data)
    except keys.KeyLoadError as e:
        raise StoreError(f"{store.root / name / KEY_FILE}: {e}") from e


def _revocation_files(
    action: RevocationAction,
    observed: Observed,
    certs: Mapping[IdentityName, x509.Certificate],
    ca_keys: Mapping[IdentityName, keys.PrivateKey],
    spec: Spec,
    now: datetime,
) -> dict[str, bytes]:
    """crl.pem + crl.der, or ocsp.der, signed by the CA as it stands after this apply."""
    ca_cert, ca_key = certs[action.signer], ca_keys[action.signer]
    this_update = now.replace(microsecond=0) - BACKDATE
    next_update = now.replace(microsecond=0) + spec.identities[action.signer].crl_validity.delta
    if action.kind is ListKind.OCSP:
        response = build_ocsp_response(
            certs[action.name],
            ca_cert,
            ca_key,
            action.revoked,
            this_update=this_update,
            next_update=next_update,
        )
        return {"ocsp.der": response.public_bytes(serialization.Encoding.DER)}
    if action.verb is ListVerb.REWRITE:
        existing = observed.identities[action.name].crl
        assert existing is not None
        return {"crl.der": crl_files(existing)["crl.der"]}
    crl = build_crl(
        ca_cert,
        ca_key,
        action.entries,
        number=action.number,
        this_update=this_update,
        next_update=next_update,
    )
    return crl_files(crl)


# identities written per durable batch: bounds memory while syncs stay few
BATCH = 256

# a leaf as long-lived as its CA is clamped by the seconds between their issuing: not news
CLAMP_NOTICE = timedelta(hours=1)


def _clamped_by(ident: Identity, issuer_cert: x509.Certificate, now: datetime) -> timedelta:
    _, not_after, _ = validity_window(ident, issuer_cert, now)
    return now.replace(microsecond=0) + ident.validity.delta - not_after


def manifest(
    spec: Spec,
    graph: IssuerGraph,
    certs: Mapping[IdentityName, x509.Certificate],
    *,
    seed: Seed | None = None,
) -> bytes:
    """manifest.json: every identity, what it is and where its files are. Derived, not
    state, but for one mark: the fingerprint of the seed a reproducible PKI came from."""
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
    # one identity a line: diffable, and written by json's C encoder (indent= is not)
    lines = ",\n".join(
        f"  {json.dumps(name)}: {json.dumps(entry, sort_keys=True)}"
        for name, entry in entries.items()
    )
    mark = f'"{REPRODUCIBLE}": {{"seed": "{seed.fingerprint}"}}, ' if seed else ""
    return f'{{"pkiform_manifest": 1, {mark}"identities": {{\n{lines}\n}}}}\n'.encode()


REPRODUCIBLE = "reproducible"


def manifest_seed(data: bytes | None) -> str | None:
    """The seed fingerprint a manifest is marked with; None when unmarked or unreadable."""
    try:
        mark = json.loads(data or b"{}").get(REPRODUCIBLE)
    except (ValueError, AttributeError):
        return None
    seed = mark.get("seed") if isinstance(mark, dict) else None
    return seed if isinstance(seed, str) else None
