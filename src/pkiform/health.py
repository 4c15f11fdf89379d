"""`status`: what is on disk, checked on its own terms: pairs, chains, expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from pkiform.graph import IssuerGraph
from pkiform.model import IdentityName, Spec
from pkiform.observe import Observed
from pkiform.planner import derived_files, renewal_due


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


def check(
    spec: Spec, graph: IssuerGraph, observed: Observed, now: datetime
) -> list[IdentityHealth]:
    """One verdict per identity of the spec, issuers first."""
    out = []
    for name in graph.order():
        ident = spec.identities[name]
        obs = observed.identities[name]
        errors: list[str] = []
        warnings: list[str] = []
        cert = obs.cert
        if not obs.files:
            errors.append("not issued yet (run pkiform apply)")
        else:
            if obs.key is None:
                errors.append(obs.key_problem or "key.pem is missing")
            if cert is None:
                errors.append(obs.cert_problem or "cert.pem is missing")
            elif obs.key is not None and not obs.key_matches_cert:
                errors.append("key.pem does not match cert.pem")
            if obs.interrupted:
                errors.append("an apply was interrupted here; run pkiform apply to finish it")
        if cert is not None:
            chain = [observed.identities[n].cert for n in graph.chain(name)]
            errors += _chain_problems(cert, chain, now)
            if all(c is not None for c in chain):
                wanted = derived_files(cert, [c for c in chain if c is not None])
                errors += [
                    f"{f} does not match the certificates it should hold"
                    for f, data in wanted.items()
                    if obs.files.get(f) != data
                ]
            if cert.not_valid_after_utc <= now:
                errors.append(f"expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z")
            elif cert.not_valid_before_utc > now:
                errors.append(f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M}Z")
            else:
                due = renewal_due(ident, cert, chain[0] if chain else None, now)
                if due:
                    warnings.append(f"renewal due: {due}")
        health = Health.ERROR if errors else Health.WARNING if warnings else Health.OK
        out.append(
            IdentityHealth(
                name=name,
                kind=str(ident.kind),
                health=health,
                problems=tuple(errors + warnings),
                not_after=cert.not_valid_after_utc if cert else None,
                serial=format(cert.serial_number, "x") if cert else None,
            )
        )
    return out


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
