"""A CA rotation planned against what is on disk (issue 16): the cross certificates to
sign or archive, the files that change because a partner root or a cross certificate
does, where each rotation stands, and the retirement that would strand a server.

Pure, like the planner: the spec says what each identity's files hold in a rotation
(spec/rotation.py); this module compares that with the certificates on disk.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime

from cryptography import x509

from pkiform.disk.observe import Observed, ObservedIdentity
from pkiform.errors import Diagnostic
from pkiform.formats.pem import cert_pem
from pkiform.layout import CA_FILE, CHAIN_FILE, CROSS_FILE, FULLCHAIN_FILE, TRUST_BUNDLE
from pkiform.plan.due import certificate_due, not_yet_valid, renewal_due
from pkiform.plan.types import Action, CrossAction, CrossVerb, Rotation, Verb
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, Kind, ResolvedSpec
from pkiform.spec.rotation import Pair, Rotations
from pkiform.x509.drift import differences
from pkiform.x509.keys import spki_der

Cert = x509.Certificate
Extras = tuple[Cert | None, tuple[tuple[str, Cert], ...]]


def cross_on_disk(obs: ObservedIdentity) -> Cert | None:
    """The cross certificate in an identity's folder, if it holds one readable one."""
    return _one_cert(obs.files.get(CROSS_FILE))


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
    if old_obs.cert is None or not _signed_by(cross, old_obs.cert):
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
    leaving = {n: cert_pem(c) for n, c in observed.on_disk_only_certs.items() if _is_root(c)}
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


# -- where each rotation stands -------------------------------------------------------


def reports(
    spec: ResolvedSpec, graph: IssuerGraph, rotations: Rotations, observed: Observed
) -> tuple[Rotation, ...]:
    """Where each rotation stands: what the spec still places below the old CA, what is
    placed below the new one but chained to the old one on disk, which trust files on
    disk lack the new root; and what to deploy before the next step, which it names."""
    order = {n: i for i, n in enumerate(graph.order())}
    issuer_on_disk = _issuers_on_disk(spec, observed)
    replaced = {p.old for p in rotations.pairs}
    out = []
    for pair in rotations.pairs:
        on_old = _below(graph, pair.old, order)
        below_new = _below(graph, pair.new, order)
        moving = tuple(n for n in below_new if _chains_through(n, pair.old, issuer_on_disk))
        without = _without_new(spec, graph, observed, pair) if pair.roots else ()
        deploy, step = _next(graph, pair, on_old, below_new, replaced)
        out.append(
            Rotation(
                new=pair.new,
                old=pair.old,
                kind=str(Kind.ROOT if pair.roots else Kind.INTERMEDIATE),
                cross_sign=pair.cross_sign,
                on_old=on_old,
                moving=moving,
                without_new=without,
                next_step="move" if on_old else "retire",
                deploy=deploy,
                next=step,
            )
        )
    return tuple(out)


def _next(
    graph: IssuerGraph,
    pair: Pair,
    on_old: tuple[IdentityName, ...],
    below_new: tuple[IdentityName, ...],
    replaced: Collection[IdentityName],
) -> tuple[str, str]:
    """What to deploy before the next step, and the next step, in words."""
    moved = (
        f"the new cert.pem, chain.pem and fullchain.pem (and outputs) of everything below "
        f"{pair.new!r} to where each is used"
    )
    if not on_old:
        return (
            moved,
            f"retire {pair.old!r}: remove it, and replaces from {pair.new!r}, from the spec",
        )
    # a CA below the old one that has a successor of its own leaves with its own rotation
    handed = [c for c in graph.children(pair.old) if c in replaced]
    movable = [c for c in graph.children(pair.old) if c not in replaced]
    if movable:
        step = (
            f"move what {pair.old!r} issues under {pair.new!r} (issuer: {pair.new}): "
            + ", ".join(movable)
        )
    else:
        step = (
            f"finish the rotation of {', '.join(handed)} (move what it issues, retire it), "
            f"then retire {pair.old!r}"
        )
    if pair.roots:
        trust = "every ca.pem, trust-bundle.pem and truststore.p12 to every relying party"
    else:
        root = _anchor(graph, pair.new)
        if root == _anchor(graph, pair.old):
            trust = f"no trust file (relying parties trust the root {root!r} already)"
        else:
            trust = f"what the rotation of the root {root!r} asks for"
    return (f"{trust}; and {moved}" if below_new else trust), step


def _below(
    graph: IssuerGraph, name: IdentityName, order: Mapping[IdentityName, int]
) -> tuple[IdentityName, ...]:
    """Every identity below `name` in the spec, in issuing order."""
    found, todo = [], list(graph.children(name))
    while todo:
        child = todo.pop()
        found.append(child)
        todo += graph.children(child)
    return tuple(sorted(found, key=order.__getitem__))


def _anchor(graph: IssuerGraph, name: IdentityName) -> IdentityName:
    chain = graph.chain(name)
    return chain[-1] if chain else name


def _issuers_on_disk(
    spec: ResolvedSpec, observed: Observed
) -> dict[IdentityName, IdentityName | None]:
    """Who issued each identity's certificate on disk, by key identifier and name, among
    the CAs of the spec as they are on disk (not as the spec places them)."""
    by_key: dict[tuple[bytes, bytes], IdentityName] = {}
    for name, ident in spec.identities.items():
        cert = observed.identities[name].cert
        ski = _key_id(cert, x509.SubjectKeyIdentifier) if cert is not None else None
        if ident.kind.is_ca and cert is not None and ski is not None:
            by_key[(ski, cert.subject.public_bytes())] = name
    found: dict[IdentityName, IdentityName | None] = {}
    for name in spec.identities:
        cert = observed.identities[name].cert
        aki = _key_id(cert, x509.AuthorityKeyIdentifier) if cert is not None else None
        found[name] = (
            by_key.get((aki, cert.issuer.public_bytes())) if cert is not None and aki else None
        )
    return found


def _chains_through(
    name: IdentityName,
    ca: IdentityName,
    issuer_on_disk: Mapping[IdentityName, IdentityName | None],
) -> bool:
    seen = {name}
    current = issuer_on_disk.get(name)
    while current is not None and current not in seen:
        if current == ca:
            return True
        seen.add(current)
        current = issuer_on_disk.get(current)
    return False


def _without_new(
    spec: ResolvedSpec, graph: IssuerGraph, observed: Observed, pair: Pair
) -> tuple[str, ...]:
    """The trust files on disk that do not hold the new root's certificate: each
    identity's ca.pem below either root (the roots' own too), then trust-bundle.pem (a
    file not written yet is not listed: apply writes it whole)."""
    new_cert = observed.identities[pair.new].cert
    wanted = cert_pem(new_cert) if new_cert is not None else None
    missing: list[str] = []
    for name in graph.order():
        have = observed.identities[name].files.get(CA_FILE)
        if (
            have is not None
            and _anchor(graph, name) in (pair.old, pair.new)
            and spec.identities[name].revoked is None
            and (wanted is None or wanted not in have)
        ):
            missing.append(name)
    bundle = observed.trust_bundle
    if bundle is not None and (wanted is None or wanted not in bundle):
        missing.append(TRUST_BUNDLE)
    return tuple(missing)


# -- retirement -----------------------------------------------------------------------


def retire_problems(
    spec: ResolvedSpec, graph: IssuerGraph, observed: Observed
) -> tuple[Diagnostic, ...]:
    """A root retired too early: the spec no longer names a root whose folder is on disk,
    while an identity of the spec still presents there a chain that reaches that root
    alone, and its ca.pem holds that root beside another (the trust files of a
    rotation: relying parties were told of the other root). After this step its relying
    parties may trust only the other root, and refuse that identity until its new files
    are deployed: it must move in a step of its own first. (A root removed without a
    rotation, in one hard cut, is the user's call, as before.)"""
    leaving = {n: c for n, c in observed.on_disk_only_certs.items() if _is_root(c)}
    if not leaving:
        return ()
    kept = {
        n: c
        for n, i in spec.identities.items()
        if i.kind is Kind.ROOT and (c := observed.identities[n].cert) is not None
    }
    flagged: dict[IdentityName, tuple[str, str]] = {}  # name -> (leaving root, other root)
    for name, ident in spec.identities.items():
        obs = observed.identities[name]
        if ident.kind is Kind.ROOT or ident.revoked is not None or obs.cert is None:
            continue
        presented = [obs.cert, *_certs(obs.files.get(CHAIN_FILE))]
        reach = [n for n, c in (*leaving.items(), *kept.items()) if _reaches(presented, c)]
        if not reach or any(n in kept for n in reach):
            continue
        trusted = _certs(obs.files.get(CA_FILE))
        gone = next((n for n in reach if leaving[n] in trusted), None)
        other = next((n for n, c in kept.items() if c in trusted), None)
        if gone is not None and other is not None:
            flagged[name] = (gone, other)
    return tuple(
        _too_early(spec.identities[name], gone, other, _count_below(graph, name, flagged))
        for name, (gone, other) in flagged.items()
        if graph.issuer_of.get(name) not in flagged
    )


def _too_early(ident: Identity, gone: str, other: str, below: int) -> Diagnostic:
    more = f" (and {below} identit{'y' if below == 1 else 'ies'} below it)" if below else ""
    return Diagnostic(
        loc=ident.loc,
        path=f"identities.{ident.name}",
        message=(
            f"retiring {gone!r} too early: on disk, {ident.name!r}{more} still chains to "
            f"{gone!r} alone, and relying parties that trust only {other!r} after this step "
            f"would refuse it until its new files are deployed; keep {gone!r} in the spec "
            f"until {ident.name!r} has moved under {other!r} (apply, then deploy its "
            "files), then remove it"
        ),
    )


def _count_below(
    graph: IssuerGraph, name: IdentityName, flagged: Mapping[IdentityName, object]
) -> int:
    count, todo = 0, list(graph.children(name))
    while todo:
        child = todo.pop()
        if child in flagged:
            count += 1
            todo += graph.children(child)
    return count


def _reaches(presented: list[Cert], root: Cert) -> bool:
    """Whether a certificate of a presented chain names `root` as its issuer (by name and
    key identifier): its relying parties can end the chain there."""
    ski = _key_id(root, x509.SubjectKeyIdentifier)
    return any(
        c.issuer == root.subject and _key_id(c, x509.AuthorityKeyIdentifier) == ski
        for c in presented
    )


def _is_root(cert: Cert) -> bool:
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False
    return ca and cert.issuer == cert.subject


def _signed_by(cert: Cert, issuer: Cert) -> bool:
    if cert.issuer != issuer.subject:
        return False
    if _key_id(cert, x509.AuthorityKeyIdentifier) != _key_id(issuer, x509.SubjectKeyIdentifier):
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, ValueError, TypeError: all mean "not issued by"
        return False
    return True


def _key_id(
    cert: Cert, kind: type[x509.SubjectKeyIdentifier] | type[x509.AuthorityKeyIdentifier]
) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest
    return value.key_identifier


def _one_cert(data: bytes | None) -> Cert | None:
    certs = _certs(data)
    return certs[0] if len(certs) == 1 else None


def _certs(data: bytes | None) -> list[Cert]:
    if not data:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []
