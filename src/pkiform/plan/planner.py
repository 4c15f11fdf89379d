"""The plan: what apply must do to make the output directory match the spec, identity by
identity in issuing order, then the CRLs and OCSP responses, then what `--prune`
retires. A pure function of the spec, the facts on disk and the clock."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from cryptography import x509

from pkiform.disk.observe import Observed, ObservedIdentity
from pkiform.formats import pem
from pkiform.formats.outputs import Material
from pkiform.layout import KEY_FILE
from pkiform.plan import rotation, rotation_state
from pkiform.plan.adopted import (
    decide_adopted,
    outside,
    renewal_note,
    source_notes,
    trust_anchors,
)
from pkiform.plan.checkout import git_file_problems, tightening, with_line_endings
from pkiform.plan.identities import decide, with_plain_copies
from pkiform.plan.passwords import password_problems
from pkiform.plan.revocations import CrlOnDisk, crls_on_disk, plan_revocation, revoked_at_problems
from pkiform.plan.types import Action, Plan, Verb
from pkiform.secrets.passwords import NO_PASSWORDS, Passwords
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import IdentityName, ResolvedSpec
from pkiform.spec.rotation import Rotations
from pkiform.x509.crl_entry import Revoked
from pkiform.x509.inputs import NO_INPUTS, Inputs


def plan(
    spec: ResolvedSpec,
    graph: IssuerGraph,
    observed: Observed,
    now: datetime,
    *,
    rekey: Collection[IdentityName] = (),
    renew: Collection[IdentityName] = (),
    prune: bool = False,
    passwords: Passwords = NO_PASSWORDS,
    seed_id: str | None = None,
    inputs: Inputs = NO_INPUTS,
) -> Plan:
    """What apply would do, identity by identity in issuing order, then the CRLs and OCSP
    responses, then (with `prune`) the retired folders; and the passwords it lacks.
    `seed_id`: in reproducible mode, the fingerprint every identity's seed-id names;
    `inputs`: what was read of the files the spec names (requests, CAs to adopt)."""
    decided: dict[IdentityName, Action] = {}
    materials: dict[IdentityName, Material] = {}
    notes: list[tuple[IdentityName, str]] = []
    # above each adopted intermediate whose issuer lives elsewhere: its issuers' certificates
    outsides: dict[IdentityName, tuple[x509.Certificate, ...]] = {}
    crls = crls_on_disk(spec, graph, observed)
    rotations = Rotations.of(spec, graph)
    certs = {n: o.cert for n, o in observed.identities.items()} if rotations else {}
    crosses_now = rotation.crosses_on_disk(rotations, observed) if rotations else {}
    for name in graph.order():
        ident = spec.identities[name]
        issuer = spec.identities[ident.issuer] if ident.issuer else None
        obs = observed.identities[name]
        adoption = inputs.adoptions.get(name)
        chain = graph.chain(name)
        above = outsides.get(chain[-1], ()) if chain else outside(ident, obs, adoption, None)
        issuer_chain = [observed.identities[n].cert for n in chain] + list(above)
        issuers = [c for c in issuer_chain if c is not None]
        if obs.cert is not None and len(issuers) == len(issuer_chain):
            cross, partners = rotation.extras(rotations, name, certs, crosses_now)
            materials[name] = Material(
                cert=obs.cert,
                issuers=issuers,
                anchor=chain[-1] if chain else name,
                key_pem=obs.files.get(KEY_FILE),
                cross=cross,
                partners=partners,
            )
        # certificates this CA issued were signed by key.pem: its cert.pem is what changed
        vouched = obs.key_replaced_cert or (
            bool(obs.key_issued) and not set(obs.key_issued).isdisjoint(graph.children(name))
        )
        issuer_action = decided.get(issuer.name) if issuer else None
        listed = _listed(obs.cert, crls.get(issuer.name) if issuer else None)
        if ident.adopt is not None:
            signer = _signer_cert(issuer_action, issuer_chain, inputs)
            action = decide_adopted(
                ident,
                issuer,
                obs,
                signer,
                issuer_action,
                now,
                adoption=adoption,
                rekey_requested=name in rekey,
                renew_requested=name in renew,
                material=materials.get(name),
                seed_id=seed_id,
                listed=listed,
            )
            notes += [(name, note) for note in source_notes(ident, obs, adoption, action)]
            notes += [(name, note) for note in renewal_note(ident, obs, signer, now, action)]
            outsides[name] = outside(ident, obs, adoption, action)
        else:
            action = decide(
                ident,
                issuer,
                obs,
                issuer_chain,
                issuer_action,
                now,
                name in rekey,
                renew_requested=name in renew,
                key_vouched=vouched,
                material=materials.get(name),
                seed_id=seed_id,
                listed=listed,
                archived=issuer is not None and issuer.revoke_superseded and _archived(obs),
            )
        decided[name] = with_line_endings(with_plain_copies(action, ident, obs), ident, obs.files)
    crosses = rotation.plan_crosses(spec, rotations, observed, decided, now)
    if rotations:
        rotation.with_repairs(spec, rotations, decided, crosses)
    rotation.with_endings(decided, crosses, observed)
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
        trust_bundle=_trust_bundle_problem(spec, observed, decided, outsides),
        password_problems=password_problems(
            spec,
            observed,
            new_keys={n for n, a in decided.items() if a.new_key},
            new_certs={n for n, a in decided.items() if a.new_cert},
            repaired={n: materials.get(n) for n, a in decided.items() if a.verb is Verb.REPAIR},
            revocations=revocations,
            passwords=passwords,
            crosses=crosses,
        ),
        revoked_at_problems=revoked_at_problems(spec, observed, now),
        crosses=crosses,
        rotations=rotation_state.reports(spec, graph, rotations, observed) if rotations else (),
        rotation_problems=rotation_state.retire_problems(spec, graph, observed),
        notes=tuple(notes),
        git_files=git_file_problems(observed),
        tighten=tightening(observed),
    )


def _signer_cert(
    issuer_action: Action | None,
    issuer_chain: list[x509.Certificate | None],
    inputs: Inputs,
) -> x509.Certificate | None:
    """The certificate of an identity's issuer as this plan leaves it, where it can be
    known: the one it adopts now, else the one on disk (kept, or reissued with its key)."""
    if issuer_action is not None and issuer_action.verb is Verb.ADOPT:
        return inputs.adoptions[issuer_action.name].cert
    return issuer_chain[0] if issuer_chain else None


def _listed(cert: x509.Certificate | None, crl: CrlOnDisk | None) -> Revoked | None:
    """The entry revoking `cert` on its issuer's CRL, as the issuer published it, if any:
    a certificate in use is never on it (a certificateHold is released, not replaced)."""
    if cert is None or crl is None or not crl.published:
        return None
    entry = crl.entries.get(cert.serial_number)
    return entry if entry is not None and entry.reason != "certificateHold" else None


def _archived(obs: ObservedIdentity) -> bool:
    """Whether cert.pem is one of the certificates in the identity's archive (read where
    its CA lists them: revoke_superseded)."""
    cert = obs.cert
    return cert is not None and any(
        c.serial_number == cert.serial_number for c in obs.archived_certs
    )


def _trust_bundle_problem(
    spec: ResolvedSpec,
    observed: Observed,
    decided: Mapping[IdentityName, Action],
    outsides: Mapping[IdentityName, Sequence[x509.Certificate]],
) -> str | None:
    """Why trust-bundle.pem must be rewritten while no anchor's certificate changes (when
    one does, that is reason enough, and its own action says so)."""
    certs = {n: o.cert for n, o in observed.identities.items()}
    anchors = trust_anchors(spec, certs, outsides)
    if any(decided[n].new_cert for n in anchors):
        return None
    return pem.trust_bundle_problem(observed.trust_bundle, anchors)


def archives_to_read(spec: ResolvedSpec, graph: IssuerGraph) -> set[IdentityName]:
    """Identities whose archived certificates a CRL must list (revoke_superseded)."""
    return {
        child
        for name, ident in spec.identities.items()
        if ident.revoke_superseded
        for child in graph.children(name)
    }
