"""Where a CA rotation stands on disk (issue 16), for plan and status: what is still
below the old CA, what the spec moved and the disk has not yet, which trust files lack
the new root, what to deploy before the next step; and the retirement that would strand
a server.

Pure, like the planner: facts of the spec (spec/rotation.py) against facts on disk.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from cryptography import x509

from pkiform.disk.observe import Observed
from pkiform.errors import Diagnostic
from pkiform.formats.pem import cert_pem
from pkiform.layout import CA_FILE, CHAIN_FILE, TRUST_BUNDLE
from pkiform.plan.types import Rotation
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, Kind, ResolvedSpec
from pkiform.spec.rotation import Pair, Rotations
from pkiform.x509.links import is_root, key_id, names_as_issuer, pem_certs

Cert = x509.Certificate


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
        root = graph.anchor(pair.new)
        if root == graph.anchor(pair.old):
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


def _issuers_on_disk(
    spec: ResolvedSpec, observed: Observed
) -> dict[IdentityName, IdentityName | None]:
    """Who issued each identity's certificate on disk, by key identifier and name, among
    the CAs of the spec as they are on disk (not as the spec places them)."""
    by_key: dict[tuple[bytes, bytes], IdentityName] = {}
    for name, ident in spec.identities.items():
        cert = observed.identities[name].cert
        ski = key_id(cert, x509.SubjectKeyIdentifier) if cert is not None else None
        if ident.kind.is_ca and cert is not None and ski is not None:
            by_key[(ski, cert.subject.public_bytes())] = name
    found: dict[IdentityName, IdentityName | None] = {}
    for name in spec.identities:
        cert = observed.identities[name].cert
        aki = key_id(cert, x509.AuthorityKeyIdentifier) if cert is not None else None
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
            and graph.anchor(name) in (pair.old, pair.new)
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
    leaving = {n: c for n, c in observed.on_disk_only_certs.items() if is_root(c)}
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
        presented = [obs.cert, *pem_certs(obs.files.get(CHAIN_FILE))]
        reach = [n for n, c in (*leaving.items(), *kept.items()) if _reaches(presented, c)]
        if not reach or any(n in kept for n in reach):
            continue
        trusted = pem_certs(obs.files.get(CA_FILE))
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
    return any(names_as_issuer(c, root) for c in presented)
