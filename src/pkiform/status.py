"""`status`: what is on disk, checked on its own terms: pairs, chains, CRLs, OCSP, expiry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import overload

from cryptography import x509

from pkiform.disk.observe import Observed, ObservedIdentity
from pkiform.disk.public import PublicReport
from pkiform.durations import format_rounded, format_span
from pkiform.formats import git_files, outputs, pem
from pkiform.formats.outputs import Material
from pkiform.layout import BUNDLE, CRL_PEM, KEY_FILE, OCSP_DER, TRUST_BUNDLE, TRUSTSTORE
from pkiform.lint import LintReport
from pkiform.plan import rotation
from pkiform.plan.adopted import how_to_renew, outside, trust_anchors
from pkiform.plan.due import not_yet_valid, renewal_due
from pkiform.plan.identities import never_issued
from pkiform.plan.revocations import CrlOnDisk, crls_on_disk
from pkiform.plan.types import Rotation
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, Kind, ResolvedSpec, serial_text
from pkiform.spec.rotation import Rotations
from pkiform.x509.crl_entry import Revoked
from pkiform.x509.revocation import ocsp_signed_by, ocsp_status


class Health(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityHealth:
    name: IdentityName
    kind: str
    health: Health
    problems: tuple[str, ...] = ()
    not_after: datetime | None = None
    serial: str | None = None
    crl_next_update: datetime | None = None
    # what runs out within --warn-within: "certificate", "crl.pem", "ocsp.der"
    expiring: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport(Sequence[IdentityHealth]):
    """What `status` found: one verdict per identity of the spec, issuers first (the
    report is a sequence of them), and the problems of trust-bundle.pem."""

    identities: tuple[IdentityHealth, ...]
    trust_bundle: tuple[str, ...] = ()
    # pkilint's findings, with `status --lint` (None: not linted)
    lint: LintReport | None = None
    rotations: tuple[Rotation, ...] = ()  # where each rotation of the spec stands on disk
    # the secrets found in the directory, with `status --public` (None: not looked for)
    public: PublicReport | None = None

    @property
    def ok(self) -> bool:
        """Nothing is broken (things may still expire within --warn-within): no
        identity in error, trust-bundle.pem right, no lint finding that fails, no
        secret where --public asks for none."""
        healthy = all(r.health is not Health.ERROR for r in self)
        linted = self.lint is None or self.lint.ok
        public = self.public is None or self.public.ok
        return not self.trust_bundle and healthy and linted and public

    @overload
    def __getitem__(self, index: int) -> IdentityHealth: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[IdentityHealth, ...]: ...
    def __getitem__(self, index: int | slice) -> IdentityHealth | tuple[IdentityHealth, ...]:
        return self.identities[index]

    def __len__(self) -> int:
        return len(self.identities)


def trust_bundle_problems(spec: ResolvedSpec, observed: Observed) -> tuple[str, ...]:
    """What is wrong with trust-bundle.pem, as plan finds it (formats/pem.py):
    missing, or not every root it should hold, in order."""
    certs = {n: o.cert for n, o in observed.identities.items()}
    anchors = trust_anchors(spec, certs, _outsides(spec, observed))
    problem = pem.trust_bundle_problem(observed.trust_bundle, anchors)
    if problem is None:
        return ()
    if observed.trust_bundle is None:
        return (f"{TRUST_BUNDLE} is missing (run pkiform apply)",)
    return (f"{TRUST_BUNDLE} does not hold the spec's roots (run pkiform apply)",)


def _outsides(
    spec: ResolvedSpec, observed: Observed
) -> dict[IdentityName, Sequence[x509.Certificate]]:
    """Above each intermediate adopted with adopt.chain: its issuers, as its files hold them."""
    found = observed.identities
    return {n: outside(i, found[n], None, None) for n, i in spec.identities.items()}


@dataclass
class _Findings:
    errors: list[str]
    warnings: list[str]
    expiring: list[str]


def check(
    spec: ResolvedSpec,
    graph: IssuerGraph,
    observed: Observed,
    now: datetime,
    *,
    warn_within: timedelta | None = None,
) -> list[IdentityHealth]:
    """One verdict per identity of the spec, issuers first."""
    out = []
    crls = crls_on_disk(spec, graph, observed)
    outsides = {
        n: outside(i, observed.identities[n], None, None) for n, i in spec.identities.items()
    }
    rotations = Rotations.of(spec, graph)
    certs = {n: o.cert for n, o in observed.identities.items()} if rotations else {}
    crosses = rotation.crosses_on_disk(rotations, observed) if rotations else {}
    signers = rotations.cross_signers()
    for name in graph.order():
        ident = spec.identities[name]
        obs = observed.identities[name]
        chain_names = graph.chain(name)
        top = chain_names[-1] if chain_names else name
        chain = [observed.identities[n].cert for n in chain_names] + list(outsides[top])
        issuer = chain_names[0] if chain_names else None
        found = _Findings(errors=[], warnings=[], expiring=[])
        if ident.revoked is not None and never_issued(ident, obs):
            # apply never issues what the spec revokes: nothing to have, nothing to list
            found.warnings.append(
                f"revoked ({ident.revoked.reason}) before it was ever issued: nothing to "
                "issue, nothing to list"
            )
        else:
            _check_files(obs, found)
            if ident.revoked is None:  # a revoked identity is frozen: apply leaves it be
                found.errors += outputs.plain_copy_problems(ident, obs.files)
        cert = obs.cert
        issuer_crl = observed.identities[issuer].crl if issuer else None
        # what the issuer's CRL lists, if the issuer signed it (else _check_crl says so)
        on_issuers = crls.get(issuer) if issuer is not None else None
        listing = on_issuers.entries if on_issuers is not None and on_issuers.signed else None
        listed = listing.get(cert.serial_number) if listing and cert is not None else None
        if cert is not None and ident.revoked is not None:
            _check_revoked(ident, cert, issuer_crl, found)
        elif cert is not None:
            extras = rotation.extras(rotations, name, certs, crosses)
            _check_certificate(ident, cert, obs, chain, top, extras, now, warn_within, found)
            if listed is not None:  # a certificate in use is never on its issuer's CRL
                then = "take it off" if listed.reason == "certificateHold" else "reissue it"
                found.errors.append(
                    f"revoked ({listed.reason}) on its issuer's CRL, but the spec does not "
                    f"revoke it (run pkiform apply to {then})"
                )
        # a revoked identity that was issued keeps its CRL or OCSP response fresh
        # (plan/revocations.py); one revoked before it was issued has neither
        maintained = ident.revoked is None or cert is not None
        signs = graph.children(name) or name in signers
        if ident.kind.is_ca and signs and maintained:
            _check_crl(obs, crls[name], now, warn_within, found)
        if ident.kind is Kind.ROOT:
            errors, warnings = rotation.cross_findings(spec, rotations, observed, name, now)
            found.errors += errors
            found.warnings += warnings
            cross = crosses.get(name)
            if cross is not None and not errors:
                _window("cross.pem", cross.not_valid_after_utc, now, warn_within, found)
        stapled = issuer is not None and spec.identities[issuer].ocsp
        if stapled and not ident.kind.is_ca and maintained:
            _check_ocsp(obs, chain[0], now, warn_within, found)
            if listing is not None:
                _check_staple_against_crl(obs, listed, found)
        health = (
            Health.ERROR
            if found.errors
            else Health.WARNING
            if found.warnings or found.expiring
            else Health.OK
        )
        out.append(
            IdentityHealth(
                name=name,
                kind=str(ident.kind),
                health=health,
                problems=tuple(found.errors + found.warnings),
                not_after=cert.not_valid_after_utc if cert else None,
                serial=serial_text(cert.serial_number) if cert else None,
                # not `if obs.crl`: a CRL's truth value is its length, and an empty one is falsy
                crl_next_update=obs.crl.next_update_utc if obs.crl is not None else None,
                expiring=tuple(found.expiring),
            )
        )
    return out


def _check_files(obs: ObservedIdentity, found: _Findings) -> None:
    if not obs.files:
        found.errors.append("not issued yet (run pkiform apply)")
        return
    key = "key.pem" if obs.key_elsewhere is None else f"the key in {obs.key_elsewhere}"
    if obs.key_locked and obs.key_elsewhere is not None:
        found.warnings.append(f"{key} is not checked against cert.pem without its PIN")
    elif obs.key_locked and not obs.key_refused:
        found.warnings.append(
            "key.pem is encrypted: not checked against cert.pem without its password"
        )
    elif obs.public_key is None:
        found.errors.append(obs.key_problem or "key.pem is missing")
    if obs.cert is None:
        found.errors.append(obs.cert_problem or "cert.pem is missing")
    elif obs.public_key is not None and not obs.key_matches_cert:
        if obs.key_elsewhere is not None:  # a request or a token with another key
            found.errors.append(
                f"{obs.key_elsewhere} holds another key than cert.pem (run pkiform apply)"
            )
        else:
            found.errors.append("key.pem does not match cert.pem")
    if obs.interrupted:
        found.errors.append("an apply was interrupted here; run pkiform apply to finish it")


def _check_certificate(
    ident: Identity,
    cert: x509.Certificate,
    obs: ObservedIdentity,
    chain: list[x509.Certificate | None],
    anchor: str,
    extras: rotation.Extras,
    now: datetime,
    warn_within: timedelta | None,
    found: _Findings,
) -> None:
    found.errors += _chain_problems(cert, chain, now)
    if all(c is not None for c in chain):
        issuers = [c for c in chain if c is not None]
        cross, partners = extras
        material = Material(
            cert=cert,
            issuers=issuers,
            anchor=anchor,
            key_pem=obs.files.get(KEY_FILE),
            cross=cross,
            partners=partners,
        )
        wanted = material.pem_files()
        found.errors += [
            f"{f} has CRLF line endings (run pkiform apply)"
            if git_files.crlf_only(obs.files.get(f, b""), data)
            else f"{f} does not match the certificates it should hold"
            for f, data in wanted.items()
            if obs.files.get(f) != data
        ]
        if outputs.needs_encryption(ident, obs):
            found.errors.append("key.pem is not encrypted; key.encrypt asks for it")
        for filename, why in outputs.stale(ident, obs, material).items():
            # a PKCS#12 file whose password status was not given is not judged
            unchecked = filename in (BUNDLE, TRUSTSTORE) and filename in obs.files
            unchecked = unchecked and filename not in obs.p12
            (found.warnings if unchecked else found.errors).append(why)
    end = cert.not_valid_after_utc
    if end <= now:
        found.errors.append(f"expired {end:%Y-%m-%d %H:%M}Z ({format_rounded(now - end)} ago)")
    elif early := not_yet_valid(cert.not_valid_before_utc, now):
        found.errors.append(early)
    else:
        due = renewal_due(ident, cert, chain[0] if chain else None, now)
        if due:
            # an adopted CA is renewed only by the user (plan/adopted.py)
            how = f"; {how_to_renew(ident)}" if ident.adopt is not None else ""
            found.warnings.append(f"renewal due: {due}{how}")
        _window("certificate", end, now, warn_within, found)


def _check_revoked(
    ident: Identity,
    cert: x509.Certificate,
    issuer_crl: x509.CertificateRevocationList | None,
    found: _Findings,
) -> None:
    """A revoked identity is frozen as it was: its chain files may lag behind a reissued
    or rekeyed CA, and nothing should rely on it anyway. What matters is that its
    issuer's CRL says it is revoked."""
    assert ident.revoked is not None
    reason = ident.revoked.reason
    listed = issuer_crl is not None and (
        issuer_crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    )
    if listed:
        found.warnings.append(f"revoked ({reason}); listed on its issuer's CRL")
    else:
        found.errors.append(f"revoked ({reason}) but not on its issuer's CRL (run pkiform apply)")


def _check_crl(
    obs: ObservedIdentity,
    on_disk: CrlOnDisk | None,
    now: datetime,
    warn_within: timedelta | None,
    found: _Findings,
) -> None:
    crl = obs.crl
    if crl is None or on_disk is None:
        _absent(CRL_PEM, "a readable CRL", obs, found)
        return
    if not on_disk.signed:
        found.errors.append("crl.pem is not signed by this CA's certificate")
    _fresh(CRL_PEM, crl.last_update_utc, crl.next_update_utc, now, warn_within, found)


def _check_ocsp(
    obs: ObservedIdentity,
    ca_cert: x509.Certificate | None,
    now: datetime,
    warn_within: timedelta | None,
    found: _Findings,
) -> None:
    response = obs.ocsp_response
    if response is None:
        _absent(OCSP_DER, "a readable OCSP response", obs, found)
        return
    if ca_cert is None or not ocsp_signed_by(response, ca_cert):
        found.errors.append("ocsp.der is not signed by the issuing CA")
    if obs.cert is not None and response.serial_number != obs.cert.serial_number:
        found.errors.append("ocsp.der answers for another certificate")
    _fresh(OCSP_DER, response.this_update_utc, response.next_update_utc, now, warn_within, found)


def _check_staple_against_crl(
    obs: ObservedIdentity, listed: Revoked | None, found: _Findings
) -> None:
    """The staple says what the CRL says about the same certificate."""
    response = obs.ocsp_response
    if response is None or obs.cert is None or response.serial_number != obs.cert.serial_number:
        return  # reported by _check_ocsp
    status = ocsp_status(response)
    if listed is not None and status != "revoked":
        found.errors.append(
            f"ocsp.der says {status}, but its issuer's CRL lists it as revoked ({listed.reason})"
        )
    elif listed is None and status == "revoked":
        found.errors.append("ocsp.der says revoked, but its issuer's CRL does not list it")


def _absent(what: str, readable: str, obs: ObservedIdentity, found: _Findings) -> None:
    """A revocation file that did not parse: unreadable (error) or missing (warning)."""
    if what in obs.files:
        found.errors.append(f"{what} is not {readable}")
    else:
        found.warnings.append(f"{what} is missing (run pkiform apply)")


def _fresh(
    what: str,
    this_update: datetime,
    next_update: datetime | None,
    now: datetime,
    warn_within: timedelta | None,
    found: _Findings,
) -> None:
    if this_update > now:  # as openssl says: "CRL is not yet valid", "Status times invalid"
        ahead = format_rounded(this_update - now)
        found.errors.append(
            f"{what} is not yet valid: thisUpdate {this_update:%Y-%m-%d %H:%M}Z (in {ahead})"
        )
    elif next_update is None:
        found.errors.append(f"{what} is stale: nextUpdate missing")
    elif next_update <= now:
        ago = format_rounded(now - next_update)
        found.errors.append(
            f"{what} is stale: nextUpdate {next_update:%Y-%m-%d %H:%M}Z ({ago} ago)"
        )
    else:
        _window(what, next_update, now, warn_within, found)


def _window(
    what: str, end: datetime, now: datetime, warn_within: timedelta | None, found: _Findings
) -> None:
    if warn_within is not None and end - now < warn_within:
        found.expiring.append(what)
        found.warnings.append(
            f"{what} expires {end:%Y-%m-%d %H:%M}Z (in {format_rounded(end - now)}), "
            f"within --warn-within {format_span(warn_within)}"
        )


def _chain_problems(
    cert: x509.Certificate, chain: list[x509.Certificate | None], now: datetime
) -> list[str]:
    """Each link signed by the next, ending at a self-signed root; every issuer in date."""
    issuers = [c for c in chain if c is not None]
    if len(issuers) != len(chain):
        return ["an issuer in its chain has no usable certificate"]
    links = [cert, *issuers]
    problems = []
    for child, parent in zip(links, [*issuers, links[-1]], strict=True):
        try:
            child.verify_directly_issued_by(parent)
        except Exception:  # InvalidSignature, ValueError, TypeError: all mean "not issued by"
            who = "itself" if parent is child else repr(parent.subject.rfc4514_string())
            problems.append(f"{child.subject.rfc4514_string()!r} is not signed by {who}")
    problems += [
        f"issuer {c.subject.rfc4514_string()!r} expired {c.not_valid_after_utc:%Y-%m-%d}"
        for c in issuers
        if c.not_valid_after_utc <= now
    ]
    return problems
