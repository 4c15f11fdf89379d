"""Durations as the spec and the command line write them (`12h`, `90d`, `2w`, `10y`),
and instants (RFC 3339: `2026-01-31T12:00:00Z`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
UNITS["y"] = 365 * UNITS["d"]  # design.md §1: a year is 365 days
MAX = 100 * UNITS["y"]

# what pkiform signs starts this long before the clock: peers whose clocks run a little
# slow would reject "not yet valid" (certificates, CRLs, OCSP responses alike)
BACKDATE = timedelta(minutes=5)

# what messages show besides the spec's units (format_span), largest first
_ALL_UNITS = {"y": UNITS["y"], "w": UNITS["w"], "d": UNITS["d"], "h": UNITS["h"]}
_ALL_UNITS |= {"m": timedelta(minutes=1), "s": timedelta(seconds=1)}
_MICRO = timedelta(microseconds=1)
_TWO_DAYS = 2 * UNITS["d"]
# a span as format_span shows it, or as a user writes one: each unit once, largest first;
# ten digits each bound the arithmetic (100y is 3153600000s) before the 100y check
_SPAN = re.compile(
    r"(?P<sign>-)?(?=\d)"
    + "".join(f"(?:(?P<{u}>[0-9]{{1,10}}){u})?" for u in "ywdhm")
    + r"(?:(?P<s>[0-9]{1,10})(?:\.(?P<fraction>[0-9]{1,6}))?s)?"
)


def span(text: str) -> timedelta:
    """The span a duration of the spec's form writes (`90d`), however long."""
    return int(text[:-1]) * UNITS[text[-1]]


def parse(text: str) -> timedelta | None:
    """The span `text` writes (`90d`, `2w`, or as format_span shows one: `6d23h55m`,
    `-4m`), or None when it is not a span of at most 100y either way."""
    found = _SPAN.fullmatch(text)
    if found is None:
        return None
    micro = sum(int(found[u] or 0) * (_ALL_UNITS[u] // _MICRO) for u in _ALL_UNITS)
    micro += int((found["fraction"] or "").ljust(6, "0"))
    if micro > MAX // _MICRO:
        return None
    return -micro * _MICRO if found["sign"] else micro * _MICRO


def format_span(delta: timedelta) -> str:
    """A span exactly, for messages: `29d`, `36h` (under two days, in hours), `6d23h55m`,
    `1.5s`, `-4m`. parse() reads it back to the same span."""
    if delta < timedelta(0):
        return "-" + format_span(-delta)
    seconds, micro = divmod(delta // _MICRO, 1_000_000)
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24) if delta >= _TWO_DAYS else (0, hours)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (h, "h"), (m, "m")) if n)
    if micro:
        text += f"{s}.{micro:06d}".rstrip("0") + "s"
    elif s or not text:
        text += f"{s}s"
    return text


def format_rounded(delta: timedelta) -> str:
    """A time left or ago, rounded down to whole days from two days on, else to whole
    hours, minutes or seconds: `29d`, `47h`, `42m`, `5s` (parse() reads back at most
    `delta`). Nothing below zero: a time past is said as `... ago`."""
    delta = max(delta, timedelta(0))
    if delta >= _TWO_DAYS:
        unit = UNITS["d"]
    elif delta >= UNITS["h"]:
        unit = UNITS["h"]
    else:
        unit = _ALL_UNITS["m"] if delta >= _ALL_UNITS["m"] else _ALL_UNITS["s"]
    return format_span(delta // unit * unit)


def drift_text(field: str, length: timedelta, backdate: timedelta, wanted: str) -> str:
    """`field: HAD -> WANTED`, HAD being `length` (notBefore to notAfter, thisUpdate to
    nextUpdate) as the spec's `field` counts it: without the `backdate` before signing.
    Where that leaves a length no spec writes, say why: another tool's certificate
    spans its validity exactly."""
    text = f"{field}: {format_span(length - backdate)} -> {wanted}"
    if (length - backdate) % UNITS["h"]:
        text += (
            f" (it spans {format_span(length)}; pkiform adds {format_span(backdate)} "
            f"of backdating to the {field})"
        )
    return text


def parse_instant(text: str) -> datetime:
    """An RFC 3339 timestamp, `Z` or `z` for UTC; naive when it gives no time zone.
    Raises ValueError when it is not one."""
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
