"""README.md, run as a reader runs it: every block tagged `<!-- tested by
tests/test_readme.py: NAME -->` is executed with its own commands (shell lines through
bash, with a `pkiform` on PATH that runs this source tree), in a fresh directory holding
the examples, and its output compared with what the README shows. The TLS walk-throughs
start the README's own `openssl s_server` and `s_client` and do real handshakes in both
directions; their negative twins prove that what the README adds (`-cert_chain`) is what
makes them pass."""

from __future__ import annotations

import argparse
import ast
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pkiform.cli import build_parser
from tests.helpers.csr_files import requests_named, write_request
from tests.helpers.processes import TIMEOUT, Proc, Spawn, free_port
from tests.helpers.repo import EXAMPLES, ROOT
from tests.helpers.run import RunCli, pkiform_env
from tests.helpers.tools import openssl

README = (ROOT / "README.md").read_text()
README_PORT = "8443"


def block(name: str) -> str:
    """The text of the README block tagged `name`."""
    tag = re.escape(f"<!-- tested by tests/test_readme.py: {name} -->")
    found = re.search(tag + r"\n```[a-z]*\n(.*?)```", README, re.S)
    assert found, f"README.md lost the block tagged {name!r}"
    return found.group(1)


def commands(script: str) -> list[str]:
    """A shell block's commands, continuation lines joined, comment lines dropped."""
    joined = script.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class Shell:
    """Runs README shell text with `bash -e` in the test's directory."""

    bash: str
    cwd: Path
    env: dict[str, str]  # `pkiform` on its PATH runs this source tree

    def __call__(
        self, script: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.bash, "-e", "-c", script],
            cwd=self.cwd,
            env=self.env if env is None else env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture
def shell(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Shell:
    """A shell in the test's directory, which holds a copy of examples/ as a reader's
    checkout does."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.fail("bash is required to run the README's shell blocks")
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "pkiform"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pkiform "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = pkiform_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return Shell(bash, tmp_path, env)


def ran(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- the mutual-TLS walk-throughs ------------------------------------------------------


@dataclass(frozen=True)
class WalkThrough:
    setup: str  # the pkiform command that issues the files
    server: list[str]  # openssl's arguments, as the README gives them
    client: list[str]


def walk_through(name: str) -> WalkThrough:
    setup, server, client = commands(block(name))
    assert setup.startswith("pkiform apply ")
    server_argv, client_argv = shlex.split(server), shlex.split(client)
    assert server_argv[:2] == ["openssl", "s_server"]
    assert client_argv[:2] == ["openssl", "s_client"]
    return WalkThrough(setup, server_argv[1:], client_argv[1:])


def on_port(argv: list[str], port: int) -> list[str]:
    """The README's port 8443 replaced by a free one (tests may run side by side)."""
    replaced = [
        str(port) if a == README_PORT else a.replace(f":{README_PORT}", f":{port}") for a in argv
    ]
    assert replaced != argv, "the README's commands no longer use port 8443"
    return replaced


def without(argv: list[str], option: str) -> list[str]:
    """argv without `option` and its value."""
    i = argv.index(option)
    return argv[:i] + argv[i + 2 :]


def value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def connect(spawn: Spawn, server: list[str], client: list[str]) -> tuple[Proc, Proc]:
    """s_server listening on a free port, and s_client connected to it."""
    for _ in range(5):
        port = free_port()
        started = spawn(*on_port(server, port))
        if started.wait_for("ACCEPT"):
            return started, spawn(*on_port(client, port))
        started.stop()
    pytest.fail(f"openssl s_server did not start: {started.text}")


def verified_chain(text: str) -> list[str]:
    """The subjects an openssl side verified, root first, each with `verify return:1`."""
    return re.findall(r"^depth=\d+ (.*)\nverify return:1$", text, re.M)


MTLS_ROOT = "C = JP, CN = eeetann-ca"
MESH = "C = JP, O = Example Mesh"
MESH_ROOT = f"{MESH}, CN = Example Mesh Root CA"
MESH_ISSUING = f"{MESH}, OU = Platform, CN = Example Mesh Issuing CA"
# what each side of each walk-through verifies: the other side's chain, root first
CHAINS = {
    "mtls": {
        "server sees": [MTLS_ROOT, "C = JP, CN = hoge"],
        "client sees": [MTLS_ROOT, "C = JP, CN = hoge"],
    },
    "mesh": {
        "server sees": [MESH_ROOT, MESH_ISSUING, f"{MESH}, CN = worker"],
        "client sees": [MESH_ROOT, MESH_ISSUING, f"{MESH}, CN = api"],
    },
}


@pytest.mark.parametrize("name", ["mtls", "mesh"])
def test_the_readme_walk_through_does_mutual_tls_both_ways(
    name: str, shell: Shell, spawn: Spawn
) -> None:
    steps = walk_through(name)
    ran(shell(steps.setup))
    server, client = connect(spawn, steps.server, steps.client)
    assert client.wait_for("Verify return code: 0 (ok)"), client.text
    assert "Verified peername: localhost" in client.text
    client.send(b"hello from s_client\n")
    assert server.wait_for("hello from s_client"), server.text
    server.send(b"hello from s_server\n")
    assert client.wait_for("hello from s_server"), client.text
    # each side verified the other's whole chain, intermediate included, up to its root
    assert verified_chain(server.text) == CHAINS[name]["server sees"], server.text
    assert verified_chain(client.text) == CHAINS[name]["client sees"], client.text
    assert f"subject={CHAINS[name]['server sees'][-1]}" in server.text
    if name == "mesh":  # what the README says both sides print
        assert f"`verify return:1` after\n`depth=1 {MESH_ISSUING}`" in README
    assert "error" not in server.text.lower() + client.text.lower()
    client.close_input()  # s_client ends the connection at the end of its input
    assert client.popen.wait(TIMEOUT) == 0, client.text


def test_the_readme_tells_what_the_mtls_walk_through_prints(shell: Shell, spawn: Spawn) -> None:
    steps = walk_through("mtls")
    summary = ran(shell(steps.setup)).splitlines()[-1]
    assert f"(`{summary}`)" in README.replace("\n", " ")  # the summary it quotes
    server, client = connect(spawn, steps.server, steps.client)
    for shown, by in (
        ("Verify return code: 0 (ok)", client),
        ("subject=C = JP, CN = hoge", server),
    ):
        assert f"`{shown}`" in README
        assert by.wait_for(shown), by.text


@pytest.mark.parametrize(
    "case",
    ["server sends no chain", "server sends fullchain.pem as -cert", "client sends no chain"],
)
def test_without_cert_chain_the_mesh_handshake_fails(case: str, shell: Shell, spawn: Spawn) -> None:
    steps = walk_through("mesh")
    ran(shell(steps.setup))
    server, client = steps.server, steps.client
    if case == "server sends no chain":
        server = without(server, "-cert_chain")
    elif case == "server sends fullchain.pem as -cert":  # what the README used to advise
        fullchain = value(server, "-cert").replace("cert.pem", "fullchain.pem")
        assert Path(fullchain).read_text().count("BEGIN CERTIFICATE") == 2
        server = without(server, "-cert_chain")
        server[server.index("-cert") + 1] = fullchain
    else:
        client = without(client, "-cert_chain")
    server_proc, client_proc = connect(spawn, server, client)
    client_proc.send(b"must not arrive\n")  # at once, while it runs: sent if it connected
    refuser = client_proc if case.startswith("server") else server_proc
    assert refuser.wait_for("unable to get local issuer certificate"), refuser.text
    assert client_proc.popen.wait(TIMEOUT) != 0, client_proc.text
    assert "must not arrive" not in server_proc.text
    assert "Verify return code: 0 (ok)" not in client_proc.text or case.startswith("client")


def test_cert_chain_is_left_out_where_chain_pem_is_empty(shell: Shell, spawn: Spawn) -> None:
    # the README's reason for showing the mTLS walk-through without -cert_chain
    steps = walk_through("mtls")
    ran(shell(steps.setup))
    assert "-cert_chain" not in steps.server + steps.client
    chain = Path(value(steps.server, "-cert").replace("cert.pem", "chain.pem"))
    assert chain.read_bytes() == b""
    server = spawn(*on_port([*steps.server, "-cert_chain", str(chain)], free_port()))
    assert server.wait_for("Could not read any server certificate chain"), server.text
    assert server.popen.wait(TIMEOUT) != 0


# --- reproducible mode -----------------------------------------------------------------


def files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_the_reproducible_example_gives_identical_directories_valid_today(
    shell: Shell, tmp_path: Path
) -> None:
    script = block("reproducible")
    ran(shell(script))
    here, elsewhere = files(tmp_path / "pki"), files(tmp_path / "elsewhere")
    assert len(here) > 30 and here == elsewhere
    # valid now, whenever the test runs: status checks every certificate, CRL and chain
    for out in ("pki", "elsewhere"):
        status = shell(f"pkiform status examples/mesh.yaml -o {out}")
        assert status.returncode == 0, status.stdout
        assert status.stdout.endswith("6 identities, 0 with errors.\n")
    api = tmp_path / "pki" / "api"
    verify = openssl(
        "verify", "-CAfile", api / "ca.pem", "-untrusted", api / "chain.pem", api / "cert.pem"
    )
    assert verify.returncode == 0, verify.stderr


def test_the_former_fixed_at_of_the_reproducible_example_has_expired(
    shell: Shell, tmp_path: Path
) -> None:
    # the same block with the date the README used to give: its leaves are long expired
    script = re.sub(r"^AT=.*$", "AT=2026-01-01T00:00:00Z", block("reproducible"), flags=re.M)
    assert script != block("reproducible")
    ran(shell(script))
    status = shell("pkiform status examples/mesh.yaml")
    assert status.returncode == 1
    assert "expired 2026-04-01 00:00Z" in status.stdout


# --- blocks that show a command and its output -----------------------------------------


def shown(name: str) -> tuple[str, str]:
    """A block's `$ command` (its comment dropped) and the output shown below it."""
    first, _, output = block(name).partition("\n")
    assert first.startswith("$ pkiform ")
    return first[2:].split("  #")[0].strip(), output


def test_the_outputs_example_reports_every_missing_password(shell: Shell) -> None:
    command, output = shown("outputs-passwords")
    env = {k: v for k, v in shell.env.items() if not k.endswith("_PASSWORD")}
    result = shell(command, env)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", output)
    assert len(output.splitlines()) == 3


@pytest.mark.parametrize("name", ["plan", "plan-markdown"])
def test_the_plan_example_is_what_plan_prints_after_the_edit_it_describes(
    shell: Shell, tmp_path: Path, name: str
) -> None:
    command, output = shown(name)
    assert "# after editing: P-384 issuing key, a new api name, alice removed" in block("plan")
    assert name == "plan" or "# after the same edit" in block(name)
    ran(shell("pkiform apply examples/mesh.yaml"))
    spec = tmp_path / "examples" / "mesh.yaml"
    text = spec.read_text()
    edited = (
        text.replace(
            "  mesh-issuing:\n    kind: intermediate\n",
            "  mesh-issuing:\n    kind: intermediate\n    key: {type: ec, curve: P-384}\n",
        )
        .replace(
            "dns: [api.mesh.internal, localhost]",
            "dns: [api.mesh.internal, api2.mesh.internal, localhost]",
        )
        .split("  alice:\n")[0]
    )
    assert edited.count("\n") == text.count("\n") - 5 + 1
    spec.write_text(edited)
    result = shell(command)
    assert (result.returncode, result.stdout, result.stderr) == (2, output, "")


ERRORS_SPEC = """\
version: 1
identities:
  ca1:
    kind: root
  web:
    kind: server
    issuer: ca1
    dns: [web.example.com]
  api:
    kind: sever
    issuer: ca1
    dns: [api.example.com]
    vaildity: 30d
"""


def test_the_error_example_is_what_validate_prints(shell: Shell, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(ERRORS_SPEC)
    result = shell("pkiform validate spec.yaml")
    assert (result.returncode, result.stdout, result.stderr) == (1, "", block("errors"))


def test_the_python_example_runs(shell: Shell, tmp_path: Path) -> None:
    found = re.search(r"## From Python\n.*?```python\n(.*?)```", README, re.S)
    assert found, "README.md lost the Python example"
    example = found.group(1)
    # and the alternatives its comments name
    example += (
        "assert plan.changes[0].verb == 'create' and plan.changes[0].reasons == ()\n"
        'assert spec.read("pki")["server"].cert_pem == server.cert_pem\n'
        'text = open("examples/mtls.yaml").read()\n'
        "import yaml\n"
        "assert not pkiform.loads(text).plan('pki').changes\n"
        "assert not pkiform.from_dict(yaml.safe_load(text)).plan('pki').changes\n"
    )
    (tmp_path / "example.py").write_text(example)
    ran(shell(f'"{sys.executable}" example.py'))


# --- every command the README shows is one the program takes --------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def readme_command_lines() -> list[str]:
    """Every `pkiform ...` the README gives to run: lines of shell blocks, `$ ` lines,
    and inline code that starts with `pkiform` and a subcommand or option."""
    found = []
    for lang, body in re.findall(r"```([a-z]*)\n(.*?)```", README, re.S):
        lines = commands(body) if lang == "sh" else []
        lines += [line[2:] for line in body.splitlines() if line.startswith("$ ")]
        found += [line for line in lines if "pkiform " in line]
    names = set(_subcommands())
    for span in re.findall(r"`(pkiform [^`]*)`", README):
        words = span.split()
        if len(words) == 2 and words[1] in names:
            continue  # a mention of the command (`pkiform status` checks ...)
        if words[1] in names or words[1].startswith("-"):
            found.append(span)
    return found


def test_every_pkiform_command_in_the_readme_is_accepted_by_the_parser() -> None:
    lines = readme_command_lines()
    assert len(lines) >= 8  # the README shows that many at least: the search works
    for line in lines:
        # a command in a process substitution (`source <(pkiform ...)`) is that command
        line = re.sub(r"<\((pkiform [^)]*)\)", r"\1", line).split(" > ")[0]
        # the reproducible example's variable, as the line before it sets it
        argv = shlex.split(line.split("|")[0].replace("$AT", "2026-01-01T00:00:00Z"), comments=True)
        argv = argv[argv.index("pkiform") + 1 :]
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version, or a usage error (64)
            assert e.code == 0, f"README: `{line}` is not a valid command line"
        else:
            assert args.command in _subcommands()


def test_the_readme_synopsis_lists_every_command_and_every_option_appears() -> None:
    synopsis = re.search(r"## Commands\n\n```\n(.*?)```", README, re.S)
    assert synopsis, "README.md lost the synopsis of the commands"
    listed = [line.split()[1] for line in synopsis.group(1).splitlines()]
    assert listed == list(_subcommands())
    options = {
        option
        for sub in [build_parser(), *_subcommands().values()]
        for action in sub._actions
        for option in action.option_strings
        if option.startswith("--")
    }
    undocumented = [o for o in options if not re.search(rf"(?<![\w-]){o}(?![\w-])", README)]
    assert sorted(undocumented) == []


def test_the_readme_spec_is_the_mtls_example() -> None:
    found = re.search(r"```yaml\n# examples/mtls.yaml\n(.*?)```", README, re.S)
    assert found, "README.md lost the spec it shows first"
    example = (EXAMPLES / "mtls.yaml").read_text()
    assert found.group(1) == "".join(
        line for line in example.splitlines(keepends=True) if not line.startswith("#")
    )


def test_the_readme_python_block_is_python() -> None:
    for body in re.findall(r"```python\n(.*?)```", README, re.S):
        ast.parse(body)


def test_every_test_the_readme_cites_exists() -> None:
    cited: list[tuple[str, str | None]] = []
    current = ""
    for path, name, continued in re.findall(r"(tests/\w+\.py)(?:::(\w+))?|`::(\w+)`", README):
        current = path or current
        cited.append((current, name or continued or None))
    assert len([c for c in cited if c[1]]) >= 10
    missing = [
        f"{path}::{name}" if name else path
        for path, name in cited
        if not (ROOT / path).is_file()
        or (name and not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M))
    ]
    assert missing == []


# a YAML block tagged for another test is no spec (a pre-commit configuration): it is
# checked there
SPEC_BLOCKS = re.findall(r"(?<!-->\n)```yaml\n(.*?)```", README, re.S)


@pytest.mark.parametrize("index", range(len(SPEC_BLOCKS)))
def test_every_yaml_block_of_the_readme_validates(
    index: int, run_cli: RunCli, tmp_path: Path
) -> None:
    text = SPEC_BLOCKS[index]
    if not re.search(r"^version:", text, re.M):
        text = "version: 1\n" + text  # an excerpt (the outputs example): its fields only
    (tmp_path / "spec.yaml").write_text(text)
    for path in requests_named(text):  # validate reads them: real ones, beside the spec
        write_request(tmp_path / path)
    result = run_cli("validate", "spec.yaml")
    assert (result.code, result.err) == (0, ""), text
