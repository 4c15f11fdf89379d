"""Durations as pkiform shows them: every span it prints parses back to exactly that span."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkiform import durations
from pkiform.durations import format_rounded, format_span, parse

SPANS = st.timedeltas(min_value=-durations.MAX, max_value=durations.MAX)
WHOLE_SECONDS = st.integers(min_value=0, max_value=int(durations.MAX.total_seconds())).map(
    lambda s: timedelta(seconds=s)
)


@given(SPANS)
def test_a_span_shown_parses_back_to_exactly_that_span(delta: timedelta) -> None:
    assert parse(format_span(delta)) == delta


@given(WHOLE_SECONDS)
def test_whole_seconds_are_shown_without_a_fraction(delta: timedelta) -> None:
    assert "." not in format_span(delta)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=7) - timedelta(minutes=5), "6d23h55m"),  # a 7-day cert, less backdating
        (timedelta(days=7), "7d"),
        (timedelta(days=7) / 3, "2d8h"),  # the default renew_before of a 7d validity
        (timedelta(days=3650) / 3, "1216d16h"),
        (timedelta(hours=36), "36h"),  # under two days, in hours, as before
        (timedelta(days=1), "24h"),
        (timedelta(hours=5) / 3, "1h40m"),
        (timedelta(minutes=20), "20m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(milliseconds=1500), "1.5s"),
        (timedelta(microseconds=1), "0.000001s"),
        (timedelta(0), "0s"),
        (-timedelta(minutes=4), "-4m"),
    ],
)
def test_spans_are_shown_exactly(delta: timedelta, text: str) -> None:
    assert format_span(delta) == text


@given(st.timedeltas(min_value=timedelta(0), max_value=durations.MAX))
def test_a_rounded_span_is_the_span_rounded_down_to_its_largest_unit(delta: timedelta) -> None:
    shown = parse(format_rounded(delta))
    assert shown is not None and shown <= delta
    unit = (
        timedelta(days=1)
        if delta >= timedelta(days=2)
        else timedelta(hours=1)
        if delta >= timedelta(hours=1)
        else timedelta(minutes=1)
        if delta >= timedelta(minutes=1)
        else timedelta(seconds=1)
    )
    assert delta - shown < unit


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=29, hours=23), "29d"),
        (timedelta(hours=47, minutes=59), "47h"),
        (timedelta(minutes=42, seconds=59), "42m"),
        (timedelta(seconds=5, microseconds=999), "5s"),
        (timedelta(0), "0s"),
    ],
)
def test_times_left_and_ago_are_rounded_down(delta: timedelta, text: str) -> None:
    assert format_rounded(delta) == text


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("90d", timedelta(days=90)),
        ("2w", timedelta(weeks=2)),
        ("1y", timedelta(days=365)),
        ("100y", durations.MAX),
        ("1y2w3d4h5m6s", timedelta(days=365 + 14 + 3, hours=4, minutes=5, seconds=6)),
        ("6d23h55m", timedelta(days=7) - timedelta(minutes=5)),
        ("0.25s", timedelta(milliseconds=250)),
        ("-4m", -timedelta(minutes=4)),
    ],
)
def test_parse_reads_the_spec_forms_and_compound_spans(text: str, delta: timedelta) -> None:
    assert parse(text) == delta


@pytest.mark.parametrize(
    "text",
    ["", "-", "d", "7", "7x", "1d1y", "1h1h", "1.5h", "0.1234567s", "101y", "36501d", " 7d",
     "7 d", "7D", "99999999999d", "--1d"],
)  # fmt: skip
def test_parse_refuses_what_is_not_a_span_of_at_most_100y(text: str) -> None:
    assert parse(text) is None
