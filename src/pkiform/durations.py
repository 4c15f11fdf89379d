"""Durations as the spec and the command line write them (`12h`, `90d`, `2w`, `10y`),
and instants (RFC 3339: `2026-01-31T12:00:00Z`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
UNITS["y"] = 365 * UNITS["d"]  # design.md §1: a year is 365 days
MAX = 100 * UNITS["y"]

_FORM = re.compile(r"[1-9][0-9]{0,5}[hdwy]")


def span(text: str) -> timedelta:
    """The span a duration of the right form writes (`90d`), however long."""
    return int(text[:-1]) * UNITS[text[-1]]


def parse(text: str) -> timedelta | None:
    """The span `text` writes, or None when it is not a duration of at most 100y."""
    if not _FORM.fullmatch(text):
        return None
    delta = span(text)
    return delta if delta <= MAX else None


def format_span(delta: timedelta) -> str:
    """A span for messages, in the spec's units: `29d`, `36h`."""
    if delta <= timedelta(0):
        return "0h"
    return f"{delta.days}d" if delta >= timedelta(days=2) else f"{delta // timedelta(hours=1)}h"


def parse_instant(text: str) -> datetime:
    """An RFC 3339 timestamp, `Z` or `z` for UTC; naive when it gives no time zone.
    Raises ValueError when it is not one."""
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
