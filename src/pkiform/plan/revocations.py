"""Decide which CRLs and OCSP responses apply must (re-)sign: pure, like the planner.

A CRL or OCSP response is re-signed only when what it says changes, when its
signer changed, or when it nears nextUpdate; otherwise apply leaves it
byte-identical. CRL numbers are read back from the CRL on disk, never kept
elsewhere, so they only grow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pkiform.disk.observe import Observed, ObservedIdentity
from pkiform.durations import BACKDATE
from pkiform.errors import Diagnostic
from pkiform.layout import CRL_DER, CRL_PEM, OCSP_DER
from pkiform.plan.due import list_due
from pkiform.plan.types import ListKind, ListVerb, RevocationAction
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, ResolvedSpec, serial_text
from pkiform.spec.rotation import Rotations
from pkiform.x509 import links
from pkiform.x509.crl_entry import Revoked
from pkiform.x509.revocation import (
    crl_entries,
    crl_number,
    crl_signed_by,
    ocsp_carries,
    ocsp_revocation,
    ocsp_signed_by,
    ocsp_status,
)


def plan_revocation(
    spec: ResolvedSpec,
    graph: IssuerGraph,
    observed: Observed,
    new_certs: Collection[IdentityName],
    blocked: Collection[IdentityName],
    now: datetime,
    crls: Mapping[IdentityName, CrlOnDisk | None],
) -> tuple[RevocationAction, ...]:
    """The CRL and OCSP work, given the identities that get a new certificate, those whose
    issuing is blocked, and `crls_on_disk`: the CAs that keep a CRL, each with its own."""
    out: list[RevocationAction] = []
    for name in graph.order():
        ca = spec.identities[name]
        children = graph.children(name)
        if name not in crls or name in blocked:
            continue
        ca_obs = observed.identities[name]
        if ca_obs.cert is None and name not in new_certs:
            continue
        # A revoked CA is frozen, but it still answers for what it issued: its subjects are
        # revoked too (spec/rules.py), and only its own CRL and OCSP responses tell a relying
        # party that checks the leaf alone. It signs with the key it has, if it has one.
        if ca.revoked is not None and not ca_obs.key_matches_cert:
            continue
        on_disk = crls.get(name)
        entries = _crl_entries(spec, ca, children, observed, new_certs, now, on_disk)
        crl_action = _crl_action(ca, ca_obs, name in new_certs, entries, now, on_disk)
        if crl_action is not None:
            out.append(crl_action)
        if ca.ocsp:
            for child in children:
                leaf = spec.identities[child]
                if leaf.kind.is_ca:
                    continue
                ocsp_action = _ocsp_action(leaf, ca, observed, new_certs, entries, now)
                if ocsp_action is not None:
                    out.append(ocsp_action)
    return tuple(out)


def revoked_at_problems(
    spec: ResolvedSpec, observed: Observed, now: datetime
) -> tuple[Diagnostic, ...]:
    """Every `revoked.at` no CRL may state: before its certificate's notBefore (it was not
    valid yet), or after `now` (a CRL lists revocations that have happened). Each located
    where the spec writes it: plan and apply refuse to run with any."""
    out = []
    for name, ident in spec.identities.items():
        revoked = ident.revoked
        if revoked is None or revoked.at is None:
            continue
        cert = observed.identities[name].cert
        if cert is not None and revoked.at < cert.not_valid_before_utc:
            message = (
                f"expected a time from its certificate's notBefore "
                f"({_stamp(cert.not_valid_before_utc)}) on; got {revoked.at_text!r}, "
                "before it was valid"
            )
        elif revoked.at > now:
            message = (
                f"expected a time no later than now ({_stamp(now)}); got {revoked.at_text!r}, "
                "in the future (a CRL lists revocations that have happened)"
            )
        else:
            continue
        loc = revoked.at_loc or ident.loc
        out.append(Diagnostic(loc=loc, path=f"identities.{name}.revoked.at", message=message))
    return tuple(out)


def signing_times(
    action: RevocationAction, validity: timedelta, now: datetime
) -> tuple[datetime, datetime]:
    """thisUpdate (an OCSP response's producedAt too) and nextUpdate of what `action`
    signs: backdated like a certificate's notBefore, for relying parties whose clocks are
    behind, but never to before a revocation it states (RFC 5280 §5.1.2.4: it speaks for
    that moment; zlint e_crl_revocation_time_after_this_update), and as long as ever."""
    stated = [e.at for e in action.entries]
    if action.revoked is not None:
        stated.append(action.revoked.at)
    this_update = max([_second(now) - BACKDATE, *stated])
    return this_update, this_update + BACKDATE + validity


def crls_on_disk(
    spec: ResolvedSpec, graph: IssuerGraph, observed: Observed
) -> dict[IdentityName, CrlOnDisk | None]:
    """The crl.pem of every CA that issues anything (a cross certificate counts), read
    and checked once per plan."""
    signers = Rotations.of(spec, graph).cross_signers()
    return {
        name: CrlOnDisk.of(observed.identities[name])
        for name, ident in spec.identities.items()
        if ident.kind.is_ca and (graph.children(name) or name in signers)
    }


def _issued_by(ca_obs: ObservedIdentity) -> Callable[[x509.Certificate], bool]:
    """Whether a certificate names this CA as its issuer: by name, or, while the CA's
    cert.pem is missing (apply reissues it for key.pem), by key.pem's key identifier, so
    that what it issued is still known as its own (revoke_superseded lists it)."""
    if ca_obs.cert is not None:
        subject = ca_obs.cert.subject
        return lambda cert: cert.issuer == subject
    if ca_obs.public_key is None:
        return lambda cert: False
    key_id = x509.SubjectKeyIdentifier.from_public_key(ca_obs.public_key).digest
    return lambda cert: links.key_id(cert, x509.AuthorityKeyIdentifier) == key_id


@dataclass(frozen=True, slots=True, kw_only=True)
class CrlOnDisk:
    """A CA's crl.pem, read and checked once per plan."""

    entries: dict[int, Revoked]  # as the CRL lists them, whoever signed it
    signed: bool  # by the CA's current certificate
    published: bool  # by the CA on disk: its certificate, or, while that is missing, its key

    @classmethod
    def of(cls, ca_obs: ObservedIdentity) -> CrlOnDisk | None:
        crl = ca_obs.crl
        if crl is None:
            return None
        signed = ca_obs.cert is not None and crl_signed_by(crl, ca_obs.cert)
        published = signed if ca_obs.cert is not None else _signed_by_key(crl, ca_obs)
        entries = {e.serial: e for e in crl_entries(crl)}
        return cls(entries=entries, signed=signed, published=published)


def _signed_by_key(crl: x509.CertificateRevocationList, ca_obs: ObservedIdentity) -> bool:
    if ca_obs.public_key is None:
        return False
    try:
        return crl.is_signature_valid(ca_obs.public_key)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _crl_entries(
    spec: ResolvedSpec,
    ca: Identity,
    children: list[IdentityName],
    observed: Observed,
    new_certs: Collection[IdentityName],
    now: datetime,
    on_disk: CrlOnDisk | None,
) -> dict[int, Revoked]:
    ca_obs = observed.identities[ca.name]
    # what was published, as far as this CA vouches for it (not a CRL copied in from
    # elsewhere): the dates to keep and the entries that must stay
    listed = on_disk.entries if on_disk is not None and on_disk.published else {}

    def entry(serial: int, reason: str, at: datetime | None) -> Revoked:
        earlier = listed.get(serial)
        if at is not None:
            when = _second(at)  # the spec's date wins; a CRL holds whole seconds
        elif earlier is not None and earlier.reason == reason:
            # a date once published stays: read back from the CRL, not kept anywhere else
            when = earlier.at
        else:
            # the thisUpdate of the CRL this apply signs: a CRL speaks for that moment, so
            # no revocation it lists may come after it (RFC 5280 §5.1.2.4)
            when = _second(now) - BACKDATE
        return Revoked(serial=serial, at=when, reason=reason)

    entries: dict[int, Revoked] = {}
    # serials of the certificates the spec's subjects hold now and keep: the spec says
    # whether they are revoked
    known: set[int] = set()
    issued_here = _issued_by(ca_obs)
    for child in children:
        ident = spec.identities[child]
        obs = observed.identities[child]
        # the child's certificate if this CA issued it: a seal vouches for that (it was
        # checked by name and key identifier), else the names are compared (~20 us)
        cert = obs.cert
        if cert is not None and not (obs.vouched and ca_obs.vouched):
            cert = cert if issued_here(cert) else None
        if cert is not None and ident.revoked is not None:
            known.add(cert.serial_number)
            entries[cert.serial_number] = entry(
                cert.serial_number, ident.revoked.reason, ident.revoked.at
            )
        elif cert is not None and child not in new_certs:
            # kept in use: never on the CRL (planner reissues one listed, but for a
            # certificateHold the spec has released)
            known.add(cert.serial_number)
        if ca.revoke_superseded:
            superseded = [c for c in obs.archived_certs if issued_here(c)]
            if cert is not None and child in new_certs:
                superseded.append(cert)
            for old in superseded:
                serial = old.serial_number
                entries.setdefault(serial, listed.get(serial) or entry(serial, "superseded", None))
    # RFC 5280 §3.3: a revocation stands for the rest of the certificate's life. An entry
    # for a certificate the spec no longer accounts for (its identity removed from the
    # spec or pruned, or reissued) stays as published; only a certificateHold that the
    # spec releases from a certificate that stays in use comes off.
    for serial, earlier in listed.items():
        if serial not in known:
            entries.setdefault(serial, earlier)
    return entries


def _crl_action(
    ca: Identity,
    obs: ObservedIdentity,
    reissued: bool,
    entries: dict[int, Revoked],
    now: datetime,
    on_disk: CrlOnDisk | None,
) -> RevocationAction | None:
    def act(verb: ListVerb, reasons: list[str], number: int) -> RevocationAction:
        return RevocationAction(
            kind=ListKind.CRL,
            name=ca.name,
            signer=ca.name,
            verb=verb,
            reasons=tuple(reasons),
            entries=tuple(sorted(entries.values())),
            number=number,
        )

    crl = obs.crl
    if crl is None or on_disk is None:
        return act(ListVerb.CREATE, [_absent(CRL_PEM, obs)], _last_number(obs) + 1)
    reasons = []
    if reissued:
        reasons.append("the CA's certificate is reissued")
    elif not on_disk.signed:
        reasons.append("not signed by the CA's current certificate")
    listed = on_disk.entries
    wanted = entries
    reasons += [
        f"+{serial_text(s)} ({wanted[s].reason})" for s in sorted(wanted.keys() - listed.keys())
    ]
    reasons += [f"-{serial_text(s)}" for s in sorted(listed.keys() - wanted.keys())]
    for s in sorted(wanted.keys() & listed.keys()):
        was, now_wanted = listed[s], wanted[s]
        if was.reason != now_wanted.reason:
            reasons.append(f"{serial_text(s)}: {was.reason} -> {now_wanted.reason}")
        elif was.at != now_wanted.at:
            reasons.append(
                f"{serial_text(s)}: revoked at {_stamp(was.at)} -> {_stamp(now_wanted.at)}"
            )
    reasons += list_due(crl.last_update_utc, crl.next_update_utc, ca, now)
    if reasons:
        return act(ListVerb.RESIGN, reasons, _last_number(obs) + 1)
    if obs.files.get(CRL_DER) != crl.public_bytes(serialization.Encoding.DER):
        return act(ListVerb.REWRITE, ["crl.der does not match crl.pem"], crl_number(crl))
    return None


def _last_number(obs: ObservedIdentity) -> int:
    """The highest CRL number on disk, in crl.pem or crl.der: if one of them was lost or
    replaced, the other still keeps the sequence from going back."""
    numbers = [crl_number(obs.crl)] if obs.crl else []
    der = obs.files.get(CRL_DER)
    if der is not None:
        with contextlib.suppress(ValueError):  # unreadable: crl.pem decides
            numbers.append(crl_number(x509.load_der_x509_crl(der)))
    return max(numbers, default=0)


def _ocsp_action(
    leaf: Identity,
    ca: Identity,
    observed: Observed,
    new_certs: Collection[IdentityName],
    entries: dict[int, Revoked],
    now: datetime,
) -> RevocationAction | None:
    obs = observed.identities[leaf.name]
    if obs.cert is None and leaf.name not in new_certs:
        return None  # nothing issued to answer for
    # what the CRL says about the certificate it answers for: a new one is good
    revoked = None
    if obs.cert is not None and leaf.name not in new_certs:
        revoked = entries.get(obs.cert.serial_number)
    response = obs.ocsp_response
    reasons = []
    if response is None:
        reasons.append(_absent(OCSP_DER, obs))
    else:
        ca_cert = observed.identities[ca.name].cert
        if leaf.name in new_certs:
            reasons.append("the certificate is reissued")
        elif obs.cert is None or response.serial_number != obs.cert.serial_number:
            reasons.append("the response is for another certificate")
        if ca.name in new_certs:
            reasons.append("the CA's certificate is reissued")
        elif ca_cert is None or not ocsp_signed_by(response, ca_cert):
            reasons.append("not signed by the CA's current certificate")
        elif not ocsp_carries(response, ca_cert):
            reasons.append(
                "it does not carry its signer's certificate (clients need it to verify a staple)"
            )
        status, given = "revoked" if revoked else "good", ocsp_revocation(response)
        if (was := ocsp_status(response)) != status:
            reasons.append(f"status: {was} -> {status}")
        elif revoked is not None and given != (revoked.reason, revoked.at):
            # what the CRL says, the staple says too: the reason and the time
            assert given is not None
            reasons.append(
                f"revoked: {given[0]} at {_stamp(given[1])} -> "
                f"{revoked.reason} at {_stamp(revoked.at)}"
            )
        # one without nextUpdate never lapses for a client, but status calls it stale: one
        # pkiform signs has it, and apply mends what status reports
        reasons += list_due(response.this_update_utc, response.next_update_utc, ca, now)
    if not reasons:
        return None
    return RevocationAction(
        kind=ListKind.OCSP,
        name=leaf.name,
        signer=ca.name,
        verb=ListVerb.CREATE if response is None else ListVerb.RESIGN,
        reasons=tuple(reasons),
        revoked=revoked,
    )


def _absent(filename: str, obs: ObservedIdentity) -> str:
    return f"{filename} is missing" if filename not in obs.files else f"{filename} is unreadable"


def _second(now: datetime) -> datetime:
    return now.replace(microsecond=0)


def _stamp(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S}Z"
