"""Shell completion, asked of the real shells: bash (its completion function called as
bash calls it, then COMPREPLY read), zsh (an interactive zsh in a pseudo-terminal, TAB
pressed, the matches its completion system adds collected) and fish (`complete -C`).
The scripts come from the parser: every command and option is offered, and --rekey
offers the identity names of the spec on the line, never anything a shell would run."""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pkiform.cli import build_parser
from pkiform.commands.completion import _NAME
from tests.helpers.repo import ROOT
from tests.helpers.run import pkiform_env, run_python
from tests.helpers.tools import require_tool

SPEC = """\
version: 1
identities:
  root-ca: {kind: root}
  issuing: {kind: intermediate, issuer: root-ca}
  web: {kind: server, issuer: issuing, dns: [web.example]}
  worker: {kind: client, issuer: issuing}
"""
NAMES = ["issuing", "root-ca", "web", "worker"]


@pytest.fixture
def workdir(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A folder with a spec, another YAML file, a folder and a text file; a `pkiform` on
    PATH that runs this source tree."""
    (tmp_path / "pki.yaml").write_text(SPEC)
    (tmp_path / "other.yml").write_text("version: 1\nidentities: {solo: {kind: root}}\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "notes.txt").write_text("x\n")
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "pkiform"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pkiform "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def script(shell: str) -> str:
    result = run_python("-m", "pkiform", "completion", shell)
    assert result.returncode == 0, result.stderr
    return result.stdout


def shell_env(workdir: Path) -> dict[str, str]:
    """The shells' environment: `pkiform` on PATH, HOME the test's folder."""
    return pkiform_env(HOME=str(workdir))


# --- bash ------------------------------------------------------------------------------

BASH_PROBE = """\
source <(pkiform completion bash)
COMP_CWORD=$1
COMP_WORDS=("${@:2}")
COMPREPLY=()
_pkiform pkiform
printf '%s\\n' "${COMPREPLY[@]}"
"""


def bash_completes(workdir: Path, line: str, cursor: int | None = None) -> list[str]:
    """What bash offers for `line` (split at spaces, as bash's COMP_WORDS; a trailing
    space starts an empty word), the cursor in word `cursor` (default: the last)."""
    words = line.split(" ")
    cword = len(words) - 1 if cursor is None else cursor
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH_PROBE, "bash", str(cword), *words],
        cwd=workdir, env=shell_env(workdir), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return sorted(filter(None, result.stdout.split("\n")))


def commands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


def options_of(command: str) -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = action.choices[command]
    return sorted(o for a in sub._actions for o in a.option_strings)


@pytest.fixture(autouse=True)
def _bash() -> None:
    require_tool("bash", "bash")


def test_bash_completes_every_command_and_every_option_of_the_parser(workdir: Path) -> None:
    assert bash_completes(workdir, "pkiform ") == sorted(commands())
    assert bash_completes(workdir, "pkiform pl") == ["plan"]
    assert bash_completes(workdir, "pkiform -") == ["--help", "--version", "-h"]
    for command in commands():
        assert bash_completes(workdir, f"pkiform {command} -") == options_of(command), command
    assert "completion" in commands() and "init" in commands()


def test_bash_completes_values_by_what_they_are(workdir: Path) -> None:
    assert bash_completes(workdir, "pkiform plan --format ") == ["json", "markdown", "text"]
    assert bash_completes(workdir, "pkiform graph --format m") == ["mermaid"]
    assert bash_completes(workdir, "pkiform completion ") == ["bash", "fish", "zsh"]
    assert bash_completes(workdir, "pkiform plan pki.yaml -o ") == ["out"]  # folders only
    assert bash_completes(workdir, "pkiform plan pki.yaml --out = ") == ["out"]
    assert bash_completes(workdir, "pkiform plan ") == ["other.yml", "out", "pki.yaml"]
    assert bash_completes(workdir, "pkiform apply --seed-file ") == [
        "notes.txt", "other.yml", "out", "pki.yaml",
    ]  # fmt: skip
    assert bash_completes(workdir, "pkiform status pki.yaml --warn-within ") == []


@pytest.mark.parametrize(
    ("line", "cursor"),
    [
        ("pkiform plan pki.yaml --rekey ", None),
        ("pkiform apply -o out pki.yaml --rekey ", None),
        ("pkiform plan --rekey  pki.yaml", 3),  # the spec after the cursor
        ("pkiform plan pki.yaml --rekey = ", None),
        ("pkiform plan --at 2030-01-01T00:00:00Z pki.yaml --rekey web --rekey ", None),
    ],
)
def test_bash_offers_the_identities_of_the_spec_on_the_line_for_rekey(
    workdir: Path, line: str, cursor: int | None
) -> None:
    assert bash_completes(workdir, line, cursor) == NAMES
    assert bash_completes(workdir, line.replace("pki.yaml", "other.yml"), cursor) == ["solo"]


def test_bash_completes_names_by_prefix_and_without_a_spec_offers_none(workdir: Path) -> None:
    assert bash_completes(workdir, "pkiform plan pki.yaml --rekey w") == ["web", "worker"]
    assert bash_completes(workdir, "pkiform plan --rekey ") == []
    assert bash_completes(workdir, "pkiform plan - --rekey ") == []  # standard input
    assert bash_completes(workdir, "pkiform plan missing.yaml --rekey ") == []
    assert bash_completes(workdir, "pkiform plan ~/pki.yaml --rekey ") == NAMES  # HOME


def test_bash_registers_the_function_for_pkiform(workdir: Path) -> None:
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", "source <(pkiform completion bash); complete -p"],
        env=shell_env(workdir), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.stdout == "complete -F _pkiform pkiform\n"


def test_a_hostile_spec_gets_no_name_offered_and_nothing_run(workdir: Path) -> None:
    hostile = {
        "version": 1,
        "identities": {
            "$(touch pwned)": {"kind": "root"},
            "`touch pwned2`": {"kind": "root"},
            "a b": {"kind": "root"},
            "ok": {"kind": "root"},
            "Upper": {"kind": "root"},
        },
    }
    (workdir / "hostile.yaml").write_text(json.dumps(hostile))
    assert bash_completes(workdir, "pkiform plan hostile.yaml --rekey ") == ["ok"]
    assert not list(workdir.glob("pwned*"))
    # an invalid spec still completes: names are read off the YAML, nothing else
    (workdir / "invalid.yaml").write_text(SPEC.replace("kind: root", "kind: rooot"))
    assert bash_completes(workdir, "pkiform plan invalid.yaml --rekey ") == NAMES
    (workdir / "broken.yaml").write_text("identities: [\n")
    assert bash_completes(workdir, "pkiform plan broken.yaml --rekey ") == []


def test_names_are_printed_without_loading_cryptography_or_the_schema(workdir: Path) -> None:
    probe = (
        "import sys; from pkiform.cli import main; "
        f"code = main(['completion', '--names', {str(workdir / 'pki.yaml')!r}]); "
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('cryptography', 'jsonschema')))"
    )
    result = run_python("-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(f"{n}\n" for n in ["root-ca", "issuing", "web", "worker"]) + (
        "0 []\n"
    )


def test_the_name_rule_is_the_schemas() -> None:
    schema = json.loads((ROOT / "schemas" / "pkiform.schema.json").read_text())
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "identities" in node.get("properties", {}):
                found.append(node["properties"]["identities"]["propertyNames"]["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert found == [f"^{_NAME.pattern}$"]


def test_completion_wants_a_shell_or_names(workdir: Path) -> None:
    for argv in ([], ["tcsh"], ["bash", "--names", "pki.yaml"]):
        result = subprocess.run(
            [sys.executable, "-m", "pkiform", "completion", *argv], cwd=workdir,
            env=pkiform_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (result.returncode, result.stdout) == (64, ""), argv


# --- zsh -------------------------------------------------------------------------------

ZSH_SETUP = """\
PS1='' PROMPT='' RPROMPT=''
autoload -Uz compinit && compinit -u -D
source <(pkiform completion zsh)
# every match the completion system adds, between \\x01 and \\x02, then \\x03 at the end
compadd() {
  local -a hits; local hit
  builtin compadd -O hits "$@"
  for hit in $hits; do print -rn -- $'\\x01'"$hit"$'\\x02' >&2; done
  builtin compadd "$@"
}
_pkiform_test_done() { print -rn -- $'\\x01\\x03\\x02' >&2 }
comppostfuncs=(_pkiform_test_done)
bindkey '^I' complete-word
print -r -- $'\\x01READY\\x02'
"""


def zsh_completes(workdir: Path, line: str) -> list[str]:
    """What an interactive zsh offers when TAB is pressed after `line`."""
    (workdir / ".setup.zsh").write_text(ZSH_SETUP)
    env = shell_env(workdir)
    env["TERM"] = "dumb"
    terminal, child = os.openpty()
    try:  # zsh on the terminal, in a session of its own (whose terminal it becomes)
        process = subprocess.Popen(
            [shutil.which("zsh") or "zsh", "-f", "-i"], stdin=child, stdout=child,
            stderr=child, cwd=workdir, env=env, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(child)
    try:
        os.write(terminal, b"source .setup.zsh\n")
        _read_until(terminal, b"\x01READY\x02")
        os.write(terminal, line.encode() + b"\t")
        shown = _read_until(terminal, b"\x01\x03\x02")
    finally:
        os.write(terminal, b"\x15exit\n")  # ^U: the line typed is dropped, then exit
        try:
            process.wait(timeout=60)
        finally:
            os.close(terminal)
            if process.poll() is None:
                process.kill()
                process.wait()
    return sorted(set(re.findall("\x01([^\x01\x02\x03]*)\x02", shown.decode())))


def _read_until(terminal: int, marker: bytes, timeout: float = 60) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    while marker not in received:
        if time.monotonic() > deadline:
            pytest.fail(f"zsh did not answer: {received!r}")
        ready, _, _ = select.select([terminal], [], [], 0.5)
        if ready:
            received += os.read(terminal, 65536)
    return received


def test_the_zsh_script_is_accepted_by_zsh() -> None:
    zsh = require_tool("zsh", "zsh")
    result = subprocess.run(
        [zsh, "-n"], input=script("zsh"), capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_zsh_completes_commands_options_values_and_names(workdir: Path) -> None:
    require_tool("zsh", "zsh")
    assert zsh_completes(workdir, "pkiform pl") == ["plan"]
    assert zsh_completes(workdir, "pkiform ") == sorted(commands())
    assert zsh_completes(workdir, "pkiform plan --f") == ["--format"]
    assert zsh_completes(workdir, "pkiform plan --format ") == ["json", "markdown", "text"]
    assert zsh_completes(workdir, "pkiform plan pki.yaml --rekey ") == NAMES
    assert zsh_completes(workdir, "pkiform apply -o out other.yml --rekey ") == ["solo"]
    assert zsh_completes(workdir, "pkiform plan --rekey ") == []
    assert zsh_completes(workdir, "pkiform plan ") == ["other.yml", "out", "pki.yaml"]
    assert zsh_completes(workdir, "pkiform status pki.yaml -o ") == ["out"]


# --- fish ------------------------------------------------------------------------------


def fish_completes(workdir: Path, line: str) -> list[str]:
    fish = shutil.which("fish")
    if fish is None:  # not in .ci/system-packages: it brings man-db and groff along
        pytest.skip("fish is not installed (apt-get install fish)")
    source = workdir / "pkiform.fish"
    source.write_text(script("fish"))
    result = subprocess.run(
        [fish, "--no-config", "-c", f"source {source}; complete -C {line!r}"], cwd=workdir,
        env=shell_env(workdir), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return sorted(entry.split("\t")[0] for entry in result.stdout.splitlines())


def test_the_fish_script_is_accepted_by_fish(workdir: Path) -> None:
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed (apt-get install fish)")
    result = subprocess.run(
        [fish, "--no-config", "-n"], input=script("fish"), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")


def test_fish_completes_commands_options_values_and_names(workdir: Path) -> None:
    assert fish_completes(workdir, "pkiform pl") == ["plan"]
    assert fish_completes(workdir, "pkiform ") == sorted(commands())
    assert fish_completes(workdir, "pkiform plan --f") == ["--format"]
    assert fish_completes(workdir, "pkiform plan --format ") == ["json", "markdown", "text"]
    assert fish_completes(workdir, "pkiform plan pki.yaml --rekey ") == NAMES
    assert fish_completes(workdir, "pkiform apply -o out other.yml --rekey ") == ["solo"]
    assert fish_completes(workdir, "pkiform plan --rekey ") == []
    assert {"other.yml", "pki.yaml", "out/"} <= set(fish_completes(workdir, "pkiform plan "))
