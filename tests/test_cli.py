"""The command line contract: commands, exit codes, output shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pkiform import __version__
from pkiform.schema import schema_path
from tests.conftest import (
    EXAMPLES,
    ROOT,
    ApplySpec,
    RunCli,
    pkiform_env,
    run_pkiform_process,
    run_python,
)

SMALL = """\
version: 1
identities:
  ca: {kind: root}
  web: {kind: server, issuer: ca, dns: [web.example.com]}
"""


def test_schema_prints_the_shipped_file_byte_for_byte(run_cli: RunCli) -> None:
    result = run_cli("schema")
    assert result.code == 0
    assert result.out == (ROOT / "schemas" / "pkiform.schema.json").read_text()
    assert schema_path().read_bytes() == (ROOT / "schemas" / "pkiform.schema.json").read_bytes()
    json.loads(result.out)


def test_version(run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("--version").code == 0
    assert capsys.readouterr().out == f"pkiform {__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["plan"],
        ["apply", "spec.yaml", "--bogus"],
        ["graph", "spec.yaml", "--format", "png"],
        ["plan", "spec.yaml", "--at", "yesterday"],
        ["plan", "spec.yaml", "--at", "9999-12-31T00:00:00Z"],
        ["apply", "spec.yaml", "--lock-timeout", "-1"],
    ],
    ids=[
        "nothing",
        "unknown-command",
        "missing-spec",
        "unknown-flag",
        "bad-format",
        "bad-at",
        "far-at",
        "bad-timeout",
    ],
)
def test_usage_errors_exit_64(
    run_cli: RunCli, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(*argv).code == 64
    err = capsys.readouterr().err
    assert "usage: pkiform" in err
    assert "Traceback" not in err


def test_validate_ok(run_cli: RunCli) -> None:
    result = run_cli("validate", EXAMPLES / "mesh.yaml")
    assert (result.code, result.err) == (0, "")
    assert result.out == f"{EXAMPLES / 'mesh.yaml'}: valid (6 identities)\n"


def test_missing_spec_file_is_a_clean_error(run_cli: RunCli) -> None:
    result = run_cli("plan", "nope.yaml")
    assert (result.code, result.out) == (1, "")
    assert result.err == "pkiform: error: nope.yaml: no such file\n"


def test_exit_codes_of_plan_follow_the_contract(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SMALL)
    out = tmp_path / "pki"
    assert run_cli("plan", spec, "-o", out).code == 2
    assert run_cli("apply", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0
    assert run_cli("status", spec, "-o", out).code == 0


def test_default_output_directory_is_pki_in_the_working_directory(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SMALL)
    assert run_cli("apply", spec).code == 0
    assert (tmp_path / "pki" / "web" / "cert.pem").is_file()


def test_plan_and_apply_json(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SMALL)
    out = tmp_path / "pki"
    plan = run_cli("plan", spec, "-o", out, "--json")
    assert plan.code == 2
    assert json.loads(plan.out) == {
        "changes": True,
        "actions": [
            {"name": "ca", "verb": "create", "reasons": [], "cascade_from": None},
            {"name": "web", "verb": "create", "reasons": [], "cascade_from": None},
        ],
        "revocations": [
            {
                "kind": "crl",
                "name": "ca",
                "signer": "ca",
                "verb": "create",
                "reasons": ["crl.pem is missing"],
                "crl_number": 1,
                "revoked_serials": [],
                "status": None,
            }
        ],
        "on_disk_only": [],
        "retire": [],
        "trust_bundle": None,
        "warnings": [],
    }
    applied = run_cli("apply", spec, "-o", out, "--json")
    document = json.loads(applied.out)
    assert [a["name"] for a in document["changed"]] == ["ca", "web"]
    assert document["unchanged"] == []
    again = json.loads(run_cli("apply", spec, "-o", out, "--json").out)
    assert (again["changed"], again["unchanged"]) == ([], ["ca", "web"])


def test_status_json_and_failure(applied: ApplySpec, run_cli: RunCli) -> None:
    spec, out = applied(SMALL)
    status = json.loads(run_cli("status", spec, "-o", out, "--json").out)
    assert status["ok"] is True
    assert [(i["name"], i["health"]) for i in status["identities"]] == [("ca", "ok"), ("web", "ok")]
    (out / "ca" / "cert.pem").write_text("not a certificate\n")
    broken = run_cli("status", spec, "-o", out, "--json")
    assert broken.code == 1
    document = json.loads(broken.out)
    assert document["ok"] is False
    problems = {i["name"]: i["problems"] for i in document["identities"]}
    assert problems["ca"] == [
        "cert.pem is not a readable PEM certificate",
        "crl.pem is not signed by this CA's certificate",
    ]
    assert problems["web"] == ["an issuer in its chain has no usable certificate"]


def test_status_without_output_directory(run_cli: RunCli, write_spec: Callable[..., Path]) -> None:
    result = run_cli("status", write_spec(SMALL), "-o", "missing")
    assert result.code == 1
    assert result.err == "pkiform: error: missing: no such directory (run pkiform apply first)\n"


def test_status_catches_expiry_with_at(applied: ApplySpec, run_cli: RunCli) -> None:
    spec, out = applied(SMALL)
    result = run_cli("status", spec, "-o", out, "--at", "2099-01-01T00:00:00Z")
    assert result.code == 1
    assert "expired" in result.out


def test_graph_formats(run_cli: RunCli) -> None:
    mesh = EXAMPLES / "mesh.yaml"
    assert run_cli("graph", mesh).out == (
        "mesh-root (root, ec P-384, 10y)\n"
        "└── mesh-issuing (intermediate, ec P-256, 2y)\n"
        "    ├── alice (client, ec P-256, 90d)\n"
        "    ├── api (server, ec P-256, 90d)\n"
        "    ├── billing (server, ed25519, 90d)\n"
        "    └── worker (client, ec P-384, 30d)\n"
    )
    dot = run_cli("graph", mesh, "--format", "dot").out
    assert dot.startswith("digraph pkiform {")
    assert '"mesh-issuing" -> "api";' in dot
    mermaid = run_cli("graph", mesh, "--format", "mermaid").out
    assert mermaid.splitlines()[0] == "graph TD"
    assert "  n0 --> n1" in mermaid


def test_python_dash_m_is_the_same_program(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    spec = write_spec(SMALL)
    result = run_pkiform_process("apply", spec, "-o", tmp_path / "pki")
    assert result.returncode == 0, result.stderr
    assert "Apply complete: 2 changed, 0 unchanged, 1 CRL/OCSP signed." in result.stdout
    plan = run_pkiform_process("plan", spec, "-o", tmp_path / "pki")
    assert plan.returncode == 0
    bad = run_pkiform_process("plan")
    assert bad.returncode == 64


def test_internal_errors_are_reported_without_traceback(
    run_cli: RunCli, write_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pkiform.commands import validate

    def explode(*args: object, **kwargs: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(validate, "run", explode)
    result = run_cli("validate", write_spec(SMALL))
    assert result.code == 1
    line = explode.__code__.co_firstlineno + 1
    assert result.err == (
        f"pkiform: internal error: RuntimeError at test_cli.py:{line} (its message is not "
        "shown: it may hold a secret); run with PKIFORM_DEBUG=1 for a traceback and report it\n"
    )


def test_a_native_panic_is_an_internal_error_that_never_shows_its_message(
    write_spec: Callable[..., Path],
) -> None:
    # a Rust panic in cryptography is a BaseException, past `except Exception`, and its
    # message spells out the arguments it failed on: a password, say
    code = (
        "from pkiform.commands import validate\n"
        "from pkiform.cli import main\n"
        "from tests.test_secrets import _panic_type\n"
        "def explode(*args, **kwargs):\n"
        "    raise _panic_type()('NulError(7, [104, 117, 110, 116]) hunter2-Secret')\n"
        "validate.run = explode\n"
        f"raise SystemExit(main(['validate', {str(write_spec(SMALL))!r}]))\n"
    )
    result = run_python("-c", code, env=pkiform_env(PYTHONPATH=f"{ROOT / 'src'}:{ROOT}"))
    assert result.returncode == 1
    assert result.stdout == ""
    last = result.stderr.splitlines()[-1]
    assert last == (
        "pkiform: internal error: PanicException at <string>:5 (its message is not shown: it "
        "may hold a secret); run with PKIFORM_DEBUG=1 for a traceback and report it"
    )
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


@pytest.mark.parametrize("argv", [["--version"], ["validate", "SPEC"], ["schema"]])
def test_light_commands_do_not_load_cryptography(
    write_spec: Callable[..., Path], argv: list[str]
) -> None:
    spec = write_spec(SMALL)
    code = (
        "import sys\n"
        "from pkiform.cli import main\n"
        "try:\n"
        f"    main({[str(spec) if a == 'SPEC' else a for a in argv]!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('cryptography')))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
