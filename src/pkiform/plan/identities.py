"""Decide, per identity, what apply must do: a pure function of spec, disk facts and time."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509

from pkiform.disk.observe import Observed, ObservedIdentity
from pkiform.disk.store import KEY_FILE, SEED_ID, seed_id_file
from pkiform.durations import drift_text, format_rounded
from pkiform.errors import Diagnostic
from pkiform.formats import outputs
from pkiform.formats.outputs import Material, derived_files
from pkiform.plan.passwords import password_problems
from pkiform.plan.revocations import (
    NEVER_QUIET,
    CrlOnDisk,
    RevocationAction,
    crls_on_disk,
    plan_revocation,
    revoked_at_problems,
)
from pkiform.secrets.passwords import NO_PASSWORDS, Passwords
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, Kind, Spec
from pkiform.x509.drift import differences
from pkiform.x509.issuing import BACKDATE
from pkiform.x509.keys import spec_of
from pkiform.x509.revocation import Revoked


class Verb(StrEnum):
    CREATE = "create"  # nothing on disk yet
    REISSUE = "reissue"  # new certificate, same key
    REKEY = "rekey"  # new key and new certificate
    REPAIR = "repair"  # certificate fine; other files (chain, outputs, key encryption) rewritten
    BLOCKED = "blocked"  # a CA key would have to be replaced; needs --rekey
    UNCHANGED = "unchanged"
    SKIP = "skip"  # revoked before it was ever issued: nothing to issue, nothing to list


CHANGES = frozenset({Verb.CREATE, Verb.REISSUE, Verb.REKEY, Verb.REPAIR})


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    name: IdentityName
    verb: Verb
    reasons: tuple[str, ...] = ()
    cascade_from: IdentityName | None = None

    @property
    def new_key(self) -> bool:
        return self.verb in (Verb.CREATE, Verb.REKEY)

    @property
    def new_cert(self) -> bool:
        return self.verb in (Verb.CREATE, Verb.REKEY, Verb.REISSUE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    actions: tuple[Action, ...]  # every identity, issuers first
    revocations: tuple[RevocationAction, ...] = ()  # CRLs and OCSP responses to (re-)sign
    on_disk_only: tuple[str, ...] = ()  # identity folders the spec no longer names
    retire: tuple[str, ...] = ()  # those of them that apply --prune moves to the archive
    # why trust-bundle.pem is rewritten while no root's certificate changes, else None
    trust_bundle: str | None = None
    # passwords apply needs and does not have, or that do not open a key: it refuses
    password_problems: tuple[Diagnostic, ...] = ()
    # revoked.at times no CRL may state, given the certificates and the clock: it refuses
    revoked_at_problems: tuple[Diagnostic, ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(
            self.changes or self.revocations or self.retire or self.trust_bundle is not None
        )

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.verb in CHANGES)

    @property
    def blocked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.verb is Verb.BLOCKED)


def plan(
    spec: Spec,
    graph: IssuerGraph,
    observed: Observed,
    now: datetime,
    *,
    rekey: Collection[IdentityName] = (),
    prune: bool = False,
    passwords: Passwords = NO_PASSWORDS,
    seed_id: str | None = None,
) -> Plan:
    """What apply would do, identity by identity in issuing order, then the CRLs and OCSP
    responses, then (with `prune`) the retired folders; and the passwords it lacks.
    `seed_id`: in reproducible mode, the fingerprint every identity's seed-id names."""
    decided: dict[IdentityName, Action] = {}
    materials: dict[IdentityName, Material] = {}
    crls = crls_on_disk(spec, graph, observed)
    for name in graph.order():
        ident = spec.identities[name]
        issuer = spec.identities[ident.issuer] if ident.issuer else None
        obs = observed.identities[name]
        chain = graph.chain(name)
        issuer_chain = [observed.identities[n].cert for n in chain]
        issuers = [c for c in issuer_chain if c is not None]
        if obs.cert is not None and len(issuers) == len(issuer_chain):
            materials[name] = Material(
                cert=obs.cert,
                issuers=issuers,
                anchor=chain[-1] if chain else name,
                key_pem=obs.files.get(KEY_FILE),
            )
        # certificates this CA issued were signed by key.pem: its cert.pem is what changed
        vouched = bool(obs.key_issued) and not set(obs.key_issued).isdisjoint(graph.children(name))
        decided[name] = _with_plain_copies(
            _decide(
                ident,
                issuer,
                obs,
                issuer_chain,
                decided.get(issuer.name) if issuer else None,
                now,
                name in rekey,
                key_vouched=vouched,
                material=materials.get(name),
                seed_id=seed_id,
                listed=_listed(obs.cert, crls.get(issuer.name) if issuer else None),
                archived=issuer is not None and issuer.revoke_superseded and _archived(obs),
            ),
            ident,
            obs,
        )
    revocations = plan_revocation(
        spec,
        graph,
        observed,
        new_certs={n for n, a in decided.items() if a.new_cert},
        blocked={n for n, a in decided.items() if a.verb is Verb.BLOCKED},
        now=now,
        crls=crls,
    )
    return Plan(
        actions=tuple(decided.values()),
        revocations=revocations,
        on_disk_only=observed.on_disk_only,
        retire=observed.on_disk_only if prune else (),
        trust_bundle=_trust_bundle_problem(spec, observed, decided),
        password_problems=password_problems(
            spec,
            observed,
            new_keys={n for n, a in decided.items() if a.new_key},
            new_certs={n for n, a in decided.items() if a.new_cert},
            repaired={n: materials.get(n) for n, a in decided.items() if a.verb is Verb.REPAIR},
            revocations=revocations,
            passwords=passwords,
        ),
        revoked_at_problems=revoked_at_problems(spec, observed, now),
    )


def _listed(cert: x509.Certificate | None, crl: CrlOnDisk | None) -> Revoked | None:
    """The entry for `cert` on its issuer's CRL, as the issuer published it, if any."""
    if cert is None or crl is None or not crl.published:
        return None
    return crl.entries.get(cert.serial_number)


def _archived(obs: ObservedIdentity) -> bool:
    """Whether cert.pem is one of the certificates in the identity's archive (read where
    its CA lists them: revoke_superseded)."""
    cert = obs.cert
    return cert is not None and any(
        c.serial_number == cert.serial_number for c in obs.archived_certs
    )


def _trust_bundle_problem(
    spec: Spec, observed: Observed, decided: Mapping[IdentityName, Action]
) -> str | None:
    """Why trust-bundle.pem must be rewritten while no root's certificate changes (when
    one does, that is reason enough, and the root's own action says so)."""
    roots = [n for n, ident in spec.identities.items() if ident.kind is Kind.ROOT]
    if any(decided[n].new_cert for n in roots):
        return None
    return outputs.trust_bundle_problem(
        observed.trust_bundle, {n: observed.identities[n].cert for n in roots}
    )


def archives_to_read(spec: Spec, graph: IssuerGraph) -> set[IdentityName]:
    """Identities whose archived certificates a CRL must list (revoke_superseded)."""
    return {
        child
        for name, ident in spec.identities.items()
        if ident.revoke_superseded
        for child in graph.children(name)
    }


def _decide(
    ident: Identity,
    issuer: Identity | None,
    obs: ObservedIdentity,
    issuer_chain: list[x509.Certificate | None],
    issuer_action: Action | None,
    now: datetime,
    rekey_requested: bool,
    *,
    key_vouched: bool = False,
    material: Material | None = None,
    seed_id: str | None = None,
    listed: Revoked | None = None,
    archived: bool = False,
) -> Action:
    def act(verb: Verb, *reasons: str, cascade: IdentityName | None = None) -> Action:
        return Action(name=ident.name, verb=verb, reasons=reasons, cascade_from=cascade)

    if obs.interrupted:
        # its files are half swapped: apply completes the swap before it plans anything
        return act(Verb.REPAIR, "an earlier apply was interrupted here; apply finishes it")
    if ident.revoked is not None:
        if never_issued(ident, obs):
            return act(Verb.SKIP, NEVER_ISSUED)
        return act(Verb.UNCHANGED)  # revoked: frozen as it is, listed on its issuer's CRL
    if not obs.has_cert_file and not obs.has_key_file:
        return act(Verb.CREATE)
    if rekey_requested:
        return act(Verb.REKEY, "--rekey asked for a new key")

    key_reason = _key_problem(ident, obs, key_vouched=key_vouched)
    if key_reason is not None:
        if ident.kind.is_ca and obs.cert is not None and not _spec_changed_key(ident, obs):
            return act(
                Verb.BLOCKED,
                f"{key_reason} while its certificate is still there; a CA key is never "
                f"replaced implicitly: pass --rekey {ident.name} to replace it and reissue "
                "everything below it",
            )
        return act(Verb.REKEY, key_reason)

    reasons: list[str] = []
    cascade = None
    if issuer_action is not None and issuer_action.verb in (Verb.CREATE, Verb.REKEY):
        reasons.append(f"issuer {issuer_action.name!r} gets a new key")
        cascade = issuer_action.name
    elif issuer_action is not None and issuer_action.verb is Verb.REISSUE:
        reasons.append(f"issuer {issuer_action.name!r} is reissued")
        cascade = issuer_action.name

    cert = obs.cert
    if cert is None:
        reasons.append(obs.cert_problem or "cert.pem is missing")
    elif not (obs.key_matches_cert or obs.key_locked):
        reasons.append("cert.pem does not match key.pem")
    else:
        issuer_cert = issuer_chain[0] if issuer_chain else None
        if not obs.sealed:  # a seal vouches for these, as for the repairs below
            reasons.extend(differences(ident, issuer, cert))
            if cascade is None:
                link = _issuer_link_problem(cert, issuer_cert if issuer else cert, issuer)
                if link:
                    reasons.append(link)
        reasons.extend(_time_reasons(ident, cert, issuer_cert, now))
        # a certificate in use is never on its issuer's CRL: one restored from a backup
        # after it was superseded, or whose revocation the spec took back, is replaced
        # (RFC 5280 §3.3: a revocation is final); a certificateHold is released instead
        if issuer is not None and listed is not None and listed.reason != "certificateHold":
            reasons.append(
                f"cert.pem is listed as revoked ({listed.reason}) on the CRL of issuer "
                f"{issuer.name!r}"
            )
        elif issuer is not None and archived:  # not yet listed, but the CRL will list it
            reasons.append(
                "cert.pem is a superseded certificate (in its archive), which "
                f"revoke_superseded lists on the CRL of issuer {issuer.name!r}"
            )
    if reasons and ident.rotate_key:
        return act(
            Verb.REKEY, *reasons, "rotate_key: a fresh key at every reissue", cascade=cascade
        )
    if reasons:
        return act(Verb.REISSUE, *reasons, cascade=cascade)
    # a folder a pkiform without seed-id files derived (its manifest.json vouched for it)
    marker = {SEED_ID: seed_id_file(seed_id)} if seed_id is not None else {}
    repairs = list(outputs.file_problems(marker, obs.files).values())
    if obs.sealed and not repairs:
        return act(Verb.UNCHANGED)

    # no material: an issuer has no certificate, is planned as create, and cascades
    if material is not None:
        layout = derived_files(material.cert, material.issuers)
        repairs += outputs.file_problems(layout, obs.files).values()
    if outputs.needs_encryption(ident, obs):
        repairs.append("key.pem is not encrypted; key.encrypt asks for it (same key)")
    if material is not None:
        repairs.extend(outputs.stale(ident, obs, material).values())
    if repairs:
        return act(Verb.REPAIR, *repairs)
    return act(Verb.UNCHANGED)


def _with_plain_copies(action: Action, ident: Identity, obs: ObservedIdentity) -> Action:
    """Whatever else apply does to an identity, it replaces the plain copies of a key that
    key.encrypt protects (execute._files), and plan says so; they alone make a repair."""
    if ident.key_password is None or ident.revoked is not None:
        return action  # no key.encrypt: nothing to look for; revoked: frozen
    if action.verb is Verb.BLOCKED:
        return action  # apply writes nothing
    notes = outputs.plain_copy_repairs(ident, obs.files, new_key=action.new_key)
    if not notes:
        return action
    verb = Verb.REPAIR if action.verb is Verb.UNCHANGED else action.verb
    return replace(action, verb=verb, reasons=(*action.reasons, *notes))


NEVER_ISSUED = "revoked before it was ever issued: nothing to issue, nothing to list"


def never_issued(ident: Identity, obs: ObservedIdentity) -> bool:
    """Revoked while it has neither key nor certificate: apply never issues what the spec
    revokes, so it has none to list on a CRL either."""
    return ident.revoked is not None and not obs.has_cert_file and not obs.has_key_file


def _key_problem(ident: Identity, obs: ObservedIdentity, *, key_vouched: bool) -> str | None:
    """Why the key on disk cannot be kept, or None. Where key.pem and cert.pem disagree,
    a leaf keeps its key (cert.pem is reissued for it) unless it is another identity's;
    a CA keeps it only when the certificates it issued show it is the CA's own key."""
    if obs.key_locked:
        if ident.key_password is None:
            return "key.pem is encrypted, and the spec sets no key.encrypt password to open it"
        # taken to be cert.pem's key until it must be opened; then its password must be given
        have = spec_of(obs.cert.public_key()) if obs.cert is not None else ident.key
        return None if have == ident.key else f"key: {have or 'unsupported type'} -> {ident.key}"
    if obs.public_key is None:
        return obs.key_problem or "key.pem is missing"
    have = spec_of(obs.public_key)
    if have != ident.key:
        return f"key: {have or 'unsupported type'} -> {ident.key}"
    if obs.cert is None or obs.key_matches_cert:
        return None
    if obs.key_holders:
        return f"key.pem does not match cert.pem: it is the key of identity {obs.key_holders[0]!r}"
    if ident.kind.is_ca and not key_vouched:
        return "key.pem does not match cert.pem"
    return None


def _spec_changed_key(ident: Identity, obs: ObservedIdentity) -> bool:
    """The spec asks for another key type than the certificate (and key.pem, if there is
    one) has: an explicit rekey. A key.pem that fits the spec is never replaced for it."""
    assert obs.cert is not None
    key_fits = obs.key is not None and spec_of(obs.key.public_key()) == ident.key
    return not key_fits and spec_of(obs.cert.public_key()) != ident.key


def _issuer_link_problem(
    cert: x509.Certificate, issuer_cert: x509.Certificate | None, issuer: Identity | None
) -> str | None:
    """Whether `cert` names `issuer_cert` as its issuer, by name and key identifier.

    A replaced issuer (new key, or another CA of the same name) changes its key
    identifier, so this finds what a signature check would at a fraction of the cost
    on a no-op run; `status` still verifies every signature."""
    who = f"issuer {issuer.name!r}" if issuer else "itself"
    if issuer_cert is None:
        return f"{who} has no usable certificate"
    if cert.issuer != issuer_cert.subject or (
        issuer is not None and _key_id(cert, AKI) != _key_id(issuer_cert, SKI)
    ):
        return f"not issued by the current certificate of {who}"
    return None


AKI = x509.AuthorityKeyIdentifier
SKI = x509.SubjectKeyIdentifier


def _key_id(cert: x509.Certificate, kind: type[AKI | SKI]) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def _time_reasons(
    ident: Identity, cert: x509.Certificate, issuer_cert: x509.Certificate | None, now: datetime
) -> list[str]:
    drift = _validity_drift(ident, cert, issuer_cert)
    if drift:
        return [drift]
    not_after = cert.not_valid_after_utc
    if not_after <= now:
        return [f"expired {not_after:%Y-%m-%d %H:%M}Z ({format_rounded(now - not_after)} ago)"]
    early = not_yet_valid(cert.not_valid_before_utc, now)
    if early:
        return [early]
    due = renewal_due(ident, cert, issuer_cert, now)
    return [due] if due else []


def not_yet_valid(not_before: datetime, now: datetime) -> str | None:
    """Why a certificate is not valid at `now`: signed for a later time (`apply --at`, or
    a clock since set back by more than the backdating), which peers refuse until then."""
    if not_before > now:
        return (
            f"not valid before {not_before:%Y-%m-%d %H:%M}Z (in {format_rounded(not_before - now)})"
        )
    return None


def _validity_drift(
    ident: Identity, cert: x509.Certificate, issuer_cert: x509.Certificate | None
) -> str | None:
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    issuer_end = issuer_cert.not_valid_after_utc if issuer_cert else None
    # a certificate cut short to end with its issuer is what the spec allows, not drift
    clamped = issuer_end is not None and not_after == issuer_end
    length = not_after - not_before
    wanted = ident.validity.delta + BACKDATE
    if abs(length - wanted) > timedelta(seconds=1) and not (clamped and length < wanted):
        return drift_text("validity", length, BACKDATE, str(ident.validity))
    return None


def quiet_window(
    ident: Identity, cert: x509.Certificate, issuer_cert: x509.Certificate | None
) -> tuple[datetime, datetime]:
    """The time checks inverted: `_time_reasons` finds nothing to say about this
    certificate from the first instant returned (its notBefore) until just before the
    second (its renewal or expiry); NEVER_QUIET if it has something to say at any time."""
    if _validity_drift(ident, cert, issuer_cert):
        return NEVER_QUIET
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if issuer_cert is not None and issuer_cert.not_valid_after_utc <= not_after:
        return not_before, not_after  # never due for renewal (a new one would end no later)
    # renewal_due holds once both its conditions do
    return not_before, max(not_after - ident.renew_before.delta, not_after - ident.validity.delta)


def renewal_due(
    ident: Identity, cert: x509.Certificate, issuer_cert: x509.Certificate | None, now: datetime
) -> str | None:
    """Why the certificate is due for renewal, or None. A certificate cut short to end with
    its issuer is not due because of that: a new one would end no later."""
    not_after = cert.not_valid_after_utc
    left = not_after - now
    fresh_end = now + ident.validity.delta
    if issuer_cert is not None:
        fresh_end = min(fresh_end, issuer_cert.not_valid_after_utc)
    if left < ident.renew_before.delta and fresh_end > not_after:
        left_text = format_rounded(left)
        return f"expires {not_after:%Y-%m-%d} (in {left_text}) < renew_before {ident.renew_before}"
    return None
