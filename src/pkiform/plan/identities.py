"""Decide, per identity, what apply must do: a pure function of spec, disk facts and time."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from cryptography import x509

from pkiform.disk.observe import ObservedIdentity
from pkiform.formats import outputs
from pkiform.formats.outputs import Material
from pkiform.formats.seed_id import seed_id_file
from pkiform.layout import CSR_FILE, SEED_ID
from pkiform.plan.due import certificate_due
from pkiform.plan.types import NEVER_ISSUED, Action, Verb
from pkiform.spec.model import CsrKey, Identity, IdentityName
from pkiform.x509.crl_entry import Revoked
from pkiform.x509.drift import differences
from pkiform.x509.keys import spec_of
from pkiform.x509.links import names_as_issuer


def decide(
    ident: Identity,
    issuer: Identity | None,
    obs: ObservedIdentity,
    issuer_chain: list[x509.Certificate | None],
    issuer_action: Action | None,
    now: datetime,
    rekey_requested: bool,
    *,
    renew_requested: bool = False,
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
    if obs.key_pending is not None:  # likewise where the key lives (a token)
        return act(Verb.REPAIR, obs.key_pending)
    if ident.revoked is not None:
        if never_issued(ident, obs):
            return act(Verb.SKIP, NEVER_ISSUED)
        return act(Verb.UNCHANGED)  # revoked: frozen as it is, listed on its issuer's CRL
    request = isinstance(ident.key_source, CsrKey)
    if request and not obs.has_cert_file:  # its key is the request's, which validation read
        return act(Verb.CREATE, f"sign {obs.key_elsewhere}")
    if not obs.has_cert_file and not obs.has_key:
        if obs.key_elsewhere is not None:
            return act(Verb.CREATE, f"a new key in {obs.key_elsewhere}")
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

    reasons = [RENEW_ASKED] if renew_requested else []
    cascade = cascaded(issuer_action)
    if cascade is not None:
        reasons.append(cascade[1])

    cert = obs.cert
    if cert is None:
        reasons.append(obs.cert_problem or "cert.pem is missing")
    elif not (obs.key_matches_cert or obs.key_locked):
        # a new request from the key's owner: the certificate follows it, never blocked
        reasons.append("csr: new key" if request else f"cert.pem does not match {_key_name(obs)}")
    else:
        issuer_cert = issuer_chain[0] if issuer_chain else None
        if not obs.vouched:  # a cache vouches for these, as for the repairs below
            reasons.extend(differences(ident, issuer, cert))
            if cascade is None:
                link = _issuer_link_problem(cert, issuer_cert if issuer else cert, issuer)
                if link:
                    reasons.append(link)
        reasons.extend(certificate_due(ident, cert, issuer_cert, now))
        # a certificate in use is never on its issuer's CRL: one restored from a backup
        # after it was superseded, or whose revocation the spec took back, is replaced
        # (RFC 5280 §3.3: a revocation is final)
        if issuer is not None and listed is not None:
            reasons.append(listed_reason(issuer, listed))
        elif issuer is not None and archived:  # not yet listed, but the CRL will list it
            reasons.append(
                "cert.pem is a superseded certificate (in its archive), which "
                f"revoke_superseded lists on the CRL of issuer {issuer.name!r}"
            )
    cascade_from = cascade[0] if cascade is not None else None
    if reasons and ident.rotate_key:
        return act(
            Verb.REKEY,
            *reasons,
            "rotate_key: a fresh key at every reissue",
            cascade=cascade_from,
        )
    if reasons:
        return act(Verb.REISSUE, *reasons, cascade=cascade_from)
    fixes = repairs(ident, obs, material, seed_id)
    return act(Verb.REPAIR, *fixes) if fixes else act(Verb.UNCHANGED)


def repairs(
    ident: Identity, obs: ObservedIdentity, material: Material | None, seed_id: str | None
) -> list[str]:
    """The files apply rewrites around a certificate that stays: chain files, outputs, a
    key to encrypt, and what else the identity's folder lacks."""
    # a folder a pkiform without seed-id files derived (its manifest.json vouched for it)
    marker = {SEED_ID: seed_id_file(seed_id)} if seed_id is not None else {}
    found = list(outputs.file_problems(marker, obs.files).values())
    if isinstance(ident.key_source, CsrKey) and CSR_FILE not in obs.files:
        found.append(f"{CSR_FILE} is missing")
    if obs.vouched and not found:
        return []

    # no material: an issuer has no certificate, is planned as create, and cascades
    if material is not None:
        layout = material.pem_files()
        found += outputs.file_problems(layout, obs.files).values()
    if outputs.needs_encryption(ident, obs):
        found.append("key.pem is not encrypted; key.encrypt asks for it (same key)")
    if material is not None:
        found.extend(outputs.stale(ident, obs, material).values())
    return found


RENEW_ASKED = "--renew asked for a new certificate now (same key)"


def cascaded(issuer_action: Action | None) -> tuple[IdentityName, str] | None:
    """The issuer whose change reissues its subjects, and the reason, if it changes."""
    if issuer_action is None:
        return None
    name = issuer_action.name
    if issuer_action.verb in (Verb.CREATE, Verb.REKEY):
        return name, f"issuer {name!r} gets a new key"
    if issuer_action.verb is Verb.ADOPT:
        return name, f"issuer {name!r} adopts another certificate and key"
    if issuer_action.verb is Verb.REISSUE:
        return name, f"issuer {name!r} is reissued"
    return None


def with_plain_copies(action: Action, ident: Identity, obs: ObservedIdentity) -> Action:
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


def listed_reason(issuer: Identity, listed: Revoked) -> str:
    """Why a certificate in use is replaced: its issuer's CRL revokes it."""
    return f"cert.pem is listed as revoked ({listed.reason}) on the CRL of issuer {issuer.name!r}"


def never_issued(ident: Identity, obs: ObservedIdentity) -> bool:
    """Revoked while it has neither key nor certificate: apply never issues what the spec
    revokes, so it has none to list on a CRL either."""
    return ident.revoked is not None and not obs.has_cert_file and not obs.has_key_file


def _key_problem(ident: Identity, obs: ObservedIdentity, *, key_vouched: bool) -> str | None:
    """Why the key on disk cannot be kept, or None. Where key.pem and cert.pem disagree,
    a leaf keeps its key (cert.pem is reissued for it) unless it is another identity's;
    a CA keeps it only when the certificates it issued show it is the CA's own key."""
    if isinstance(ident.key_source, CsrKey):
        return None  # the request's key, checked when read; a new one reissues (decide)
    if obs.key_locked:
        if ident.key_opener is None:
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
    key = _key_name(obs)
    if obs.key_holders:
        return f"{key} does not match cert.pem: it is the key of identity {obs.key_holders[0]!r}"
    if ident.kind.is_ca and not key_vouched:
        return f"{key} does not match cert.pem"
    return None


def _key_name(obs: ObservedIdentity) -> str:
    """How messages name the identity's key: key.pem, or where it lives instead."""
    return "key.pem" if obs.key_elsewhere is None else f"the key in {obs.key_elsewhere}"


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
        issuer is not None and not names_as_issuer(cert, issuer_cert)
    ):
        return f"not issued by the current certificate of {who}"
    return None
