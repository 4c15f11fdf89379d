"""Colour for people at a terminal: whether to use it is decided here, and only here.

`plan`, `apply` and `status` colour their text on a terminal (terraform's colours: `+`
green, `~` yellow, `-/+`, `-` and `!` red; `ok`, `warning`, `error` likewise). Never in
a pipe or a file, unless FORCE_COLOR asks; never with NO_COLOR; never in JSON or
markdown, which programs read. The conventions are https://no-color.org and
https://force-color.org, weighed as CPython's own `_colorize` weighs them: NO_COLOR
first, then FORCE_COLOR, then TERM=dumb, then whether the stream is a terminal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

_RESET = "\x1b[0m"
# SGR foreground colours (ECMA-48 §8.3.117)
_GREEN, _YELLOW, _RED = "\x1b[32m", "\x1b[33m", "\x1b[31m"
_COLOURS = {
    "+": _GREEN,
    "~": _YELLOW,
    "-/+": _RED,
    "-": _RED,
    "!": _RED,
    "ok": _GREEN,
    "warning": _YELLOW,
    "error": _RED,
}


@dataclass(frozen=True, slots=True)
class Palette:
    """Paints plan symbols and health words, or leaves them as they are."""

    enabled: bool = False

    def paint(self, word: str) -> str:
        """`word` in its colour (a plan symbol, or a health), on; else as it is."""
        colour = _COLOURS.get(word.strip()) if self.enabled else None
        if colour is None:
            return word
        # the padding stays outside the codes: the colour is the word's alone
        stripped = word.strip()
        start = word.index(stripped)
        return f"{word[:start]}{colour}{stripped}{_RESET}{word[start + len(stripped) :]}"


PLAIN = Palette(False)
COLOUR = Palette(True)


def wanted(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether text written to `stream` is coloured (module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # not a file, or closed
        return False


def palette(stream: TextIO, fmt: str = "text", environ: Mapping[str, str] | None = None) -> Palette:
    """The palette for output in format `fmt` on `stream`: JSON and markdown never get
    colour, whatever the terminal or the environment say."""
    return COLOUR if fmt == "text" and wanted(stream, environ) else PLAIN
