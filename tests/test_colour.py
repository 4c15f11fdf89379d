"""Colour on a terminal, and nowhere else: pkiform runs as a real process with its
standard output on a pseudo-terminal (what a terminal emulator gives a program), or on a
pipe, with NO_COLOR, FORCE_COLOR and TERM set or not."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from pkiform import colour
from tests.helpers.run import ApplySpec, pkiform_env

SPEC = """\
version: 1
identities:
  root: {kind: root}
  issuing: {kind: intermediate, issuer: root, path_length: 0}
  web: {kind: server, issuer: issuing, dns: [web.example]}
  alice: {kind: client, issuer: issuing}
"""
GREEN, YELLOW, RED, RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[0m"
ESCAPE = re.compile("\x1b\\[[0-9;]*m")


def environment(**settings: str) -> dict[str, str]:
    env = pkiform_env()
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    env.update(settings)
    return {k: v for k, v in env.items() if v != "<unset>"}


def in_terminal(*argv: str | Path, env: Mapping[str, str]) -> tuple[int, str]:
    """pkiform with its standard output on a pseudo-terminal: exit code and what the
    terminal received (its line discipline's \\r\\n read back as \\n)."""
    main, child = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "pkiform", *map(str, argv)],
            stdin=subprocess.DEVNULL,
            stdout=child,
            stderr=subprocess.PIPE,
            env=dict(env),
        )
    finally:
        os.close(child)  # the child holds it now: its exit ends the reads below
    received = bytearray()
    try:
        while chunk := os.read(main, 65536):
            received += chunk
    except OSError:  # EIO: the terminal's other side is closed
        pass
    finally:
        os.close(main)
    process.communicate(timeout=120)
    return process.returncode, received.decode().replace("\r\n", "\n")


def in_pipe(*argv: str | Path, env: Mapping[str, str]) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "pkiform", *map(str, argv)],
        capture_output=True, text=True, env=dict(env), timeout=120, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout


@pytest.fixture
def edited(applied: ApplySpec) -> tuple[Path, Path]:
    """An applied PKI whose spec now asks for every kind of change: a new client (+), a
    reissue (~), a new intermediate key (-/+)."""
    spec, out = applied(SPEC)
    spec.write_text(
        SPEC.replace("dns: [web.example]", "dns: [web.example, www.example]").replace(
            "path_length: 0}", "path_length: 0, key: {type: ec, curve: P-384}}"
        )
        + "  bob: {kind: client, issuer: root}\n"
    )
    return spec, out


def test_plan_on_a_terminal_colours_its_symbols_and_nothing_else(
    edited: tuple[Path, Path],
) -> None:
    spec, out = edited
    code, shown = in_terminal("plan", spec, "-o", out, env=environment())
    assert code == 2
    assert f"{RED}-/+{RESET} issuing (intermediate): replace key\n" in shown
    assert f"  {YELLOW}~{RESET} web (server): reissue\n" in shown
    assert f"  {GREEN}+{RESET} bob (client): create\n" in shown
    assert f"  {YELLOW}~{RESET} issuing: re-sign crl.pem" in shown
    # the colours are all that differs from what a pipe gets
    piped = in_pipe("plan", spec, "-o", out, env=environment())
    assert piped == (2, ESCAPE.sub("", shown))
    assert "\x1b" not in piped[1]


def test_a_blocked_identity_is_red(applied: ApplySpec) -> None:
    spec, out = applied(SPEC)
    (out / "issuing" / "key.pem").unlink()
    code, shown = in_terminal("plan", spec, "-o", out, env=environment())
    assert code == 1
    assert f"  {RED}!{RESET} issuing (intermediate): blocked\n" in shown


@pytest.mark.parametrize(
    ("settings", "coloured"),
    [
        ({}, True),
        ({"NO_COLOR": "1"}, False),
        ({"NO_COLOR": ""}, True),  # empty is unset (no-color.org)
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins, as in CPython
        ({"TERM": "dumb"}, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, True),
        ({"TERM": "<unset>"}, True),
    ],
    ids=["default", "no-color", "empty-no-color", "both", "dumb", "dumb-forced", "no-term"],
)
def test_a_terminal_gets_colour_unless_the_environment_says_no(
    edited: tuple[Path, Path], settings: dict[str, str], coloured: bool
) -> None:
    spec, out = edited
    code, shown = in_terminal("plan", spec, "-o", out, env=environment(**settings))
    assert code == 2
    assert (f"{GREEN}+{RESET} bob" in shown) is coloured
    assert ("\x1b" in shown) is coloured


@pytest.mark.parametrize(
    ("settings", "coloured"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": ""}, False)],
    ids=["default", "forced", "empty-force"],
)
def test_a_pipe_gets_colour_only_when_forced(
    edited: tuple[Path, Path], settings: dict[str, str], coloured: bool
) -> None:
    spec, out = edited
    code, text = in_pipe("plan", spec, "-o", out, env=environment(**settings))
    assert code == 2
    assert ("\x1b" in text) is coloured


@pytest.mark.parametrize("flags", [("--json",), ("--format", "markdown")], ids=["json", "md"])
def test_json_and_markdown_are_never_coloured(
    edited: tuple[Path, Path], flags: tuple[str, ...]
) -> None:
    spec, out = edited
    forced = environment(FORCE_COLOR="1")
    code, shown = in_terminal("plan", spec, "-o", out, *flags, env=forced)
    assert code == 2 and shown.strip()
    assert "\x1b" not in shown
    assert in_pipe("plan", spec, "-o", out, *flags, env=forced) == (2, shown)
    code, shown = in_terminal("status", spec, "-o", out, "--json", env=forced)
    assert code == 1 and "\x1b" not in shown


def test_apply_and_status_colour_on_a_terminal(edited: tuple[Path, Path]) -> None:
    spec, out = edited
    code, shown = in_terminal("apply", spec, "-o", out, env=environment())
    assert code == 0
    assert f"  {GREEN}+{RESET} bob: create\n" in shown
    assert f"{RED}-/+{RESET} issuing: replace key" in shown
    code, shown = in_terminal("status", spec, "-o", out, env=environment())
    assert code == 0
    assert f"{GREEN}ok{RESET}      web " in shown
    (out / "web" / "cert.pem").write_text("junk\n")
    code, shown = in_terminal("status", spec, "-o", out, env=environment())
    assert code == 1
    assert f"{RED}error{RESET}   web " in shown
    piped = in_pipe("status", spec, "-o", out, env=environment())
    assert piped == (1, ESCAPE.sub("", shown))


def test_the_answer_of_the_settled_mark_looks_the_same_on_a_terminal(
    applied: ApplySpec,
) -> None:
    revoked = "  old: {kind: client, issuer: issuing, revoked: {reason: superseded}}\n"
    spec, out = applied(SPEC + revoked)
    twin = spec.with_name("twin.yaml")
    twin.write_bytes(spec.read_bytes() + b"# planned in full\n")
    marked = in_terminal("plan", spec, "-o", out, env=environment())
    assert marked == in_terminal("plan", twin, "-o", out, env=environment())
    assert marked[1].endswith("No changes: 4 identities up to date, 1 skipped.\n")


def test_the_palette_is_decided_in_one_place() -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    assert colour.palette(terminal, "text", {}) is colour.COLOUR  # type: ignore[arg-type]
    for fmt in ("json", "markdown"):
        forced = {"FORCE_COLOR": "1"}
        assert colour.palette(terminal, fmt, forced) is colour.PLAIN  # type: ignore[arg-type]
    assert colour.COLOUR.paint("  ~") == f"  {YELLOW}~{RESET}"
    assert colour.COLOUR.paint("   ") == "   "  # unchanged and skipped: no colour
    assert colour.COLOUR.paint("  ?") == "  ?"
    assert colour.PLAIN.paint("-/+") == "-/+"
