"""One entry of a CRL as pkiform plans and writes it: plain data, no cryptography, so the
plan's types (plan/types.py) carry it without loading cryptography."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Revoked:
    """One CRL entry."""

    serial: int
    at: datetime
    reason: str  # an RFC 5280 §5.3.1 reason name, a key of x509/revocation.py's REASONS
