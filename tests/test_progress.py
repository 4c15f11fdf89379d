"""The progress line: only on a terminal, only for long applies, never on stdout."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from pkiform.commands.progress import Progress
from tests.helpers.run import RunCli


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_quick_apply_shows_nothing() -> None:
    stream = Terminal()
    progress = Progress(stream, enabled=True)
    progress.start(3)
    for name in "abc":
        progress.step(name)
    progress.close()
    assert stream.getvalue() == ""


def test_a_long_apply_shows_done_total_and_rate_then_erases_it() -> None:
    stream = Terminal()
    progress = Progress(stream, enabled=True)
    progress.start(4)
    progress.started -= 10  # as if it had been running for ten seconds
    for name in "abcd":
        progress.step(name)
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\rapplying: 1/4 identities (")
    assert "\rapplying: 4/4 identities (" in text  # the last step is always drawn
    assert text.endswith("\r\033[K")


def test_disabled_progress_is_silent_however_long() -> None:
    stream = Terminal()
    progress = Progress(stream, enabled=False)
    progress.start(4)
    progress.started -= 10
    progress.step("a")
    progress.close()
    assert stream.getvalue() == ""


def test_apply_without_a_terminal_writes_no_progress(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec("version: 1\nidentities:\n  ca: {kind: root}\n")
    result = run_cli("apply", spec, "-o", tmp_path / "pki", "--json")
    assert (result.code, result.err) == (0, "")
