"""The Python API does what the command line does, with the same results, and hands back
keys, certificates and ready ssl contexts that work in real handshakes."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pkiform
from pkiform.errors import PkiformError, RefusedError, StoreError
from pkiform.x509.keys import spki_der
from tests.helpers.files import snapshot
from tests.helpers.repo import EXAMPLES
from tests.helpers.run import RunCli
from tests.helpers.tls import assert_connected, assert_rejected, exchange
from tests.helpers.tools import openssl

SPEC = """\
version: 1
defaults:
  validity: 30d
identities:
  root:
    kind: root
    validity: 1y
  issuing:
    kind: intermediate
    issuer: root
    validity: 180d
  web:
    kind: server
    issuer: issuing
    dns: [localhost]
    ip: [127.0.0.1]
  alice:
    kind: client
    issuer: issuing
    email: [alice@example.com]
"""

OTHER = """\
version: 1
identities:
  other-root: {kind: root}
  mallory: {kind: client, issuer: other-root}
  fake-web: {kind: server, issuer: other-root, dns: [localhost]}
"""


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> pkiform.Applied:
    return pkiform.loads(SPEC).apply(tmp_path_factory.mktemp("api") / "pki")


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> pkiform.PKI:
    return pkiform.loads(OTHER).apply(tmp_path_factory.mktemp("other") / "pki").pki


# --- loading and validation -----------------------------------------------------------------


def test_a_file_its_text_and_its_data_load_to_the_same_spec(tmp_path: Path) -> None:
    path = EXAMPLES / "mesh.yaml"
    specs = [
        pkiform.load(path),
        pkiform.load(str(path)),
        pkiform.loads(path.read_text()),
        pkiform.from_dict(yaml.safe_load(path.read_text())),
    ]
    plans = [s.plan(tmp_path / "none") for s in specs]
    assert all(s.names == specs[0].names for s in specs)
    assert all(p.actions == plans[0].actions for p in plans)
    assert {a.verb for a in plans[0].actions} == {pkiform.Verb.CREATE}


def test_every_problem_comes_in_one_exception_with_its_location() -> None:
    text = SPEC.replace("validity: 1y", "validity: 1 year").replace("dns:", "dnss:")
    with pytest.raises(pkiform.SpecError) as caught:
        pkiform.loads(text, file="team.yaml")
    problems = caught.value.diagnostics
    assert [(d.loc.file, d.loc.line, d.path) for d in problems] == [
        ("team.yaml", 7, "identities.root.validity"),
        ("team.yaml", 15, "identities.web.dnss"),
    ]
    assert "'1 year'" in problems[0].message and "did you mean 'dns'" in problems[1].message
    assert str(problems[0]).startswith("team.yaml:7:15: error: identities.root.validity: ")
    assert isinstance(caught.value, pkiform.PkiformError)


def test_the_command_line_reports_the_same_problems(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    text = SPEC.replace("kind: client", "kind: customer")
    path = write_spec(text)
    with pytest.raises(pkiform.SpecError) as caught:
        pkiform.load(path)
    result = run_cli("validate", path)
    assert result.code == 1
    assert result.err == "".join(f"{d}\n" for d in caught.value.diagnostics)


def test_a_dict_reports_problems_by_field_path() -> None:
    data = yaml.safe_load(SPEC)
    data["identities"]["web"]["key"] = {"type": "ec", "curve": "P-192"}
    data["identities"]["alice"]["colour"] = "blue"
    with pytest.raises(pkiform.SpecError) as caught:
        pkiform.from_dict(data)
    paths = {d.path for d in caught.value.diagnostics}
    assert "identities.web.key.curve" in paths
    assert "identities.alice.colour" in paths
    assert all(d.loc.file == "<dict>" for d in caught.value.diagnostics)


def test_a_dict_holding_what_yaml_cannot_hold_is_a_spec_error() -> None:
    data = yaml.safe_load(SPEC)
    data["identities"]["web"]["dns"] = {"localhost"}  # a set
    with pytest.raises(pkiform.SpecError, match="error"):
        pkiform.from_dict(data)


# --- plan and apply, against the command line -------------------------------------------------


def test_plan_is_typed_actions_with_reasons_and_matches_plan_json(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "pki"
    spec = pkiform.loads(SPEC)
    plan = spec.plan(out)
    assert [a.name for a in plan.actions] == ["root", "issuing", "alice", "web"]
    assert all(a.verb is pkiform.Verb.CREATE and a.reasons == () for a in plan.actions)
    assert plan.has_changes and not out.exists()
    cli = run_cli("plan", write_spec(SPEC), "-o", out, "--json")
    assert cli.code == 2
    listed = json.loads(cli.out)
    actions = {a["name"]: a for a in listed["actions"]}
    for action in plan.actions:
        assert actions[action.name]["verb"] == str(action.verb)
        assert tuple(actions[action.name]["reasons"]) == action.reasons


def test_what_the_api_applies_the_command_line_finds_up_to_date_and_back(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_spec(SPEC)
    api_out, cli_out = tmp_path / "api", tmp_path / "cli"
    applied = pkiform.load(path).apply(api_out)
    assert {a.verb for a in applied.plan.actions} == {pkiform.Verb.CREATE}
    assert run_cli("plan", path, "-o", api_out).code == 0
    assert run_cli("status", path, "-o", api_out).code == 0
    assert run_cli("apply", path, "-o", cli_out).code == 0
    again = pkiform.load(path).apply(cli_out)
    assert not again.plan.has_changes
    # the same files, the same modes
    assert {p.relative_to(api_out) for p in api_out.rglob("*")} == {
        p.relative_to(cli_out) for p in cli_out.rglob("*")
    }
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in api_out.glob("*/key.pem"))


def test_a_second_apply_changes_nothing(tmp_path: Path) -> None:
    spec = pkiform.loads(SPEC)
    spec.apply(tmp_path / "pki")
    before = snapshot(tmp_path / "pki")
    assert not spec.apply(tmp_path / "pki").plan.has_changes
    assert snapshot(tmp_path / "pki") == before


def test_a_changed_spec_reissues_only_what_changed(tmp_path: Path) -> None:
    pkiform.loads(SPEC).apply(tmp_path / "pki")
    changed = pkiform.loads(SPEC.replace("dns: [localhost]", "dns: [localhost, web.test]"))
    plan = changed.plan(tmp_path / "pki")
    assert [(a.name, a.verb) for a in plan.changes] == [("web", pkiform.Verb.REISSUE)]
    applied = changed.apply(tmp_path / "pki")
    sans = applied.pki["web"].cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "web.test" in sans.value.get_values_for_type(x509.DNSName)


def test_at_moves_the_clock_like_the_command_line(tmp_path: Path) -> None:
    spec = pkiform.loads(SPEC)
    at = datetime(2030, 1, 1, tzinfo=UTC)
    pki = spec.apply(tmp_path / "pki", at=at).pki
    assert pki["web"].cert.not_valid_after_utc == at + timedelta(days=30)
    due = spec.plan(tmp_path / "pki", at=at + timedelta(days=25))
    assert {a.name for a in due.changes} == {"web", "alice"}
    with pytest.raises(PkiformError, match="time zone"):
        spec.plan(tmp_path / "pki", at=datetime(2030, 1, 1))


def test_a_ca_key_is_not_replaced_without_rekey(tmp_path: Path) -> None:
    spec = pkiform.loads(SPEC)
    spec.apply(tmp_path / "pki")
    (tmp_path / "pki" / "issuing" / "key.pem").unlink()
    before = snapshot(tmp_path / "pki")
    assert [a.name for a in spec.plan(tmp_path / "pki").blocked] == ["issuing"]
    with pytest.raises(RefusedError, match="--rekey"):
        spec.apply(tmp_path / "pki")
    assert snapshot(tmp_path / "pki") == before
    with pytest.raises(PkiformError, match="no identity"):
        spec.apply(tmp_path / "pki", rekey=["isuing"])
    applied = spec.apply(tmp_path / "pki", rekey=["issuing"])
    assert {a.name for a in applied.plan.changes} == {"issuing", "web", "alice"}


def test_status_matches_the_command_line(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_spec(SPEC)
    spec = pkiform.load(path)
    spec.apply(tmp_path / "pki")
    (tmp_path / "pki" / "web" / "chain.pem").write_bytes(b"")
    report = spec.status(tmp_path / "pki")
    cli = run_cli("status", path, "-o", tmp_path / "pki", "--json")
    assert cli.code == 1
    listed = {r["name"]: r["health"] for r in json.loads(cli.out)["identities"]}
    assert {r.name: str(r.health) for r in report} == listed
    assert listed["web"] == "error" and listed["root"] == "ok"
    with pytest.raises(StoreError, match="no such directory"):
        spec.status(tmp_path / "nowhere")


# --- reading back -------------------------------------------------------------------------


def test_identities_read_back_as_objects_and_as_the_files_bytes(issued: pkiform.Applied) -> None:
    pki = issued.pki
    assert list(pki) == ["root", "issuing", "alice", "web"] and len(pki) == 4
    web = pki["web"]
    assert web.kind == "server"
    assert web.key_pem == web.key_path.read_bytes()
    assert web.cert_pem == web.cert_path.read_bytes()
    assert web.fullchain_pem == web.cert_pem + web.chain_pem
    assert spki_der(web.key.public_key()) == spki_der(web.cert.public_key())
    assert web.cert.issuer == pki["issuing"].cert.subject
    assert web.chain == [pki["issuing"].cert]
    assert web.ca == pki["root"].cert == pki["root"].cert  # read afresh each time, equal
    assert pki["root"].chain == []
    web.cert.verify_directly_issued_by(web.chain[0])
    assert web.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    serialization.load_pem_private_key(web.key_pem, password=None)
    with pytest.raises(KeyError):
        pki["nobody"]


def test_read_back_agrees_with_openssl(issued: pkiform.Applied) -> None:
    web = issued.pki["web"]
    verified = openssl(
        "verify", "-x509_strict", "-CAfile", web.ca_path, "-untrusted", web.chain_path,
        web.cert_path,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    modulus = openssl("pkey", "-in", web.key_path, "-pubout").stdout
    assert modulus == openssl("x509", "-in", web.cert_path, "-pubkey", "-noout").stdout


def test_reading_an_identity_not_yet_issued_says_so(tmp_path: Path) -> None:
    pki = pkiform.loads(SPEC).read(tmp_path / "pki")
    with pytest.raises(StoreError, match=r"web/cert.pem: missing \(run pkiform apply first\)"):
        _ = pki["web"].cert


# --- ssl contexts in real handshakes ----------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_server_and_client_contexts_do_mutual_tls(
    issued: pkiform.Applied, version: ssl.TLSVersion
) -> None:
    pki = issued.pki
    server, client = pki["web"].server_context(), pki["alice"].client_context()
    server.maximum_version = version
    result = exchange(server, client, "localhost")
    assert_connected(result, server_cn="web", client_cn="alice")
    assert result.client.version == result.server.version == version.name.replace("_", ".")


def test_the_client_context_checks_the_host_name(issued: pkiform.Applied) -> None:
    pki = issued.pki
    result = exchange(pki["web"].server_context(), pki["alice"].client_context(), "evil.test")
    assert_rejected(result, "client", verify_code=62)  # X509_V_ERR_HOSTNAME_MISMATCH


def test_a_server_of_another_pki_is_refused(issued: pkiform.Applied, other: pkiform.PKI) -> None:
    result = exchange(other["fake-web"].server_context(client_auth=False),
                      issued.pki["alice"].client_context(), "localhost")  # fmt: skip
    assert_rejected(result, "client", verify_code={19, 20})


def test_a_client_of_another_pki_is_refused(issued: pkiform.Applied, other: pkiform.PKI) -> None:
    result = exchange(
        issued.pki["web"].server_context(),
        other["mallory"].client_context(trust=issued.pki["root"]),
        "localhost",
    )
    assert_rejected(result, "server")


def test_client_auth_requires_a_certificate_unless_turned_off(issued: pkiform.Applied) -> None:
    pki = issued.pki
    anonymous = pki["root"].client_context()  # a CA presents no certificate
    assert_rejected(exchange(pki["web"].server_context(), anonymous, "localhost"), "server")
    open_server = pki["web"].server_context(client_auth=False)
    result = exchange(open_server, anonymous, "localhost")
    assert result.ok and result.client.peer_cn == "web" and result.server.peer_cn is None


# --- light import ---------------------------------------------------------------------------


def test_importing_pkiform_loads_no_cryptography_until_the_api_is_used() -> None:
    code = (
        "import sys, pkiform\n"
        "assert 'cryptography' not in sys.modules, 'eager import'\n"
        "assert callable(pkiform.load)\n"
        "assert 'cryptography' in sys.modules\n"
        "try:\n    pkiform.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "module 'pkiform' has no attribute 'nothing'\n"


def test_every_public_name_resolves_and_the_plan_types_load_no_cryptography() -> None:
    code = (
        "import sys, pkiform\n"
        "assert pkiform.Plan.__name__ == 'Plan' and pkiform.Action and pkiform.Verb.CREATE\n"
        "assert 'cryptography' not in sys.modules, 'the plan types loaded it'\n"
        "from pkiform import *\n"
        "print(sorted(n for n in pkiform.__all__ if getattr(pkiform, n) is None))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


@pytest.mark.parametrize("fmt", ["text", "dot", "mermaid"])
def test_graph_and_schema_match_the_command_line(
    run_cli: RunCli, write_spec: Callable[..., Path], fmt: str
) -> None:
    path = write_spec(SPEC)
    assert pkiform.load(path).graph(fmt) == run_cli("graph", path, "--format", fmt).out
    assert pkiform.json_schema() == run_cli("schema").out
    assert json.loads(pkiform.json_schema())["$schema"].endswith("2020-12/schema")
    with pytest.raises(ValueError, match="expected one of text, dot, mermaid"):
        pkiform.load(path).graph("svg")


# --- outputs and passwords ------------------------------------------------------------------

WITH_OUTPUTS = SPEC.replace(
    "    dns: [localhost]\n",
    "    dns: [localhost]\n"
    "    key: {type: ec, curve: P-256, encrypt: {password_env: API_TEST_KEY_PW}}\n"
    "    outputs: {pkcs12: {password_env: API_TEST_P12_PW}}\n",
).replace(
    "    email: [alice@example.com]\n",
    "    email: [alice@example.com]\n    outputs: {kubernetes: {namespace: t}}\n",
)


def test_outputs_and_encrypted_keys_work_through_the_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TEST_KEY_PW", "key password for the api test")
    monkeypatch.setenv("API_TEST_P12_PW", "bundle password for the api test")
    applied = pkiform.loads(WITH_OUTPUTS).apply(tmp_path / "pki")
    web = applied.pki["web"]
    assert web.key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert spki_der(web.key.public_key()) == spki_der(web.cert.public_key())  # decrypted
    assert applied.secrets == ((tmp_path / "pki" / "alice" / "secret.yaml").read_bytes(),)
    assert (tmp_path / "pki" / "web" / "bundle.p12").exists()
    # the ssl contexts open the encrypted key with the spec's password
    result = exchange(web.server_context(), applied.pki["alice"].client_context(), "localhost")
    assert_connected(result, server_cn="web", client_cn="alice")
    assert not pkiform.loads(WITH_OUTPUTS).plan(tmp_path / "pki").has_changes


class _Watched(dict[str, str]):
    """An environment that notes which variables are looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def test_reading_one_identitys_key_reads_only_its_own_password(tmp_path: Path) -> None:
    passwords = {
        "API_TEST_KEY_PW": "key password for the api test",
        "API_TEST_P12_PW": "bundle password for the api test",
    }
    valid = pkiform.loads(WITH_OUTPUTS).valid
    pkiform.Spec(valid, environ=passwords).apply(tmp_path / "pki")
    environ = _Watched(passwords)
    web = pkiform.Spec(valid, environ=environ).read(tmp_path / "pki")["web"]
    assert spki_der(web.key.public_key()) == spki_der(web.cert.public_key())
    assert environ.asked == {"API_TEST_KEY_PW"}  # not the bundle's


def test_a_missing_password_is_a_spec_error_naming_it_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_TEST_KEY_PW", raising=False)
    monkeypatch.setenv("API_TEST_P12_PW", "bundle password for the api test")
    with pytest.raises(pkiform.SpecError) as caught:
        pkiform.loads(WITH_OUTPUTS).apply(tmp_path / "pki")
    assert any("API_TEST_KEY_PW" in str(d) for d in caught.value.diagnostics)
    assert not (tmp_path / "pki").exists()
