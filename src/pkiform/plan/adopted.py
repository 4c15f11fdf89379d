"""What apply must do to a CA the spec adopts (`adopt:`): take its files the first time
(or again, with --rekey), then keep its certificate as it is: it is already in its users'
trust stores. Within renew_before it is due, said in a note while it goes on issuing; what
would re-sign another CA's certificate (expiry, its issuer changing) blocks, until
`--renew NAME` asks for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from cryptography import x509

from pkiform.disk.observe import ObservedIdentity
from pkiform.formats.outputs import Material
from pkiform.layout import CA_FILE, CHAIN_FILE
from pkiform.plan.due import not_yet_valid, renewal_due
from pkiform.plan.identities import RENEW_ASKED, cascaded, listed_reason, never_issued, repairs
from pkiform.plan.types import NEVER_ISSUED, Action, Verb
from pkiform.spec.model import Identity, IdentityName, Kind, ResolvedSpec
from pkiform.x509.adopted import outside_chain
from pkiform.x509.adoption import Adoption
from pkiform.x509.crl_entry import Revoked
from pkiform.x509.keys import spki_der
from pkiform.x509.links import signature_verifies


def decide_adopted(
    ident: Identity,
    issuer: Identity | None,
    obs: ObservedIdentity,
    issuer_cert: x509.Certificate | None,
    issuer_action: Action | None,
    now: datetime,
    *,
    adoption: Adoption | None,
    rekey_requested: bool,
    renew_requested: bool,
    material: Material | None = None,
    seed_id: str | None = None,
    listed: Revoked | None = None,
) -> Action:
    """The action for an adopted CA: a pure function of the spec, what adopt's files
    hold, the CA's folder and the clock."""
    assert ident.adopt is not None

    def act(verb: Verb, *reasons: str, cascade: IdentityName | None = None) -> Action:
        return Action(name=ident.name, verb=verb, reasons=reasons, cascade_from=cascade)

    source = ident.adopt
    if obs.interrupted:
        return act(Verb.REPAIR, "an earlier apply was interrupted here; apply finishes it")
    if ident.revoked is not None:
        return act(Verb.SKIP, NEVER_ISSUED) if never_issued(ident, obs) else act(Verb.UNCHANGED)
    if rekey_requested and _adopted_already(obs, adoption):
        return act(Verb.UNCHANGED)  # --rekey: the files hold what the folder does
    if rekey_requested or (not obs.has_cert_file and not obs.has_key_file):
        wrong = _not_issued_by(ident, issuer, issuer_cert, issuer_action, adoption)
        if wrong is not None:
            return act(Verb.BLOCKED, wrong)
        if rekey_requested:
            return act(Verb.ADOPT, f"--rekey asked to adopt {source.cert} and {source.key} again")
        return act(Verb.ADOPT, f"take {source.cert} as cert.pem and {source.key} as key.pem")
    again = f"pass --rekey {ident.name} to adopt {source.cert} and {source.key} again"
    key_problem = _key_problem(obs)
    if key_problem is not None:
        return act(
            Verb.BLOCKED,
            f"{key_problem}; an adopted CA's key is never replaced implicitly: {again}",
        )
    cert = obs.cert
    assert cert is not None
    reasons = [RENEW_ASKED] if renew_requested else []
    cascade = cascaded(issuer_action)
    if cascade is not None:
        reasons.append(cascade[1])
    elif (
        issuer is not None and issuer_cert is not None and not signature_verifies(cert, issuer_cert)
    ):
        reasons.append(f"not signed by the current certificate of issuer {issuer.name!r}")
    reasons += _invalid(cert, now)
    if issuer is not None and listed is not None:
        reasons.append(listed_reason(issuer, listed))
    if renew_requested:
        due = renewal_due(ident, cert, issuer_cert, now) if not reasons else None
        reasons += [due] if due else []
        return act(Verb.REISSUE, *reasons, cascade=cascade[0] if cascade else None)
    if reasons:
        return act(Verb.BLOCKED, *reasons, how_to_renew(ident))
    fixes = repairs(ident, obs, material, seed_id)
    return act(Verb.REPAIR, *fixes) if fixes else act(Verb.UNCHANGED)


def _adopted_already(obs: ObservedIdentity, adoption: Adoption | None) -> bool:
    """Whether adopt's files hold the very certificate and key the CA's folder does."""
    return (
        adoption is not None
        and adoption.cert is not None
        and adoption.key is not None
        and adoption.cert == obs.cert
        and obs.key_matches_cert
        and obs.public_key is not None
        and spki_der(adoption.key.public_key()) == spki_der(obs.public_key)
    )


def _not_issued_by(
    ident: Identity,
    issuer: Identity | None,
    issuer_cert: x509.Certificate | None,
    issuer_action: Action | None,
    adoption: Adoption | None,
) -> str | None:
    """Why the certificate to adopt cannot sit below the issuer the spec names: that CA
    did not sign it (or gets a new key now, which cannot have)."""
    if issuer is None or adoption is None or adoption.cert is None or ident.adopt is None:
        return None
    cert_file = ident.adopt.cert
    fix = (
        "name the CA that signed it as issuer (adopt it too), or give the certificates "
        "above it in adopt.chain instead of an issuer"
    )
    if issuer_action is not None and issuer_action.verb in (Verb.CREATE, Verb.REKEY):
        return f"{cert_file} was not signed by {issuer.name!r}, which gets a new key: {fix}"
    if issuer_cert is not None and not signature_verifies(adoption.cert, issuer_cert):
        return f"{cert_file} was not signed by the certificate of {issuer.name!r}: {fix}"
    return None


def how_to_renew(ident: Identity) -> str:
    """How the user renews an adopted CA, which pkiform never does on its own."""
    assert ident.adopt is not None
    never = "an adopted certificate is never re-signed implicitly"
    if ident.adopt.chain is not None:  # pkiform holds no key above it
        return (
            f"{never}: renew it where its issuer is, then pass --rekey {ident.name} to adopt "
            "the new certificate"
        )
    return f"{never}: pass --renew {ident.name} to re-sign it with the same key and subject"


def _key_problem(obs: ObservedIdentity) -> str | None:
    """Why the adopted CA's folder no longer holds a matching key and certificate."""
    if obs.cert is None:
        return obs.cert_problem or "cert.pem is missing"
    if obs.key_locked:
        return None  # taken to be cert.pem's key until it must be opened
    if obs.public_key is None:
        return obs.key_problem or "key.pem is missing"
    if not obs.key_matches_cert:
        return "key.pem does not match cert.pem"
    return None


def _invalid(cert: x509.Certificate, now: datetime) -> list[str]:
    """Why the adopted certificate cannot issue now: expired, or not valid yet."""
    not_after = cert.not_valid_after_utc
    if not_after <= now:
        return [f"expired {not_after:%Y-%m-%d %H:%M}Z"]
    early = not_yet_valid(cert.not_valid_before_utc, now)
    return [early] if early else []


def renewal_note(
    ident: Identity,
    obs: ObservedIdentity,
    issuer_cert: x509.Certificate | None,
    now: datetime,
    action: Action,
) -> list[str]:
    """What plan and apply say of an adopted CA inside its renew_before window, which
    pkiform never renews on its own: how to renew it. It is not blocked: it still issues,
    each certificate ending by its end, and leaves below it must go on being renewed."""
    if ident.adopt is None or obs.cert is None or action.verb not in (Verb.UNCHANGED, Verb.REPAIR):
        return []
    due = renewal_due(ident, obs.cert, issuer_cert, now)
    if due is None:
        return []
    return [f"due for renewal ({due}): {how_to_renew(ident)}; until then it issues as before"]


def source_notes(
    ident: Identity, obs: ObservedIdentity, adoption: Adoption | None, action: Action
) -> list[str]:
    """What plan says of adopt's files when they are not what the CA's folder holds and
    this plan does not take them: they are left alone, and how to take them."""
    if adoption is None or adoption.cert is None or obs.cert is None or ident.adopt is None:
        return []
    if action.verb is Verb.ADOPT or adoption.cert == obs.cert:
        return []
    if any(adoption.cert == old for old in obs.archived_certs):
        return []  # re-signed with --renew since: the original is in the archive
    return [
        f"{ident.adopt.cert} is not the certificate adopted into {ident.name}/cert.pem; "
        f"left as adopted (apply --rekey {ident.name} adopts {ident.adopt.cert} instead)"
    ]


def outside(
    ident: Identity, obs: ObservedIdentity, adoption: Adoption | None, action: Action | None
) -> tuple[x509.Certificate, ...]:
    """The certificates above an adopted intermediate whose issuer lives elsewhere
    (adopt.chain), nearest first, root last: adopt.chain's when this apply adopts it,
    else what its chain.pem and ca.pem hold since it was. Empty for any other identity."""
    if ident.adopt is None or ident.adopt.chain is None:
        return ()
    if action is not None and action.verb is Verb.ADOPT and adoption is not None:
        return adoption.chain
    return outside_chain(obs.files.get(CHAIN_FILE), obs.files.get(CA_FILE))


def trust_anchors(
    spec: ResolvedSpec,
    certs: Mapping[IdentityName, x509.Certificate | None],
    outsides: Mapping[IdentityName, Sequence[x509.Certificate]],
) -> dict[IdentityName, x509.Certificate | None]:
    """What trust-bundle.pem holds, by the identity each certificate anchors: every root's
    certificate (from `certs`), and the root above each intermediate adopted with
    adopt.chain (the last of its `outsides`), which its relying parties trust instead.
    None: not issued yet."""
    anchors = {n: certs.get(n) for n, i in spec.identities.items() if i.kind is Kind.ROOT}
    for name, ident in spec.identities.items():
        if ident.adopt is not None and ident.adopt.chain is not None:
            above = outsides.get(name, ())
            anchors[name] = above[-1] if above else None
    return anchors
