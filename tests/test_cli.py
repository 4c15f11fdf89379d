"""The command line contract: commands, exit codes, output shapes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import pkiform
from pkiform._version import __version__
from pkiform.cache import settled
from pkiform.cli import main
from pkiform.spec.schema import schema_path
from tests.helpers.repo import EXAMPLES, ROOT
from tests.helpers.run import (
    ApplySpec,
    Result,
    RunCli,
    pkiform_env,
    run_pkiform_process,
    run_python,
)
from tests.helpers.tools import openssl

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
        ["status", "spec.yaml", "--warn-within", "-1d"],
        ["status", "spec.yaml", "--warn-within", "0s"],
        ["status", "spec.yaml", "--warn-within", "30 days"],
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
        "negative-window",
        "empty-window",
        "bad-window",
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


INVALID = """\
version: 1
identities:
  ca: {kind: root, validity: 30d}
  web: {kind: server, issuer: ca, dns: [web.example.com], validity: 1y}
  api: {kind: server, issuer: cx, dns: [api.example.com]}
"""


def diagnostics_of(file: str) -> list[dict[str, object]]:
    return [
        {
            "file": file,
            "line": 4,
            "col": 69,
            "severity": "warning",
            "path": "identities.web.validity",
            "message": "1y outlives its issuer 'ca' (30d); its certificate will end when the "
            "issuer's does",
        },
        {
            "file": file,
            "line": 5,
            "col": 31,
            "severity": "error",
            "path": "identities.api.issuer",
            "message": "unknown identity 'cx'",
        },
    ]


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "status"])
def test_json_prints_the_diagnostics_of_an_invalid_spec(
    write_spec: Callable[..., Path], tmp_path: Path, command: str
) -> None:
    """One shape for every command: pipelines parse stdout; people still read stderr."""
    spec = write_spec(INVALID)
    out = ("-o", tmp_path / "pki") if command != "validate" else ()
    result = feed(b"", command, spec, *out, "--json")
    assert result.code == 1
    assert json.loads(result.out) == {"valid": False, "diagnostics": diagnostics_of(str(spec))}
    assert result.err == (
        f"{spec}:4:69: warning: identities.web.validity: 1y outlives its issuer 'ca' (30d); "
        "its certificate will end when the issuer's does\n"
        f"{spec}:5:31: error: identities.api.issuer: unknown identity 'cx'\n"
    )
    piped = feed(INVALID.encode(), command, "-", *out, "--json")
    assert (piped.code, json.loads(piped.out)) == (
        1,
        {"valid": False, "diagnostics": diagnostics_of("<stdin>")},
    )
    text = feed(b"", command, spec, *out)
    assert (text.code, text.out, text.err) == (1, "", result.err)
    assert not (tmp_path / "pki").exists()


def test_validate_json_of_a_valid_spec_lists_its_warnings(write_spec: Callable[..., Path]) -> None:
    spec = write_spec(INVALID.replace("issuer: cx", "issuer: ca, validity: 30d"))
    result = feed(b"", "validate", spec, "--json")
    assert result.code == 0
    assert json.loads(result.out) == {"valid": True, "diagnostics": diagnostics_of(str(spec))[:1]}
    clean = feed(b"", "validate", write_spec(SMALL, "small.yaml"), "--json")
    assert (clean.code, json.loads(clean.out), clean.err) == (
        0,
        {"valid": True, "diagnostics": []},
        "",
    )


def test_validate_checks_every_spec_given_and_reports_the_problems_of_each(
    write_spec: Callable[..., Path],
) -> None:
    """pre-commit passes every changed file to one run: each is checked, every problem of
    each reported, sorted by file; the exit is 1 if any is invalid."""
    small, bad = write_spec(SMALL, "small.yaml"), write_spec(INVALID, "bad.yaml")
    warns = write_spec(INVALID.replace("issuer: cx", "issuer: ca, validity: 30d"), "warns.yaml")
    result = feed(SMALL.encode(), "validate", warns, bad, small, "-")
    assert result.code == 1
    assert result.out == (
        f"{warns}: valid (3 identities)\n"
        f"{small}: valid (2 identities)\n"
        "<stdin>: valid (2 identities)\n"
    )
    assert result.err == "".join(
        f"{d['file']}:{d['line']}:{d['col']}: {d['severity']}: {d['path']}: {d['message']}\n"
        for d in [*diagnostics_of(str(bad)), *diagnostics_of(str(warns))[:1]]
    )
    as_json = feed(b"", "validate", warns, bad, small, "--json")
    assert (as_json.code, json.loads(as_json.out)) == (
        1,
        {"valid": False, "diagnostics": diagnostics_of(str(bad)) + diagnostics_of(str(warns))[:1]},
    )
    fine = feed(b"", "validate", small, warns, "--json")
    assert (fine.code, json.loads(fine.out)["valid"]) == (0, True)
    assert json.loads(fine.out)["diagnostics"] == diagnostics_of(str(warns))[:1]
    twice = feed(SMALL.encode(), "validate", "-", small, "-")
    assert twice == Result(
        1, "", "pkiform: error: standard input (-) can be read once: give - once\n"
    )


def test_json_diagnostics_of_a_missing_password_say_the_spec_is_valid(
    write_spec: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PKIFORM_TEST_NO_SUCH_PASSWORD", raising=False)
    bundle = "outputs: {pkcs12: {password_env: PKIFORM_TEST_NO_SUCH_PASSWORD}}"
    spec = write_spec(
        SMALL.replace("dns: [web.example.com]}", f"dns: [web.example.com], {bundle}}}")
    )
    result = feed(b"", "plan", spec, "-o", tmp_path / "pki", "--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["valid"] is True
    assert [(d["severity"], d["path"]) for d in document["diagnostics"]] == [
        ("error", "identities.web.outputs.pkcs12.password_env")
    ]


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


def test_the_apply_summary_names_the_directory_it_wrote(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SMALL)
    first = run_cli("apply", spec)  # the default directory, as the user did not type it
    assert first.out.splitlines()[-1] == (
        "Apply complete in pki: 2 changed, 0 unchanged, 1 CRL/OCSP signed."
    )
    # the settled mark answers the second apply: it names the directory as well
    again = run_cli("apply", spec, "-o", "pki")
    assert again.out == "Apply complete in pki: 0 changed, 2 unchanged.\n"
    elsewhere = tmp_path / "other dir" / "pki"
    result = run_cli("apply", spec, "-o", elsewhere, "--emit", "kubernetes")
    summary = f"Apply complete in {elsewhere}: 2 changed, 0 unchanged, 1 CRL/OCSP signed."
    assert summary in result.err.splitlines()  # --emit: the summary goes to stderr


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
        "crosses": [],
        "on_disk_only": [],
        "retire": [],
        "trust_bundle": None,
        "rotations": [],
        "notes": [],
        "git_files": [],
        "tighten": [],
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


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (Path.unlink, "trust-bundle.pem is missing (run pkiform apply)"),
        (
            lambda path: path.write_bytes(b"garbage\n"),
            "trust-bundle.pem does not hold the spec's roots (run pkiform apply)",
        ),
        (
            lambda path: path.write_bytes(path.read_bytes() * 2),
            "trust-bundle.pem does not hold the spec's roots (run pkiform apply)",
        ),
    ],
    ids=["missing", "garbage", "doubled"],
)
def test_status_checks_the_trust_bundle_as_plan_does(
    applied: ApplySpec, run_cli: RunCli, damage: Callable[[Path], object], problem: str
) -> None:
    spec, out = applied(SMALL)
    assert run_cli("status", spec, "-o", out).code == 0
    damage(out / "trust-bundle.pem")
    planned = run_cli("plan", spec, "-o", out)
    assert planned.code == 2 and "  ~ trust-bundle.pem: write\n" in planned.out
    status = run_cli("status", spec, "-o", out)
    assert status.code == 1
    assert status.out.splitlines()[-3:] == [
        "error   trust-bundle.pem",
        f"        {problem}",
        "2 identities, 0 with errors; trust-bundle.pem has errors.",
    ]
    document = json.loads(run_cli("status", spec, "-o", out, "--json").out)
    assert document["ok"] is False
    assert document["trust_bundle"] == {"health": "error", "problems": [problem]}
    report = pkiform.load(spec).status(out)
    assert (report.ok, report.trust_bundle, len(report)) == (False, (problem,), 2)
    assert run_cli("apply", spec, "-o", out).code == 0
    fine = json.loads(run_cli("status", spec, "-o", out, "--json").out)
    assert (fine["ok"], fine["trust_bundle"]) == (True, {"health": "ok", "problems": []})


OUT_PLACES: dict[str, Callable[[Path], Path]] = {
    "a-file": lambda base: _touch(base / "afile"),
    "below-a-file": lambda base: _touch(base / "afile") / "pki",
    "a-link": lambda base: _link(base / "link", base / "real"),
}


def _touch(path: Path) -> Path:
    path.write_text("not a directory\n")
    return path


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target, target_is_directory=True)
    return path


@pytest.mark.parametrize("place", OUT_PLACES.values(), ids=OUT_PLACES.keys())
@pytest.mark.parametrize("flags", [(), ("--json",)], ids=["text", "json"])
def test_plan_refuses_an_output_directory_apply_refuses(
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    place: Callable[[Path], Path],
    flags: tuple[str, ...],
) -> None:
    """issue 12: `plan -o FILE` planned to create everything and exited 2, where apply
    says the directory cannot be used; now plan says the same, exit 1, and plans nothing."""
    spec = write_spec(SMALL)
    assert run_cli("apply", spec, "-o", tmp_path / "real").code == 0  # the link's target
    out = place(tmp_path)
    applied = run_cli("apply", spec, "-o", out, *flags)
    planned = run_cli("plan", spec, "-o", out, *flags)
    assert (planned.code, planned.out, planned.err) == (1, "", applied.err)
    assert (applied.code, applied.out) == (1, "")
    reason = {
        "afile": "exists and is not a directory",
        "pki": "cannot create: Not a directory",
        "link": "is a symlink; pkiform does not follow links",
    }[out.name]
    assert planned.err == f"pkiform: error: {out}: {reason}\n"


def test_status_of_a_file_says_it_is_not_a_directory(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    out = _touch(tmp_path / "afile")
    result = run_cli("status", write_spec(SMALL), "-o", out)
    assert (result.code, result.out) == (1, "")
    assert result.err == f"pkiform: error: {out}: exists and is not a directory\n"


def feed(data: bytes, *argv: str | Path) -> Result:
    """pkiform in this process, with `data` on its standard input."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err, stdin=io.BytesIO(data))
    return Result(code, out.getvalue(), err.getvalue())


def test_dash_reads_the_spec_from_standard_input(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    data = SMALL.encode()
    assert feed(data, "validate", "-") == Result(0, "<stdin>: valid (2 identities)\n", "")
    assert feed(data, "plan", "-", "-o", out).code == 2
    applied = feed(data, "apply", "-", "-o", out)
    assert (applied.code, applied.err) == (0, "")
    assert (out / "web" / "cert.pem").is_file()
    assert settled.check(data, out, datetime.now(UTC)) is not None  # marked for these bytes
    assert feed(data, "plan", "-", "-o", out) == Result(
        0, "No changes: 2 identities up to date.\n", ""
    )
    assert feed(data + b"# planned in full\n", "plan", "-", "-o", out) == Result(
        0, "No changes: 2 identities up to date.\n", ""
    )
    assert feed(data, "status", "-", "-o", out).code == 0
    tree = "ca (root, ec P-256, 10y)\n└── web (server, ec P-256, 90d)\n"
    assert feed(data, "graph", "-") == Result(0, tree, "")


def test_errors_in_a_spec_from_standard_input_are_located_in_stdin(tmp_path: Path) -> None:
    bad = SMALL.replace("issuer: ca", "issuer: cx").encode()
    result = feed(bad, "plan", "-", "-o", tmp_path / "pki")
    assert (result.code, result.out) == (1, "")
    assert result.err == "<stdin>:4:31: error: identities.web.issuer: unknown identity 'cx'\n"
    assert feed(b"\xff\n", "validate", "-").err == (
        "<stdin>:1:1: error: expected UTF-8 text; got the byte 0xff (save the file as UTF-8)\n"
    )
    too_big = b"#" * (8 * 1024 * 1024 + 1)
    assert feed(too_big, "validate", "-").err == (
        "<stdin>:1:1: error: spec too large: expected at most 8388608 bytes\n"
    )
    assert not (tmp_path / "pki").exists()


def test_the_standard_input_limit_is_the_spec_files() -> None:
    from pkiform.commands import spec_input
    from pkiform.spec.source import MAX_FILE_BYTES

    assert spec_input._LIMIT == MAX_FILE_BYTES


def test_a_spec_on_standard_input_takes_password_files_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = SMALL.replace(
        "dns: [web.example.com]}",
        "dns: [web.example.com], outputs: {pkcs12: {password_file: secrets/p12.txt}}}",
    )
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "spec.yaml").write_text(text)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "p12.txt").write_text("from the working directory\n")
    monkeypatch.chdir(tmp_path)
    piped = feed(text.encode(), "apply", "-", "-o", "pki")
    assert (piped.code, piped.err) == (0, "")
    opened = openssl("pkcs12", "-in", "pki/web/bundle.p12", "-passin",
                     "pass:from the working directory", "-nokeys", "-info")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    # the same spec as a file takes them from the file's folder, where there are none
    from_file = feed(b"", "plan", "specs/spec.yaml", "-o", "pki")
    assert (from_file.code, from_file.out) == (1, "")
    assert from_file.err == (
        "specs/spec.yaml:4:93: error: identities.web.outputs.pkcs12.password_file: password "
        "file secrets/p12.txt cannot be read: No such file or directory; needed to check and "
        "write the bundle.p12 of 'web'\n"
    )


def test_standard_input_is_read_once_by_a_real_process(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """The settled mark and planning in full both work from the bytes read: a pipe can
    be read only once."""
    out = tmp_path / "pki"
    data = SMALL.encode()
    for argv, code in [(("apply",), 0), (("plan",), 0), (("plan", "--json"), 0)]:
        # the second spec differs by a comment: no mark answers, it is planned in full
        for spec in (data, data + b"# planned in full\n"):
            result = subprocess.run(
                [sys.executable, "-m", "pkiform", argv[0], "-", "-o", str(out), *argv[1:]],
                input=spec, capture_output=True, env=pkiform_env(), timeout=120, check=False,
            )  # fmt: skip
            assert (result.returncode, result.stderr) == (code, b""), argv


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


def test_graph_shows_a_rotation(run_cli: RunCli, write_spec: Callable[..., Path]) -> None:
    spec = write_spec(
        "version: 1\nidentities:\n"
        "  old: {kind: root}\n"
        "  new: {kind: root, replaces: old, cross_sign: true}\n"
        "  issuing: {kind: intermediate, issuer: old}\n"
        "  issuing-2: {kind: intermediate, issuer: new, replaces: issuing}\n"
        "  web: {kind: server, issuer: issuing-2, dns: [web.example]}\n"
    )
    result = run_cli("graph", spec)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "new (root, ec P-256, 10y, replaces old, cross-signed by it)",
        "└── issuing-2 (intermediate, ec P-256, 5y, replaces issuing)",
        "    └── web (server, ec P-256, 90d)",
        "old (root, ec P-256, 10y)",
        "└── issuing (intermediate, ec P-256, 5y)",
    ]
    dot = run_cli("graph", spec, "--format", "dot").out.splitlines()
    assert dot[-3:] == [
        '  "old" -> "new" [style=dashed, label="replaced by\\ncross-signs it"];',
        '  "issuing" -> "issuing-2" [style=dashed, label="replaced by"];',
        "}",
    ]
    mermaid = run_cli("graph", spec, "--format", "mermaid").out.splitlines()
    names = {
        line.split('["')[1].split("<br/>")[0]: line.split("[")[0].strip()
        for line in mermaid
        if '["' in line
    }
    assert mermaid[-2:] == [
        f"  {names['old']} -.->|replaced by, cross-signs it| {names['new']}",
        f"  {names['issuing']} -.->|replaced by| {names['issuing-2']}",
    ]


def test_python_dash_m_is_the_same_program(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    spec = write_spec(SMALL)
    result = run_pkiform_process("apply", spec, "-o", tmp_path / "pki")
    assert result.returncode == 0, result.stderr
    summary = f"Apply complete in {tmp_path / 'pki'}: 2 changed, 0 unchanged, 1 CRL/OCSP signed."
    assert summary in result.stdout
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
        "from tests.helpers.panics import panic_type\n"
        "def explode(*args, **kwargs):\n"
        "    raise panic_type()('NulError(7, [104, 117, 110, 116]) hunter2-Secret')\n"
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


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["validate", "SPEC"], ["validate", "SPEC", "--json"], ["validate", "BAD",
     "--json"], ["schema"], ["init", "starter"], ["completion", "bash"],
     ["completion", "--names", "SPEC"]],
)  # fmt: skip
def test_light_commands_do_not_load_cryptography(
    write_spec: Callable[..., Path], argv: list[str]
) -> None:
    spec, bad = write_spec(SMALL), write_spec(INVALID, "bad.yaml")
    argv = [str(spec) if a == "SPEC" else str(bad) if a == "BAD" else a for a in argv]
    code = (
        "import sys\n"
        "from pkiform.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('cryptography')))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


ENCRYPTED = """\
version: 1
identities:
  ca: {kind: root, key: {type: ec, encrypt: {password_env: PKIFORM_TEST_CA_PASSWORD}}}
  web: {kind: server, issuer: ca, dns: [web.example.com]}
"""


def test_plan_without_key_passwords_says_what_apply_needs_them_for(
    write_spec: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI job planning a pull request holds no key's password: the plan is made all the
    same, and what apply will need the password for is a warning, not an error."""
    monkeypatch.delenv("PKIFORM_TEST_CA_PASSWORD", raising=False)
    spec, out = write_spec(ENCRYPTED), tmp_path / "pki"
    where = f"{spec}:3:60: "
    refused = feed(b"", "plan", spec, "-o", out)
    assert (refused.code, refused.out, refused.err) == (1, "", (
        f"{where}error: identities.ca.key.encrypt.password_env: environment variable "
        "PKIFORM_TEST_CA_PASSWORD is not set; needed to encrypt the new key of 'ca'\n"
    ))  # fmt: skip
    planned = feed(b"", "plan", spec, "-o", out, "--no-key-passwords")
    assert planned.code == 2
    assert planned.err == (
        f"{where}warning: identities.ca.key.encrypt.password_env: environment variable "
        "PKIFORM_TEST_CA_PASSWORD is not read by this plan (--no-key-passwords); needed to "
        "encrypt the key of 'ca'\n"
    )
    monkeypatch.setenv("PKIFORM_TEST_CA_PASSWORD", "a long and random password")
    assert feed(b"", "plan", spec, "-o", out).out == planned.out  # the same plan
    assert feed(b"", "apply", spec, "-o", out).code == 0
    spec.write_text(ENCRYPTED + "  api: {kind: server, issuer: ca, dns: [api.example.com]}\n")
    monkeypatch.setenv("PKIFORM_TEST_CA_PASSWORD", "wrong")  # not even read
    later = feed(b"", "plan", spec, "-o", out, "--no-key-passwords", "--json")
    assert later.code == 2
    assert json.loads(later.out)["warnings"] == [
        f"{where}warning: identities.ca.key.encrypt.password_env: environment variable "
        "PKIFORM_TEST_CA_PASSWORD is not read by this plan (--no-key-passwords); needed to "
        "sign the certificate of 'api' with the key of 'ca'"
    ]
    wrong = feed(b"", "plan", spec, "-o", out)  # read, it is refused as ever
    assert wrong.code == 1 and "does not open with" in wrong.err
    assert feed(b"", "apply", spec, "-o", out, "--no-key-passwords").code == 64  # plan's only


def test_plan_without_key_passwords_opens_no_key_password_file(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    # a password file the plan may not read (outside the spec's folder, no --allow-path)
    # is not even looked at: the job leaves it to apply, where it is refused
    (tmp_path / "outside.txt").write_text("a long and random password\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "ca.txt").symlink_to(tmp_path / "outside.txt")
    spec = write_spec(
        ENCRYPTED.replace("password_env: PKIFORM_TEST_CA_PASSWORD", "password_file: ca.txt"),
        "specs/pki.yaml",
    )
    refused = feed(b"", "plan", spec, "-o", tmp_path / "pki")
    assert refused.code == 1 and "outside the spec's folder" in refused.err, refused.err
    planned = feed(b"", "plan", spec, "-o", tmp_path / "pki", "--no-key-passwords")
    assert planned.code == 2, planned.err
    assert planned.err.endswith(
        "warning: identities.ca.key.encrypt.password_file: password file ca.txt is not read "
        "by this plan (--no-key-passwords); needed to encrypt the key of 'ca'\n"
    ), planned.err
