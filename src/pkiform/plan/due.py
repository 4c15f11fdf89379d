"""When something is due, by the clock alone: each time rule beside its inverse.

A certificate is due when it is not valid yet, has expired, or nears renew_before; a CRL
or OCSP response when it is not valid yet or nears nextUpdate. Each rule has an inverse,
the window of instants in which it finds nothing to say: the settled mark (cache/
settled.py) holds only inside the windows of everything in the directory, so no rule
can be missed by an answer that skips planning (tests/test_settled.py checks each
inversion).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509

from pkiform.durations import BACKDATE, drift_text, format_rounded
from pkiform.spec.model import Identity

# a window of time in which nothing is quiet: first instant after last
NEVER_QUIET = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))


def certificate_due(
    ident: Identity, cert: x509.Certificate, issuer_cert: x509.Certificate | None, now: datetime
) -> list[str]:
    drift = validity_drift(ident, cert, issuer_cert)
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


def validity_drift(
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
    """The time checks inverted: `certificate_due` finds nothing to say about this
    certificate from the first instant returned (its notBefore) until just before the
    second (its renewal or expiry); NEVER_QUIET if it has something to say at any time."""
    if validity_drift(ident, cert, issuer_cert):
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


def list_due(
    this_update: datetime, next_update: datetime | None, ca: Identity, now: datetime
) -> list[str]:
    drift = list_drift(this_update, next_update, ca)
    if drift:
        return [drift]
    assert next_update is not None
    if this_update > now:  # signed for a later time: relying parties refuse it until then
        ahead = format_rounded(this_update - now)
        return [f"not yet valid: thisUpdate {this_update:%Y-%m-%d %H:%M}Z (in {ahead})"]
    validity = ca.crl_validity.delta
    left = next_update - now
    if left <= timedelta(0):
        return [f"expired: nextUpdate {next_update:%Y-%m-%d %H:%M}Z ({format_rounded(-left)} ago)"]
    # re-signed with a third of its life left, so relying parties never see it lapse
    if left < validity / 3:
        return [
            f"nextUpdate {next_update:%Y-%m-%d %H:%M}Z (in {format_rounded(left)}) "
            f"< a third of crl_validity {ca.crl_validity}"
        ]
    return []


def list_drift(this_update: datetime, next_update: datetime | None, ca: Identity) -> str | None:
    if next_update is None:
        return "it has no nextUpdate"
    validity = ca.crl_validity.delta
    if abs((next_update - this_update) - (validity + BACKDATE)) > timedelta(seconds=1):
        length = next_update - this_update
        return drift_text("crl_validity", length, BACKDATE, str(ca.crl_validity))
    return None


def freshness_window(
    this_update: datetime, next_update: datetime | None, ca: Identity
) -> tuple[datetime, datetime]:
    """`list_due` inverted: it finds nothing to say from the first instant returned
    (thisUpdate) until just before the second (when the CRL or response is due for
    re-signing); NEVER_QUIET if it has something to say at any time."""
    if next_update is None or list_drift(this_update, next_update, ca):
        return NEVER_QUIET
    return this_update, next_update - ca.crl_validity.delta / 3
