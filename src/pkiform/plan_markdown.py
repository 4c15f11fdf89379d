"""`plan --format markdown`: a plan as a pull-request comment (GitHub, GitLab).

A one-line summary; a table of the changes with their reasons; reason lists longer than
LONG in full in a collapsed `<details>` block below it; the spec's warnings. The rows
come from the one Plan object (render.plan_rows), or from the settled mark
(commands/up_to_date.py), which may not load cryptography: so this module needs nothing
but the standard library.

Whatever came from the spec or the disk (names, reasons, warnings) is shown in code
spans: GitHub and GitLab turn nothing in a code span into markup, a link, an `@mention`
or an issue reference, and HTML in it is text. Only the table's `|` must be escaped
there (GFM: a `\\|` in a cell is a `|` even inside a code span).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# reason lists longer than this are cut short in the table and given in full below it
LONG = 3
_SHOWN = LONG - 1  # what the table shows of a longer list, beside "and N more below"
_INVISIBLE = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))
_BACKTICKS = re.compile("`+")
# what can begin markup inside a line (CommonMark §2.4 allows escaping any ASCII
# punctuation; GFM adds ~ strikethrough, GitHub $ math): pkiform's words need no more
_MARKUP = re.compile(r"([\\`*_\[\]<>|&~$])")


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of a plan: `symbol name (kind): change`, and its reasons."""

    symbol: str  # +, ~, -/+, !, -, ?, or " " (skip)
    name: str
    kind: str | None  # None where the line names no identity of the spec
    change: str
    reasons: tuple[str, ...] = ()


def comment(
    rows: Sequence[Row],
    summary: str,
    warnings: Sequence[str] = (),
    notes: Sequence[Sequence[str]] = (),
) -> str:
    """The whole comment; each of `notes` (a CA rotation's progress, say) is a heading
    line and the lines under it."""
    parts = [f"**{text(summary)}**\n"]
    if rows:
        parts.append(_table(rows))
    long = [row for row in rows if len(row.reasons) > LONG]
    if long:
        parts.append(_details(long))
    for heading, *lines in notes:
        parts.append(f"**{text(heading)}**\n\n" + "".join(f"- {text(x.strip())}\n" for x in lines))
    if warnings:
        parts.append("**Warnings**\n\n" + "".join(f"- {code(w)}\n" for w in warnings))
    return "\n".join(parts)


def _table(rows: Sequence[Row]) -> str:
    lines = ["| | identity | change | reasons |", "|:-:|---|---|---|"]
    for row in rows:
        symbol = code(row.symbol, table=True) if row.symbol.strip() else ""
        reasons = [code(r, table=True) for r in row.reasons]
        if len(reasons) > LONG:
            reasons = [*reasons[:_SHOWN], f"and {len(reasons) - _SHOWN} more below"]
        cells = (symbol, _who(row, table=True), text(row.change), "<br>".join(reasons))
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _details(rows: Sequence[Row]) -> str:
    count = f"{len(rows)} change{'s' if len(rows) > 1 else ''}"
    parts = [f"<details><summary>All the reasons of {count} with more than {LONG}</summary>\n"]
    for row in rows:
        parts.append(f"{_who(row)}: {text(row.change)}\n")
        parts.append("".join(f"- {code(r)}\n" for r in row.reasons))
    parts.append("</details>\n")
    return "\n".join(parts)


def _who(row: Row, *, table: bool = False) -> str:
    return code(row.name, table=table) + (f" ({text(row.kind)})" if row.kind else "")


def code(value: str, *, table: bool = False) -> str:
    """`value` as a code span that shows it as it is (CommonMark §6.1): fenced by more
    backticks than it holds in a row, padded where it starts or ends with one; what
    cannot be seen (a line break, a control or format character) shown escaped."""
    shown = "".join(_visible(c) for c in value)
    if not shown:
        return ""
    fence = "`" * (1 + max((len(m) for m in _BACKTICKS.findall(shown)), default=0))
    if shown[0] == "`" or shown[-1] == "`" or (shown[0] == shown[-1] == " " and shown.strip()):
        shown = f" {shown} "
    if table:
        shown = shown.replace("|", "\\|")
    return f"{fence}{shown}{fence}"


def text(value: str) -> str:
    """pkiform's own words as plain text, none of it markup (its `\\|` holds in a table
    as outside one)."""
    return _MARKUP.sub(r"\\\1", "".join(_visible(c) for c in value))


def _visible(char: str) -> str:
    if unicodedata.category(char) not in _INVISIBLE:
        return char
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"
