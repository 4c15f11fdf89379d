"""A CA rotation planned against what is on disk (issue 16): the cross certificates to
sign or archive, and the files that change because a partner root or a cross
certificate does. rotation_state.py says where each rotation stands.

Pure, like the planner: the spec says what each identity's files hold in a rotation
(spec/rotation.py); this module compares that with the certificates on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from cryptography import x509

from pkiform.disk.observe import Observed, ObservedIdentity
from pkiform.formats.pem import cert_pem
from pkiform.layout import CA_FILE, CHAIN_FILE, CROSS_FILE, FULLCHAIN_FILE
from pkiform.plan.due import certificate_due, not_yet_valid, renewal_due
from pkiform.plan.types import Action, CrossAction, CrossVerb, Verb
from pkiform.spec.model import Identity, IdentityName, Kind, ResolvedSpec
from pkiform.spec.rotation import Rotations
from pkiform.x509.drift import differences
from pkiform.x509.keys import spki_der
from pkiform.x509.links import is_root, one_cert, signed_by

Cert = x509.Certificate
Extras = tuple[Cert | None, tuple[tuple[str, Cert], ...]]


def cross_on_disk(obs: ObservedIdentity) -> Cert | None:
    """The cross certificate in an identity's folder, if it holds one readable one."""
    return one_cert(obs.files.get(CROSS_FILE))


def extras(
    rotations: Rotations,
    name: IdentityName,
    certs: Mapping[IdentityName, Cert | None],
    crosses: Mapping[IdentityName, Cert | None],
) -> Extras:
    """What an identity's files take from its rotation, given the certificates and cross
    certificates there are: the cross certificate its chain ends with, and its partner
    root (by name) for its trust files."""
    partners = tuple((p, c) for p in rotations.partners(name) if (c := certs.get(p)) is not None)
    source = rotations.cross_from(name)
    return (crosses.get(source) if source is not None else None), partners


def crosses_on_disk(rotations: Rotations, observed: Observed) -> dict[IdentityName, Cert | None]:
    """The cross certificate on disk of every new root that carries one."""
    return {
        p.new: cross_on_disk(observed.identities[p.new]) for p in rotations.pairs if p.cross_sign
    }


# -- cross certificates ---------------------------------------------------------------


def plan_crosses(
    spec: ResolvedSpec,
    rotations: Rotations,
    observed: Observed,
    decided: Mapping[IdentityName, Action],
    now: datetime,
) -> tuple[CrossAction, ...]:
    """Each cross.pem to sign (missing, or no longer what the spec and the two roots make
    it), and each to archive (its rotation is over)."""
    out = []
    for name, ident in spec.identities.items():
        if ident.kind is not Kind.ROOT:
            continue
        obs = observed.identities[name]
        signer = rotations.cross_signer(name)
        if signer is None:
            if CROSS_FILE in obs.files:
                why = (
                    f"cross_sign is off: {name!r} is no longer cross-signed by {ident.replaces!r}"
                    if ident.replaces is not None
                    else f"the rotation is over: {name!r} replaces no root any more"
                )
                out.append(
                    CrossAction(name=name, signer=name, verb=CrossVerb.ARCHIVE, reasons=(why,))
                )
            continue
        mine, theirs = decided[name], decided[signer]
        if Verb.BLOCKED in (mine.verb, theirs.verb):
            continue  # apply refuses: nothing is signed
        old = spec.identities[signer]
        reasons = _cross_reasons(ident, old, obs, observed.identities[signer], mine, theirs, now)
        if reasons:
            verb = CrossVerb.SIGN if CROSS_FILE not in obs.files else CrossVerb.RESIGN
            out.append(CrossAction(name=name, signer=signer, verb=verb, reasons=tuple(reasons)))
    return tuple(out)


def _cross_reasons(
    new: Identity,
    old: Identity,
    new_obs: ObservedIdentity,
    old_obs: ObservedIdentity,
    mine: Action,
    theirs: Action,
    now: datetime,
) -> list[str]:
    """Why the new root's cross.pem must be (re-)signed: it is missing or unreadable, a
    key behind it changes, the old root is reissued, or it no longer is what the spec
    and the two roots' certificates make it (a cross certificate is re-signed when the
    new root's key or the old root changes, and renewed on time)."""
    if CROSS_FILE not in new_obs.files:
        return ["cross.pem is missing"]
    cross = cross_on_disk(new_obs)
    if cross is None:
        return ["cross.pem is not a readable PEM certificate"]
    reasons = []
    if mine.new_key:
        reasons.append(f"{new.name!r} gets a new key")
    if theirs.new_key:
        reasons.append(f"{old.name!r} gets a new key")
    elif theirs.new_cert:
        reasons.append(f"{old.name!r} is reissued")
    if reasons or old_obs.cert is None:
        return reasons or [f"{old.name!r} has no certificate"]
    return cross_problems(new, old, new_obs, old_obs, cross) + certificate_due(
        new, cross, old_obs.cert, now
    )


def cross_problems(
    new: Identity,
    old: Identity,
    new_obs: ObservedIdentity,
    old_obs: ObservedIdentity,
    cross: Cert,
) -> list[str]:
    """How a cross certificate on disk differs from what the spec and the two roots'
    certificates on disk make it, the clock aside: its key, its subject and
    extensions, its signer."""
    problems = []
    key = new_obs.public_key or (new_obs.cert.public_key() if new_obs.cert else None)
    if key is not None and spki_der(key) != spki_der(cross.public_key()):
        problems.append(f"cross.pem holds another key than {new.name!r}")
    problems += differences(new, old, cross)
    if old_obs.cert is None or not signed_by(cross, old_obs.cert):
        problems.append(f"cross.pem is not signed by the current certificate of {old.name!r}")
    return problems


def cross_findings(
    spec: ResolvedSpec,
    rotations: Rotations,
    observed: Observed,
    name: IdentityName,
    now: datetime,
) -> tuple[list[str], list[str]]:
    """What `status` says about a root's cross.pem: errors, then warnings."""
    ident, obs = spec.identities[name], observed.identities[name]
    signer = rotations.cross_signer(name)
    if signer is None:
        if CROSS_FILE in obs.files and ident.kind is Kind.ROOT:
            return [], [
                "cross.pem is left from a rotation that is over (pkiform apply archives it)"
            ]
        return [], []
    cross = cross_on_disk(obs)
    if cross is None:
        missing = CROSS_FILE not in obs.files
        return [
            "cross.pem is missing" if missing else "cross.pem is not a readable PEM certificate"
        ], []
    old_obs = observed.identities[signer]
    errors = cross_problems(ident, spec.identities[signer], obs, old_obs, cross)
    warnings = []
    end = cross.not_valid_after_utc
    if end <= now:
        errors.append(f"cross.pem expired {end:%Y-%m-%d %H:%M}Z")
    elif early := not_yet_valid(cross.not_valid_before_utc, now):
        errors.append(f"cross.pem is {early}")
    elif due := renewal_due(ident, cross, old_obs.cert, now):
        warnings.append(f"cross.pem renewal due: {due}")
    return errors, warnings


def with_repairs(
    spec: ResolvedSpec,
    rotations: Rotations,
    decided: dict[IdentityName, Action],
    crosses: tuple[CrossAction, ...],
) -> None:
    """Identities whose files change only because their partner root gets a new
    certificate (ca.pem) or their new root a new cross certificate (chain.pem): apply
    rewrites those files, and plan says why."""
    signed = {c.name for c in crosses if c.verb is not CrossVerb.ARCHIVE}
    new_roots = {p.new for p in rotations.pairs}
    for name, action in decided.items():
        if action.verb not in (Verb.UNCHANGED, Verb.REPAIR) or spec.identities[name].revoked:
            continue
        reasons, stale = [], set()  # what this apply changes, and what that says already
        for partner in rotations.partners(name):
            verb = decided[partner].verb
            if verb is Verb.CREATE:
                which = "new" if partner in new_roots else "old"
                reasons.append(f"ca.pem gains the {which} root {partner!r}")
            elif decided[partner].new_cert:
                reasons.append(f"ca.pem gets the new certificate of root {partner!r}")
        if reasons:
            stale.add(_OUT_OF_DATE.format(CA_FILE))
        source = rotations.cross_from(name)
        if source in signed:
            reasons.append(f"chain.pem gets the new cross certificate of {source!r}")
            stale |= {_OUT_OF_DATE.format(f) for f in (CHAIN_FILE, FULLCHAIN_FILE)}
        if reasons:
            kept = tuple(r for r in action.reasons if r not in stale)
            decided[name] = replace(action, verb=Verb.REPAIR, reasons=(*kept, *reasons))


def with_endings(
    decided: dict[IdentityName, Action],
    crosses: tuple[CrossAction, ...],
    observed: Observed,
) -> None:
    """When a rotation ends (the old root retired, or the new one taken back), say what
    the files that change drop: the cross certificate their chain.pem ends with, and the
    root that left the spec from their ca.pem."""
    archived = {
        c.name: data
        for c in crosses
        if c.verb is CrossVerb.ARCHIVE
        and (data := observed.identities[c.name].files.get(CROSS_FILE))
    }
    leaving = {n: cert_pem(c) for n, c in observed.on_disk_only_certs.items() if is_root(c)}
    if not archived and not leaving:
        return
    for name, action in decided.items():
        if action.verb is not Verb.REPAIR:
            continue
        files = observed.identities[name].files
        notes: list[str] = []
        stale: set[str] = set()
        for root, cross in archived.items():
            if cross in files.get(CHAIN_FILE, b""):
                notes.append(f"chain.pem drops the cross certificate of {root!r}")
                stale |= {_OUT_OF_DATE.format(f) for f in (CHAIN_FILE, FULLCHAIN_FILE)}
        for gone, data in leaving.items():
            if data in files.get(CA_FILE, b""):
                notes.append(f"ca.pem drops the root {gone!r}, which left the spec")
                stale.add(_OUT_OF_DATE.format(CA_FILE))
        if notes:
            kept = tuple(r for r in action.reasons if r not in stale)
            decided[name] = replace(action, reasons=(*kept, *notes))


# formats/outputs.file_problems' words for a file whose bytes differ: compared with the
# partner's or the cross certificate on disk, which this apply replaces, it says nothing
_OUT_OF_DATE = "{} is out of date"
