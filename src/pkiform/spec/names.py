"""The names plans and reports speak in, apart from the spec model: rendering a plan from
the settled mark (commands/up_to_date.py) needs them, and not the model's classes."""

from __future__ import annotations

from typing import NewType

IdentityName = NewType("IdentityName", str)


def serial_text(serial: int) -> str:
    """A certificate's serial number as `openssl x509 -serial` and `openssl crl -text`
    print it (uppercase hex, whole bytes: `0E79F1D1...`), so that one greps for the other."""
    if serial < 0:  # RFC 5280 forbids it; another tool's certificate may have one anyway
        return "-" + serial_text(-serial)
    digits = f"{serial:X}"
    return digits.zfill(len(digits) + len(digits) % 2)
