"""Carry out a plan: keys, signatures and file replacements, issuers first."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pkiform.apply import parallel as forked
from pkiform.cache import seals, settled
from pkiform.disk import manifest
from pkiform.disk.observe import Observed, ObservedIdentity
from pkiform.disk.store import Store
from pkiform.errors import RefusedError, StoreError
from pkiform.formats import git_files, outputs, pem
from pkiform.formats.outputs import Material
from pkiform.formats.pem import crl_files, derived_files
from pkiform.formats.seed_id import seed_id_file
from pkiform.layout import (
    CRL_DER,
    CRL_PEM,
    CROSS_FILE,
    CSR_FILE,
    IDENTITY_FILES,
    KEY_DER,
    KEY_FILE,
    OCSP_DER,
    SECRET,
    SEED_ID,
    TRUST_BUNDLE,
)
from pkiform.plan import checkout, rotation
from pkiform.plan.adopted import outside, trust_anchors
from pkiform.plan.due import NEVER_QUIET, freshness_window, quiet_window
from pkiform.plan.planner import archives_to_read
from pkiform.plan.revocations import signing_times
from pkiform.plan.rotation import cross_on_disk
from pkiform.plan.types import (
    CHANGES,
    Action,
    CrossVerb,
    ListKind,
    ListVerb,
    Plan,
    RevocationAction,
    Verb,
)
from pkiform.secrets.passwords import NO_PASSWORDS, Password, Passwords, guard
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import (
    CsrKey,
    Identity,
    IdentityName,
    KeyType,
    Kind,
    ResolvedSpec,
    TokenKey,
    serial_text,
)
from pkiform.spec.rotation import Rotations
from pkiform.spec.token_uri import parse_token_uri
from pkiform.x509 import keys
from pkiform.x509.derive import Seed, derive_key
from pkiform.x509.inputs import NO_INPUTS, Inputs, Request
from pkiform.x509.issuing import Signer, cross_certificate, issue, validity_window
from pkiform.x509.profile import desired
from pkiform.x509.revocation import build_crl, build_ocsp_response

if TYPE_CHECKING:
    from pkiform.x509.token_use import TokenKeys


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    warnings: tuple[str, ...]  # found while issuing, e.g. a validity clamped to the issuer's
    secrets: tuple[bytes, ...] = ()  # every secret.yaml as it now is, in issuing order


def apply(
    plan: Plan,
    spec: ResolvedSpec,
    graph: IssuerGraph,
    observed: Observed,
    store: Store,
    now: datetime,
    *,
    stamp: str,
    seed: Seed | None = None,
    on_done: Callable[[IdentityName], None] | None = None,
    passwords: Passwords = NO_PASSWORDS,
    settle: str | None = None,
    sealed: seals.Writer,
    tokens: TokenKeys | None = None,
    inputs: Inputs = NO_INPUTS,
) -> Outcome:
    """Execute every change in `plan` (api made it, and raised every problem of the spec
    and of its passwords); refuse up front if any identity is blocked. With a seed, keys
    and serials are derived from it instead of drawn at random. `settle`: the digest of
    the spec source, when the directory this apply leaves may carry the settled mark
    (cache/settled.py); `sealed`: the seals' writer, given what a reader found when the
    plan was made (cache/seals.py); `tokens`: the run's keys in PKCS#11 tokens, where new
    ones are made. `inputs`: the requests to sign and the CAs to adopt, as validation
    read them."""
    if plan.blocked:
        raise RefusedError(_refusal(plan, spec))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        run = _Run(
            spec=spec,
            graph=graph,
            store=store,
            observed=observed,
            now=now,
            seed=seed,
            passwords=passwords,
            rsa_keys=_start_rsa_keys(plan, spec, pool, seed),
            sealer=sealed,
            tokens=tokens,
            rotations=Rotations.of(spec, graph),
            inputs=inputs,
        )
        return _apply(plan, run, stamp, on_done, settle)


def _refusal(plan: Plan, spec: ResolvedSpec) -> str:
    """Why apply writes nothing while an identity is blocked, naming what unblocks each."""
    adopted = [a.name for a in plan.blocked if spec.identities[a.name].adopt is not None]
    others = [a.name for a in plan.blocked if a.name not in adopted]
    parts = []
    if others:
        parts.append(
            f"refusing to replace the key of CA {', '.join(others)}: its key.pem is missing or "
            "does not match its certificate; pass --rekey NAME to replace it"
        )
    if adopted:
        parts.append(
            f"refusing to apply while the adopted CA {', '.join(adopted)} is blocked: plan "
            "says why, and what to pass"
        )
    return "; ".join(parts) + " (nothing was written)"


def _new_key(ident: Identity, seed: Seed | None) -> keys.PrivateKey:
    return derive_key(seed, ident.name, ident.key) if seed else keys.generate(ident.key)


def _start_rsa_keys(
    plan: Plan, spec: ResolvedSpec, pool: ThreadPoolExecutor, seed: Seed | None
) -> dict[IdentityName, Future[keys.PrivateKey]]:
    """RSA key generation, started for every identity that needs a new RSA key.
    cryptography releases the GIL there (2x on two cores); EC and EdDSA keys are
    too quick to gain from threads, so they are made inline. (Derived RSA keys are
    found in Python and hold the GIL: no gain, no loss.)"""
    return {
        a.name: pool.submit(_new_key, spec.identities[a.name], seed)
        for a in plan.actions
        if a.new_key
        and spec.identities[a.name].key.type is KeyType.RSA
        and _makes_key(spec.identities[a.name])
    }


def _makes_key(ident: Identity) -> bool:
    """Whether pkiform makes the identity's new keys itself, in a file: not a request's,
    nor an adopted CA's, nor one a token makes."""
    return ident.key_source is None and ident.adopt is None


def _apply(
    plan: Plan,
    run: _Run,
    stamp: str,
    on_done: Callable[[IdentityName], None] | None,
    settle: str | None,
) -> Outcome:
    spec, store = run.spec, run.store
    # first: a key moved to the archive below keeps its mode
    store.tighten(t.path for t in plan.tighten)
    writer = _Writer(run, stamp, on_done)
    run.prepare_rotation(plan)
    shared = _shared(plan, run)
    for action in plan.actions:
        if action.name not in shared:
            writer.add(action)
    writer.flush()
    if shared:  # every CA is done: the leaves left need nothing from each other
        _write_in_two([a for a in plan.actions if a.name in shared], writer)
    for revocation in plan.revocations:
        writer.batch.append((revocation.name, run.revocation_files(revocation)))
    writer.flush()
    for cross in plan.crosses:
        if cross.verb is CrossVerb.ARCHIVE:
            store.withdraw(cross.name, [CROSS_FILE], stamp)
    for retired in plan.retire:
        store.retire(retired, stamp)
    anchors = trust_anchors(spec, run.certs, run.outsides)
    store.write_top(TRUST_BUNDLE, pem.trust_bundle({n: c for n, c in anchors.items() if c}))
    for filename, data in git_files.CONTENTS.items():
        store.write_top(filename, data)
    lines = [run.manifest_entries.get(n) or _entry(n, run) for n in sorted(run.certs)]
    body = manifest.body(lines, seed=run.seed.fingerprint if run.seed else None)
    store.write_manifest(_settled(plan, run, body, settle))
    # in the plan's order, whichever process made them
    position = {a.name: i for i, a in enumerate(plan.actions)}
    return Outcome(
        warnings=tuple(text for _, text in sorted(run.warnings, key=lambda w: position[w[0]])),
        secrets=tuple(writer.secrets[n] for n in sorted(writer.secrets, key=position.__getitem__)),
    )


def _shared(plan: Plan, run: _Run) -> set[IdentityName]:
    """The leaves to issue and write in two processes: enough of them to be worth a
    fork, and no RSA key threads running (fork is safe only in a single thread)."""
    leaves = {
        a.name
        for a in plan.actions
        if a.verb in CHANGES and not run.spec.identities[a.name].kind.is_ca
    }
    # a token's session is the parent's: a forked child cannot sign through it
    if len(leaves) < PARALLEL_MIN or run.rsa_keys or run.tokens or not forked.available():
        return set()
    return leaves


@dataclass(frozen=True, slots=True)
class _Written:
    """What the rest of an apply needs of an identity that the child issued."""

    name: IdentityName
    cert_der: bytes
    manifest_entry: str
    secret: bytes | None  # secret.yaml, when asked for


# a child's record: per batch, what it wrote and the warnings it found
_Record = tuple[list[_Written], list[tuple[IdentityName, str]]]


def _write_in_two(actions: list[Action], writer: _Writer) -> None:
    """Carry out `actions` (leaves, each on its own) half here, half in a forked child
    that writes its folders itself: key generation, signing and file creation run on
    both cores. The child sends back what the rest of the apply needs."""
    run, half = writer.run, len(actions) // 2

    def child(send: Callable[[_Record], None]) -> None:
        writer.on_done = None  # progress is the parent's to show, as records arrive
        for chunk in _chunks(actions[half:]):
            warned = len(run.warnings)
            for action in chunk:
                writer.add(action)
            writer.flush()
            send(([_written(a.name, run, writer) for a in chunk], run.warnings[warned:]))

    def receive(record: _Record) -> None:
        written, warnings = record
        for done in written:
            run.certs[done.name] = x509.load_der_x509_certificate(done.cert_der)
            run.manifest_entries[done.name] = done.manifest_entry
            if done.secret is not None:
                writer.secrets[done.name] = done.secret
            if writer.on_done is not None:
                writer.on_done(done.name)
        run.warnings.extend(warnings)

    worker = forked.Child(child)
    try:
        for chunk in _chunks(actions[:half]):
            for action in chunk:
                writer.add(action)
            writer.flush()
            for action in chunk:  # made now, while the child works, as the child makes its own
                run.manifest_entries[action.name] = _entry(action.name, run)
            for record in worker.arrived():
                receive(record)
        for record in worker.finish():
            receive(record)
    except BaseException:
        worker.kill()
        raise


def _written(name: IdentityName, run: _Run, writer: _Writer) -> _Written:
    return _Written(
        name=name,
        cert_der=run.certs[name].public_bytes(serialization.Encoding.DER),
        manifest_entry=_entry(name, run),
        secret=writer.secrets.get(name),
    )


def _entry(name: IdentityName, run: _Run) -> str:
    """The manifest line of an identity as this apply leaves it."""
    kept = run.sealer.kept(name)
    if kept is not None:  # as found: the line is written again as read
        return manifest.line(name, kept)
    fresh = manifest_entry(run.spec.identities[name], run.graph, run.certs[name])
    return manifest.line(name, run.sealer.entry(name, fresh))


def _chunks(actions: list[Action]) -> Iterator[list[Action]]:
    for start in range(0, len(actions), BATCH):
        yield actions[start : start + BATCH]


@dataclass(slots=True)
class _Writer:
    """Carries out actions one by one and writes their files in durable batches."""

    run: _Run
    stamp: str
    on_done: Callable[[IdentityName], None] | None
    batch: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)
    in_place: dict[str, tuple[str, ...]] = field(default_factory=dict)
    secrets: dict[IdentityName, bytes] = field(default_factory=dict)  # every secret.yaml

    def add(self, action: Action) -> None:
        run, name = self.run, action.name
        obs = run.observed.identities[name]
        ident = run.spec.identities[name]
        cert, key = run.carry_out(action)
        if cert is None:
            return
        cross = run.cross_file(name)  # a cross.pem signed in this apply
        if action.verb is Verb.UNCHANGED:
            if SECRET in obs.files and ident.revoked is None and ident.outputs.kubernetes:
                self.secrets[name] = obs.files[SECRET]
            if cross:
                self.batch.append((name, cross))
            touched = bool(cross) or name in run.withdrawn
            run.sealer.note(name, run.left(name, {**obs.files, **cross}), unchanged=not touched)
            return
        wanted, rewritten_keys = _files(action, run, obs, cert, key, run.issuers_of(name))
        if ident.revoked is None:  # a checkout's CRLF, where nothing else rewrites the file
            wanted = checkout.line_ending_fixes(obs.files) | wanted
        changed = {f: d for f, d in (wanted | cross).items() if obs.files.get(f) != d}
        rewritten_keys += checkout.in_place(obs.files, changed)
        self.batch.append((name, changed))
        run.sealer.note(name, run.left(name, {**obs.files, **changed}), unchanged=False)
        if rewritten_keys:
            self.in_place[name] = rewritten_keys
        if SECRET in wanted:
            self.secrets[name] = wanted[SECRET]
        if len(self.batch) >= BATCH:
            self.flush()
        if self.on_done is not None:
            self.on_done(name)

    def flush(self) -> None:
        self.run.store.replace_batch(self.batch, self.stamp, in_place=self.in_place)
        self.batch, self.in_place = [], {}


@dataclass(slots=True, kw_only=True)
class _Run:
    """What every step of one apply works with, and what it has made so far: every
    certificate (chains are built from them) and the CAs' keys (they sign); no other
    private key outlives its identity's turn."""

    spec: ResolvedSpec
    graph: IssuerGraph
    store: Store
    observed: Observed
    now: datetime
    seed: Seed | None
    passwords: Passwords
    rsa_keys: dict[IdentityName, Future[keys.PrivateKey]]
    certs: dict[IdentityName, x509.Certificate] = field(default_factory=dict)
    ca_keys: dict[IdentityName, keys.PrivateKey] = field(default_factory=dict)
    warnings: list[tuple[IdentityName, str]] = field(default_factory=list)  # (about, text)
    sealer: seals.Writer
    tokens: TokenKeys | None = None
    manifest_entries: dict[IdentityName, str] = field(default_factory=dict)  # made already
    rotations: Rotations = field(default_factory=Rotations)
    # a root rotation's cross certificates as this apply leaves them (signed here or
    # kept), those it signs, and the roots whose cross.pem it archives
    cross: dict[IdentityName, x509.Certificate | None] = field(default_factory=dict)
    cross_signed: dict[IdentityName, x509.Certificate] = field(default_factory=dict)
    withdrawn: set[IdentityName] = field(default_factory=set)
    # what carry_out returned for each identity: a rotation's roots are carried out first
    carried: dict[IdentityName, tuple[x509.Certificate | None, keys.PrivateKey | None]] = field(
        default_factory=dict
    )
    inputs: Inputs = NO_INPUTS
    # above each adopted intermediate whose issuer lives elsewhere: its issuers' certificates
    outsides: dict[IdentityName, tuple[x509.Certificate, ...]] = field(default_factory=dict)

    def issuers_of(self, name: IdentityName) -> list[x509.Certificate]:
        """The certificates above an identity as this apply leaves them, nearest first."""
        chain = self.graph.chain(name)
        top = chain[-1] if chain else name
        return [self.certs[n] for n in chain] + list(self.outsides.get(top, ()))

    def key_password(self, name: IdentityName) -> Password | None:
        return self.passwords.get(self.spec.identities[name].key_password)

    def carry_out(self, action: Action) -> tuple[x509.Certificate | None, keys.PrivateKey | None]:
        """The identity's certificate after this apply, new or the one on disk (None:
        revoked before it was ever issued), and its private key if it was needed."""
        done = self.carried.get(action.name)
        if done is None:
            done = self._carry_out(action)
            if self.spec.identities[action.name].kind.is_ca:
                # a rotation's CAs are carried out early (prepare_rotation), then met again;
                # a leaf only once, and its key does not outlive its turn
                self.carried[action.name] = done
        return done

    def _carry_out(self, action: Action) -> tuple[x509.Certificate | None, keys.PrivateKey | None]:
        name = action.name
        ident = self.spec.identities[name]
        obs = self.observed.identities[name]
        if action.verb is Verb.SKIP or (action.verb is Verb.UNCHANGED and obs.cert is None):
            return None, None
        key: keys.PrivateKey | None = obs.key
        request = self.inputs.requests.get(name)
        adoption = self.inputs.adoptions.get(name) if action.verb is Verb.ADOPT else None
        if ident.adopt is not None:
            self.outsides[name] = outside(ident, obs, self.inputs.adoptions.get(name), action)
        if adoption is not None:  # taken as it is: the api checked both were read
            key = adoption.key
        elif request is not None:
            key = None  # its key stays with the request's owner
        elif action.new_key and isinstance(ident.key_source, TokenKey):
            assert self.tokens is not None, "a spec with token keys runs with its tokens"
            key = self.tokens.make(name, self.now).private_key
        elif action.new_key:
            pending = self.rsa_keys.pop(name, None)
            key = pending.result() if pending else _new_key(ident, self.seed)
        elif key is None and (
            action.new_cert or (action.verb is Verb.REPAIR and outputs.needs_encryption(ident, obs))
        ):
            key = _reload_key(self.store, name, self.key_password(name))
        if adoption is not None:
            assert adoption.cert is not None
            cert = adoption.cert
        elif action.new_cert:
            cert = self._issue(ident, obs, key, request)
        else:
            assert obs.cert is not None
            cert = obs.cert
        self.certs[name] = cert
        if key is not None and ident.kind.is_ca:
            self.ca_keys[name] = key
        return cert, key

    def _issue(
        self,
        ident: Identity,
        obs: ObservedIdentity,
        key: keys.PrivateKey | None,
        request: Request | None,
    ) -> x509.Certificate:
        profile = desired(ident, self._issuer(ident))
        if ident.adopt is not None and obs.cert is not None:
            # --renew: the same subject, byte for byte, that everything it issued names
            profile = dataclasses.replace(profile, subject=obs.cert.subject)
        return issue(
            ident,
            profile,
            key,
            self._signer(ident),
            self.now,
            seed=self.seed,
            public_key=request.public_key if request is not None else None,
        )

    def _issuer(self, ident: Identity) -> Identity | None:
        return self.spec.identities[ident.issuer] if ident.issuer else None

    def prepare_rotation(self, plan: Plan) -> None:
        """Before anything is written: the roots of each rotation carried out (each one's
        ca.pem holds the other's certificate), then the cross certificates signed."""
        if not self.rotations and not plan.crosses:
            return
        actions = {a.name: a for a in plan.actions}
        for pair in self.rotations.pairs:
            if pair.roots:
                self.carry_out(actions[pair.old])
                self.carry_out(actions[pair.new])
        for cross in plan.crosses:
            if cross.verb is CrossVerb.ARCHIVE:
                self.withdrawn.add(cross.name)
                continue
            new, old = self.spec.identities[cross.name], self.spec.identities[cross.signer]
            signer = Signer(cert=self.certs[old.name], key=self.ca_keys[old.name])
            self.cross_signed[new.name] = cross_certificate(
                new,
                desired(new, old),
                self.certs[new.name].public_key(),
                signer,
                self.now,
                seed=self.seed,
            )
        for pair in self.rotations.pairs:
            if pair.cross_sign:
                signed = self.cross_signed.get(pair.new)
                on_disk = cross_on_disk(self.observed.identities[pair.new])
                self.cross[pair.new] = signed if signed is not None else on_disk

    def cross_file(self, name: IdentityName) -> dict[str, bytes]:
        """cross.pem, if this apply signs the identity's cross certificate."""
        signed = self.cross_signed.get(name)
        return {CROSS_FILE: pem.cert_pem(signed)} if signed is not None else {}

    def left(self, name: IdentityName, files: Mapping[str, bytes]) -> dict[str, bytes]:
        """An identity's files as this apply leaves them (a cross.pem archived is gone)."""
        if name not in self.withdrawn:
            return dict(files)
        return {f: d for f, d in files.items() if f != CROSS_FILE}

    def _signer(self, ident: Identity) -> Signer | None:
        issuer = self._issuer(ident)
        if issuer is None:
            return None
        signer = Signer(cert=self.certs[issuer.name], key=self.ca_keys[issuer.name])
        if _clamped_by(ident, signer.cert, self.now) > CLAMP_NOTICE:
            self.warnings.append(
                (
                    ident.name,
                    f"{ident.name}: validity clamped to end with its issuer {issuer.name!r} "
                    f"({signer.cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z)",
                )
            )
        return signer

    def revocation_files(self, action: RevocationAction) -> dict[str, bytes]:
        return _revocation_files(
            action, self.observed, self.certs, self.ca_keys, self.spec, self.now
        )


def _files(
    action: Action,
    run: _Run,
    obs: ObservedIdentity,
    cert: x509.Certificate,
    key: keys.PrivateKey | None,
    issuers: list[x509.Certificate],
) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """Every file of an identity that changes (or may: the caller compares bytes), and the
    key files rewritten in place: a plain key encrypted is the same key, and neither its
    plain version nor a plain copy of it beside it (key.der, secret.yaml) may linger in
    the archive."""
    name = action.name
    ident = run.spec.identities[name]
    password = run.key_password(name)
    cross, partners = rotation.extras(run.rotations, name, run.certs, run.cross)
    wanted = derived_files(cert, issuers, cross=cross, partners=[c for _, c in partners])
    if run.seed is not None:  # in the same group as the key it vouches for
        wanted[SEED_ID] = seed_id_file(run.seed.fingerprint)
    key_pem = obs.files.get(KEY_FILE)
    in_place: tuple[str, ...] = ()
    key_path = run.store.root / name / KEY_FILE
    request = run.inputs.requests.get(name)
    if request is not None:
        if action.new_cert:  # the request it was signed from, where its key.pem would be
            wanted[CSR_FILE] = request.pem
    elif ident.key_source is not None:
        pass  # the key lives in a token: no key.pem is written
    elif action.new_key or outputs.needs_encryption(ident, obs):
        assert key is not None
        secret = password.reveal() if password else None
        key_pem = wanted[KEY_FILE] = guard(
            lambda: keys.to_pem(key, secret),
            path=key_path,
            doing=f"writing the key.pem of {name!r}",
            passwords=[secret],
        )
        in_place = () if action.new_key else (KEY_FILE, KEY_DER)
    plain_copies = outputs.plain_copy_replacements(ident, obs.files, key_pem)
    wanted |= plain_copies
    if not action.new_key:  # an old key's copies go to the archive with its key.pem
        in_place = tuple(dict.fromkeys((*in_place, *plain_copies)))
    chain = run.graph.chain(name)
    material = Material(
        cert=cert,
        issuers=issuers,
        anchor=chain[-1] if chain else name,
        key_pem=key_pem,
        cross=cross,
        partners=partners,
    )
    private_key = (
        (lambda: key)
        if key is not None
        else functools.partial(_reload_key, run.store, name, password)
    )
    rewrite = list(outputs.stale_protected(ident, obs, material))
    wanted |= guard(
        lambda: outputs.build(ident, material, rewrite, run.passwords, private_key),
        path=run.store.root / name,
        doing=f"writing the outputs of {name!r}",
    )
    return wanted, in_place


def _reload_key(store: Store, name: IdentityName, password: Password | None) -> keys.PrivateKey:
    """A leaf's key, read again when it is reissued or bundled: observe keeps no leaf keys."""
    path = store.root / name / KEY_FILE
    data = store.read(name, KEY_FILE)
    if data is None:
        raise StoreError(f"{path}: vanished during apply")
    secret = password.reveal() if password else None
    try:
        return guard(
            lambda: keys.load_pem(data, secret),
            path=path,
            doing=f"opening the key.pem of {name!r}",
            passwords=[secret],
            keep=(keys.KeyLoadError,),
        )
    except keys.KeyLoadError as e:
        raise StoreError(f"{path}: {e}") from e


def _revocation_files(
    action: RevocationAction,
    observed: Observed,
    certs: Mapping[IdentityName, x509.Certificate],
    ca_keys: Mapping[IdentityName, keys.PrivateKey],
    spec: ResolvedSpec,
    now: datetime,
) -> dict[str, bytes]:
    """crl.pem + crl.der, or ocsp.der, signed by the CA as it stands after this apply."""
    ca_cert, ca_key = certs[action.signer], ca_keys[action.signer]
    validity = spec.identities[action.signer].crl_validity.delta
    this_update, next_update = signing_times(action, validity, now)
    if action.kind is ListKind.OCSP:
        response = build_ocsp_response(
            certs[action.name],
            ca_cert,
            ca_key,
            action.revoked,
            this_update=this_update,
            next_update=next_update,
        )
        return {OCSP_DER: response.public_bytes(serialization.Encoding.DER)}
    if action.verb is ListVerb.REWRITE:
        existing = observed.identities[action.name].crl
        assert existing is not None
        return {CRL_DER: crl_files(existing)[CRL_DER]}
    crl = build_crl(
        ca_cert,
        ca_key,
        action.entries,
        number=action.number,
        this_update=this_update,
        next_update=next_update,
    )
    return crl_files(crl)


def _settled(plan: Plan, run: _Run, body: bytes, spec_digest: str | None) -> bytes:
    """manifest.json, with the settled mark (cache/settled.py) when this apply leaves the
    directory as a plan would find it until some time yet to come: nothing to do. Not
    where a password is needed to check files (no digest stands in for opening them)."""
    spec = run.spec
    if spec_digest is None or any(i.password_sources() for i in spec.identities.values()):
        return manifest.close(body)
    if run.rotations:
        # plan tells where a rotation stands at every run: an answer from the mark would
        # leave that out (the rotation is a passing state; the mark returns after it)
        return manifest.close(body)
    # the mark's answer tells an identity skipped (revoked before it was ever issued) by
    # its missing folder: one with a folder all the same is planned in full
    skipped = [a.name for a in plan.actions if a.verb is Verb.SKIP]
    if len(run.store.absent(skipped)) < len(skipped):
        return manifest.close(body)
    since, until = _quiet_window(run)
    # a plan at a clock before a revoked.at finds that `at` in the future, an error
    # (revocation_planner.revoked_at_problems): the mark holds from the latest one on
    since = max(
        [since, *(i.revoked.at for i in spec.identities.values() if i.revoked and i.revoked.at)]
    )
    if since >= until or until <= run.now:
        return manifest.close(body)
    return settled.mark(
        body,
        spec=spec_digest,
        order=[a.name for a in plan.actions],
        archives=archives_to_read(spec, run.graph),
        since=since,
        until=until,
        root=run.store.root,
    )


def _quiet_window(run: _Run) -> tuple[datetime, datetime]:
    """When the clock alone gives a plan of the directory, as this apply leaves it,
    nothing to do: from the first instant returned (when everything in it is valid) until
    just before the second (a renewal, a CRL or OCSP response to re-sign). The planner's
    time checks, inverted. CRLs and OCSP responses are read back, whether this apply
    signed them or kept them."""
    spec, certs, store = run.spec, run.certs, run.store
    windows = [(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))]
    for name, ident in spec.identities.items():
        cert = certs.get(name)
        if cert is None:
            if ident.revoked:
                continue  # revoked before it was ever issued: a plan leaves it be
            return NEVER_QUIET
        issuer = spec.identities[ident.issuer] if ident.issuer else None
        windows.append(quiet_window(ident, cert, certs.get(issuer.name) if issuer else None))
        try:
            if ident.kind.is_ca and run.graph.children(name):
                crl = x509.load_pem_x509_crl(store.read(name, CRL_PEM) or b"")
                windows.append(freshness_window(crl.last_update_utc, crl.next_update_utc, ident))
            if issuer is not None and issuer.ocsp and not ident.kind.is_ca:
                response = ocsp.load_der_ocsp_response(store.read(name, OCSP_DER) or b"")
                windows.append(
                    freshness_window(response.this_update_utc, response.next_update_utc, issuer)
                )
        except ValueError:  # not written: a plan would have something to do
            return NEVER_QUIET
    return max(w[0] for w in windows), min(w[1] for w in windows)


# identities written per durable batch: bounds memory while syncs stay few
BATCH = 256

# leaves to write below which a second process costs more than it saves
PARALLEL_MIN = 128

# a leaf as long-lived as its CA is clamped by the seconds between their issuing: not news
CLAMP_NOTICE = timedelta(hours=1)


def _clamped_by(ident: Identity, issuer_cert: x509.Certificate, now: datetime) -> timedelta:
    _, not_after = validity_window(ident, issuer_cert, now)
    return now.replace(microsecond=0) + ident.validity.delta - not_after


def _files_of(ident: Identity) -> tuple[str, ...]:
    """The PEM files an identity has: key.pem, or csr.pem when it was signed from a
    request, or neither when its key is in a token."""
    if isinstance(ident.key_source, CsrKey):
        return tuple(CSR_FILE if f == KEY_FILE else f for f in IDENTITY_FILES)
    if ident.key_source is not None:
        return tuple(f for f in IDENTITY_FILES if f != KEY_FILE)
    return IDENTITY_FILES


def manifest_entry(
    ident: Identity, graph: IssuerGraph, cert: x509.Certificate
) -> dict[str, object]:
    """One identity's manifest entry, made from its certificate (disk/manifest.py)."""
    name = ident.name
    files = {
        **{f.removesuffix(".pem"): f"{name}/{f}" for f in _files_of(ident)},
        **{label: f"{name}/{f}" for label, f in outputs.manifest_files(ident).items()},
    }
    if ident.replaces is not None and ident.cross_sign and ident.kind is Kind.ROOT:
        files["cross"] = f"{name}/{CROSS_FILE}"  # a root rotation (spec/rotation.py)
    entry: dict[str, object] = {
        "kind": str(ident.kind),
        "issuer": ident.issuer,
        "chain": graph.chain(name),
        "subject": cert.subject.rfc4514_string(),
        "serial": serial_text(cert.serial_number),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key": str(ident.key),
        "fingerprints": {
            "cert_sha256": cert.fingerprint(hashes.SHA256()).hex(),
            "public_key_sha256": keys.fingerprint(cert.public_key()),
        },
        "files": files,
    }
    if isinstance(ident.key_source, TokenKey):  # where the key is: the URI, never a PIN
        entry["key_in"] = parse_token_uri(ident.key_source.uri).canonical
    if ident.replaces is not None:
        entry["replaces"] = ident.replaces
    return entry
