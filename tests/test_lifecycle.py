"""apply and plan over a PKI's life: idempotency, drift, cascades, archives, refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pkiform import durations
from pkiform.cache import settled
from pkiform.durations import BACKDATE
from pkiform.spec.model import serial_text
from tests.helpers.files import archived, cert_of, snapshot
from tests.helpers.run import RunCli, plan_actions
from tests.helpers.tools import openssl

SPEC = """\
version: 1
defaults:
  subject: {O: Example}
identities:
  root:
    kind: root
    validity: 10y
  issuing:
    kind: intermediate
    issuer: root
    validity: 5y
    path_length: 0
  web:
    kind: server
    issuer: issuing
    dns: [web.example.com]
  api:
    kind: server
    issuer: issuing
    dns: [api.example.com]
  alice:
    kind: client
    issuer: root
"""

ALL = ("root", "issuing", "web", "api", "alice")


def files_of(out: Path, name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / name).iterdir() if p.is_file()}


@pytest.fixture
def applied(run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    spec = write_spec(SPEC)
    out = tmp_path / "pki"
    result = run_cli("apply", spec, "-o", out)
    assert result.code == 0, result.err
    return spec, out


def test_second_apply_changes_nothing_and_plan_exits_0(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    before = snapshot(out)
    result = run_cli("apply", spec, "-o", out)
    assert result.code == 0, result.err
    assert "0 changed" in result.out
    assert snapshot(out) == before
    plan = run_cli("plan", spec, "-o", out)
    assert plan.code == 0
    assert plan.out == "No changes: 5 identities up to date.\n"


def test_fresh_plan_lists_creates_in_issuing_order_and_writes_nothing(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SPEC)
    result = run_cli("plan", spec, "-o", tmp_path / "pki")
    assert result.code == 2
    assert result.out.splitlines() == [
        "  + root (root): create",
        "  + alice (client): create",
        "  + issuing (intermediate): create",
        "  + api (server): create",
        "  + web (server): create",
        "  + root: create crl.pem (CRL number 1, 0 revoked)",
        "      crl.pem is missing",
        "  + issuing: create crl.pem (CRL number 1, 0 revoked)",
        "      crl.pem is missing",
        "Plan: 5 to create, 2 CRL/OCSP to sign; 0 unchanged.",
    ]
    assert not (tmp_path / "pki").exists()


def test_changed_san_reissues_only_that_leaf_and_keeps_its_key(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    before = {name: files_of(out, name) for name in ALL}
    spec.write_text(
        SPEC.replace("dns: [web.example.com]", "dns: [web.example.com, www.example.com]")
    )
    code, actions = plan_actions(run_cli, spec, out)
    assert code == 2
    assert actions["web"]["verb"] == "reissue"
    assert actions["web"]["reasons"] == ["dns: +www.example.com"]
    assert {n for n, a in actions.items() if a["verb"] != "unchanged"} == {"web"}

    result = run_cli("apply", spec, "-o", out)
    assert result.code == 0, result.err
    after = files_of(out, "web")
    assert after["key.pem"] == before["web"]["key.pem"]
    assert after["cert.pem"] != before["web"]["cert.pem"]
    san = cert_of(out, "web").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["web.example.com", "www.example.com"]
    for name in ("root", "issuing", "api", "alice"):
        assert files_of(out, name) == before[name], name
    # the replaced certificate is archived, the kept key is not
    assert [p.name for p in archived(out, "web")] == ["cert.pem", "fullchain.pem"]
    assert run_cli("plan", spec, "-o", out).code == 0


def test_changed_intermediate_key_cascades_below_and_archives_the_old_key(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    root_before = files_of(out, "root")
    alice_before = files_of(out, "alice")
    old_key = (out / "issuing" / "key.pem").read_bytes()
    old_leaf_keys = {n: (out / n / "key.pem").read_bytes() for n in ("web", "api")}
    spec.write_text(
        SPEC.replace(
            "    path_length: 0\n", "    path_length: 0\n    key: {type: ec, curve: P-384}\n"
        )
    )

    code, actions = plan_actions(run_cli, spec, out)
    assert code == 2
    assert actions["issuing"]["verb"] == "rekey"
    assert actions["issuing"]["reasons"] == ["key: ec P-256 -> ec P-384"]
    for leaf in ("web", "api"):
        assert actions[leaf]["verb"] == "reissue"
        assert actions[leaf]["cascade_from"] == "issuing"
        assert actions[leaf]["reasons"] == ["issuer 'issuing' gets a new key"]
    assert actions["root"]["verb"] == actions["alice"]["verb"] == "unchanged"
    text = run_cli("plan", spec, "-o", out).out
    assert "-/+ issuing (intermediate): replace key" in text

    assert run_cli("apply", spec, "-o", out).code == 0
    assert files_of(out, "root") == root_before
    assert files_of(out, "alice") == alice_before
    assert (out / "issuing" / "key.pem").read_bytes() != old_key
    [archived_key] = [p for p in archived(out, "issuing") if p.name == "key.pem"]
    assert archived_key.read_bytes() == old_key
    assert archived_key.stat().st_mode & 0o777 == 0o600
    for leaf, key in old_leaf_keys.items():
        assert (out / leaf / "key.pem").read_bytes() == key  # leaves keep their keys
        verify = openssl(
            "verify",
            "-CAfile",
            out / leaf / "ca.pem",
            "-untrusted",
            out / leaf / "chain.pem",
            out / leaf / "cert.pem",
        )
        assert verify.returncode == 0, verify.stderr
    assert run_cli("plan", spec, "-o", out).code == 0


def test_deleted_cert_is_recreated_with_the_same_key(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    key = (out / "api" / "key.pem").read_bytes()
    (out / "api" / "cert.pem").unlink()
    code, actions = plan_actions(run_cli, spec, out)
    assert code == 2
    assert actions["api"] == {
        "name": "api",
        "verb": "reissue",
        "reasons": ["cert.pem is missing"],
        "cascade_from": None,
    }
    assert run_cli("apply", spec, "-o", out).code == 0
    assert (out / "api" / "key.pem").read_bytes() == key
    assert (
        cert_of(out, "api").public_key()
        == x509.load_pem_x509_certificate((out / "api" / "fullchain.pem").read_bytes()).public_key()
    )
    assert run_cli("plan", spec, "-o", out).code == 0


def test_deleted_leaf_key_gets_a_new_key(run_cli: RunCli, applied: tuple[Path, Path]) -> None:
    spec, out = applied
    (out / "web" / "key.pem").unlink()
    code, actions = plan_actions(run_cli, spec, out)
    assert (code, actions["web"]["verb"], actions["web"]["reasons"]) == (
        2,
        "rekey",
        ["key.pem is missing"],
    )
    assert run_cli("apply", spec, "-o", out).code == 0
    assert run_cli("status", spec, "-o", out).code == 0


def test_deleted_ca_key_blocks_until_rekey_is_named(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    (out / "issuing" / "key.pem").unlink()
    before = snapshot(out)

    plan = run_cli("plan", spec, "-o", out)
    assert plan.code == 1
    assert "  ! issuing (intermediate): blocked" in plan.out
    assert "pass --rekey issuing" in plan.out

    refused = run_cli("apply", spec, "-o", out)
    assert refused.code == 1
    assert refused.err.startswith("pkiform: error: refusing to replace the key of CA issuing")
    assert "Traceback" not in refused.err
    assert snapshot(out) == before  # nothing written

    status = run_cli("status", spec, "-o", out)
    assert status.code == 1
    assert "key.pem is missing" in status.out

    done = run_cli("apply", spec, "-o", out, "--rekey", "issuing")
    assert done.code == 0, done.err
    for name in ("issuing", "web", "api"):
        assert f"{name}:" in done.out
    assert "alice:" not in done.out
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0


def test_ca_key_that_no_longer_matches_is_blocked_too(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    other = (out / "api" / "key.pem").read_bytes()  # same type (ec P-256), wrong key
    (out / "issuing" / "key.pem").write_bytes(other)
    code, actions = plan_actions(run_cli, spec, out, blocked=True)
    assert code == 1
    assert actions["issuing"]["verb"] == "blocked"
    assert actions["issuing"]["reasons"][0].startswith("key.pem does not match cert.pem")


def test_rekey_of_unknown_identity_is_an_error(run_cli: RunCli, applied: tuple[Path, Path]) -> None:
    spec, out = applied
    result = run_cli("apply", spec, "-o", out, "--rekey", "nope")
    assert result.code == 1
    assert result.err == "pkiform: error: --rekey names no identity of the spec: nope\n"


def test_leaf_outliving_its_issuer_is_clamped_once_and_not_reissued(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        "version: 1\nidentities:\n"
        "  ca: {kind: root, validity: 30d}\n"
        "  web: {kind: server, issuer: ca, dns: [web.example.com], validity: 1y}\n"
    )
    out = tmp_path / "pki"
    first = run_cli("apply", spec, "-o", out)
    assert first.code == 0
    assert (
        f"{spec}:4:69: warning: identities.web.validity: 1y outlives its issuer 'ca' (30d)"
        in first.err
    )
    assert "warning: web: validity clamped to end with its issuer 'ca'" in first.out
    assert cert_of(out, "web").not_valid_after_utc == cert_of(out, "ca").not_valid_after_utc
    before = snapshot(out)
    again = run_cli("apply", spec, "-o", out)
    assert again.code == 0
    assert snapshot(out) == before
    assert run_cli("plan", spec, "-o", out).code == 0


def test_renewal_follows_renew_before(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        "version: 1\nidentities:\n"
        "  ca: {kind: root, validity: 10y}\n"
        "  web: {kind: server, issuer: ca, dns: [web.example.com],\n"
        "        validity: 90d, renew_before: 30d}\n"
    )
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    not_after = cert_of(out, "web").not_valid_after_utc
    renew_at = not_after - timedelta(days=30)
    hour = timedelta(hours=1)
    # by then the CA's CRL needs re-signing too; the certificate does not, yet
    _, before = plan_actions(run_cli, spec, out, "--at", (renew_at - hour).isoformat())
    assert before["web"]["verb"] == "unchanged"
    code, actions = plan_actions(run_cli, spec, out, "--at", (renew_at + hour).isoformat())
    assert code == 2
    assert actions["web"]["verb"] == "reissue"
    assert actions["web"]["reasons"][0].startswith(
        f"expires {not_after:%Y-%m-%d} (in 29d) < renew_before 30d"
    )
    key = (out / "web" / "key.pem").read_bytes()
    assert run_cli("apply", spec, "-o", out, "--at", (renew_at + hour).isoformat()).code == 0
    assert (out / "web" / "key.pem").read_bytes() == key
    assert cert_of(out, "web").not_valid_after_utc > not_after


def openssl_dates(path: Path) -> tuple[datetime, datetime]:
    """notBefore and notAfter as `openssl x509 -dates` prints them."""
    result = openssl("x509", "-in", path, "-noout", "-dates")
    assert result.returncode == 0, result.stderr
    found = dict(line.split("=", 1) for line in result.stdout.decode().splitlines())
    return tuple(  # type: ignore[return-value]
        datetime.strptime(found[k], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
        for k in ("notBefore", "notAfter")
    )


def test_an_exactly_7_day_certificate_is_shown_as_it_is(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """A 7d certificate made by openssl (no backdating) is not pkiform's 7d: plan says
    by exactly how much, in a duration that parses back to the span openssl shows."""
    spec = write_spec("version: 1\nidentities:\n  ca: {kind: root, validity: 7d}\n")
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    made = openssl(
        "req", "-x509", "-new", "-key", out / "ca/key.pem", "-days", "7", "-subj", "/CN=ca",
        "-config", "/dev/null", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash", "-out", out / "ca/cert.pem",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    not_before, not_after = openssl_dates(out / "ca/cert.pem")
    assert not_after - not_before == timedelta(days=7)
    code, actions = plan_actions(run_cli, spec, out)
    assert code == 2
    assert actions["ca"]["reasons"] == [
        "validity: 6d23h55m -> 7d (it spans 7d; pkiform adds 5m of backdating to the validity)"
    ]
    assert durations.parse("6d23h55m") == not_after - not_before - BACKDATE
    assert durations.parse("7d") == not_after - not_before
    assert run_cli("apply", spec, "-o", out).code == 0
    not_before, not_after = openssl_dates(out / "ca/cert.pem")
    assert not_after - not_before == timedelta(days=7) + BACKDATE
    assert plan_actions(run_cli, spec, out)[0] == 0


def test_what_has_expired_is_said_with_how_long_ago(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        "version: 1\nidentities:\n"
        "  ca: {kind: root, validity: 10y, crl_validity: 7d}\n"
        "  web: {kind: server, issuer: ca, dns: [web.example.com], validity: 30d}\n"
    )
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    shown = openssl("crl", "-in", out / "ca/crl.pem", "-noout", "-nextupdate")
    next_update = datetime.strptime(
        shown.stdout.decode().strip().removeprefix("nextUpdate="), "%b %d %H:%M:%S %Y GMT"
    ).replace(tzinfo=UTC)
    web_end = openssl_dates(out / "web/cert.pem")[1]
    at = (web_end + timedelta(days=3, hours=5)).isoformat()
    result = run_cli("plan", spec, "-o", out, "--json", "--at", at)
    assert result.code == 2
    document = json.loads(result.out)
    web = next(a for a in document["actions"] if a["name"] == "web")
    assert web["reasons"] == [f"expired {web_end:%Y-%m-%d %H:%M}Z (3d ago)"]
    assert document["revocations"][0]["reasons"] == [
        f"expired: nextUpdate {next_update:%Y-%m-%d %H:%M}Z (26d ago)"
    ]
    status = run_cli("status", spec, "-o", out, "--at", at)
    assert status.code == 1
    assert status.out.splitlines()[1:] == [
        f"        crl.pem is stale: nextUpdate {next_update:%Y-%m-%d %H:%M}Z (26d ago)",
        f"error   web  server       until {web_end:%Y-%m-%d %H:%M}Z",
        f"        expired {web_end:%Y-%m-%d %H:%M}Z (3d ago)",
        "2 identities, 2 with errors.",
    ]


def openssl_serial(path: Path) -> str:
    result = openssl("x509", "-in", path, "-noout", "-serial")
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().strip().removeprefix("serial=")


def crl_serials(path: Path) -> list[str]:
    """The serial numbers `openssl crl -text` lists."""
    result = openssl("crl", "-in", path, "-noout", "-text")
    assert result.returncode == 0, result.stderr
    return re.findall(r"^ +Serial Number: (\S+)$", result.stdout.decode(), re.M)


@pytest.mark.parametrize(
    "serial", [1, 0x0F, 0x80, 0xFF00, 0x0E79F1D14A, 0x7FFFFFFF, 2**158 + 12345, 2**159 - 1]
)
def test_serial_text_is_what_openssl_prints(serial: int, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ca")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    revoked = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .add_revoked_certificate(revoked)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    assert serial_text(serial) == openssl_serial(tmp_path / "cert.pem")
    assert [serial_text(serial)] == crl_serials(tmp_path / "crl.pem")


def test_every_serial_shown_is_openssls_form(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """Plan (text and JSON), status, manifest.json and the Kubernetes Secret show a serial
    as `openssl x509 -serial` and `openssl crl -text` print it, so one greps for the other."""
    text = (
        "version: 1\nidentities:\n"
        "  ca: {kind: root}\n"
        "  web: {kind: server, issuer: ca, dns: [web.example.com],"
        " outputs: {kubernetes: {namespace: shop}}}\n"
    )
    spec = write_spec(text)
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    web = openssl_serial(out / "web/cert.pem")
    ca = openssl_serial(out / "ca/cert.pem")
    manifest = json.loads((out / "manifest.json").read_text())["identities"]
    assert (manifest["web"]["serial"], manifest["ca"]["serial"]) == (web, ca)
    status = json.loads(run_cli("status", spec, "-o", out, "--json").out)["identities"]
    assert [i["serial"] for i in status] == [ca, web]
    secret = yaml.safe_load((out / "web/secret.yaml").read_text())
    assert secret["metadata"]["annotations"]["pkiform.dev/serial"] == web

    spec.write_text(text.replace("dns: [web", "revoked: {reason: keyCompromise}, dns: [web"))
    planned = run_cli("plan", spec, "-o", out)
    assert f"      +{web} (keyCompromise)\n" in planned.out
    document = json.loads(run_cli("plan", spec, "-o", out, "--json").out)
    [crl] = document["revocations"]
    assert crl["revoked_serials"] == [web]
    assert crl["reasons"] == [f"+{web} (keyCompromise)"]
    assert run_cli("apply", spec, "-o", out).code == 0
    assert crl_serials(out / "ca/crl.pem") == [web]


FUTURE_SPEC = """\
version: 1
identities:
  root: {kind: root, validity: 10y}
  issuing: {kind: intermediate, issuer: root, validity: 2y, ocsp: true}
  web: {kind: server, issuer: issuing, dns: [web.example.com], validity: 90d}
"""


def openssl_checks(out: Path) -> list[str]:
    """What openssl says of web's certificate with both CRLs, and of its OCSP response:
    "OK" and "good" when everything is valid now."""
    verify = openssl(
        "verify", "-crl_check_all", "-CRLfile", out / "root/crl.pem",
        "-CRLfile", out / "issuing/crl.pem", "-CAfile", out / "web/ca.pem",
        "-untrusted", out / "web/chain.pem", out / "web/cert.pem",
    )  # fmt: skip
    ocsp = openssl(
        "ocsp", "-respin", out / "web/ocsp.der", "-CAfile", out / "web/ca.pem",
        "-verify_other", out / "issuing/cert.pem", "-issuer", out / "issuing/cert.pem",
        "-cert", out / "web/cert.pem",
    )  # fmt: skip
    said = (verify.stdout + verify.stderr + ocsp.stdout + ocsp.stderr).decode()
    return sorted(
        {
            phrase
            for phrase in (
                "certificate is not yet valid",
                "CRL is not yet valid",
                "Status times invalid",
                ": OK",
                ": good",
            )
            if phrase in said
        }
    )


def test_what_was_signed_for_a_later_time_is_reissued_now(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """issue 12: `apply --at` a later time, then plan with the real clock: certificates,
    CRLs and OCSP responses not valid yet are due, with the reason; apply fixes them."""
    spec, out = write_spec(FUTURE_SPEC), tmp_path / "pki"
    at = (datetime.now(UTC) + timedelta(days=70, hours=1)).replace(microsecond=0)
    ahead = run_cli("apply", spec, "-o", out, "--at", at.isoformat())
    assert ahead.code == 0, ahead.err
    start = f"{at - BACKDATE:%Y-%m-%d %H:%M}Z"
    assert ahead.err == (
        f"pkiform: warning: --at is 70d ahead of the clock: what this apply signed is not "
        f"valid before {start}; plan and apply without --at will sign it again\n"
    )
    assert openssl_checks(out) == [
        "CRL is not yet valid",
        "Status times invalid",
        "certificate is not yet valid",
    ]
    assert settled.check((spec.read_bytes()), out, datetime.now(UTC)) is None

    status = run_cli("status", spec, "-o", out)
    assert status.code == 1
    late = f"not valid before {start} (in 70d)"
    assert [line.strip() for line in status.out.splitlines() if "until" not in line] == [
        late,
        f"crl.pem is not yet valid: thisUpdate {start} (in 70d)",
        late,
        f"crl.pem is not yet valid: thisUpdate {start} (in 70d)",
        late,
        f"ocsp.der is not yet valid: thisUpdate {start} (in 70d)",
        "3 identities, 3 with errors.",
    ]
    planned = run_cli("plan", spec, "-o", out)
    assert planned.code == 2
    later = f"not yet valid: thisUpdate {start} (in 70d)"
    assert planned.out == (
        f"  ~ root (root): reissue\n      {late}\n"
        f"  ~ issuing (intermediate): reissue\n      issuer 'root' is reissued\n      {late}\n"
        f"  ~ web (server): reissue\n      issuer 'issuing' is reissued\n      {late}\n"
        f"  ~ root: re-sign crl.pem (CRL number 2, 0 revoked)\n"
        f"      the CA's certificate is reissued\n      {later}\n"
        f"  ~ issuing: re-sign crl.pem (CRL number 2, 0 revoked)\n"
        f"      the CA's certificate is reissued\n      {later}\n"
        f"  ~ web: re-sign ocsp.der (good, signed by issuing)\n"
        f"      the certificate is reissued\n      the CA's certificate is reissued\n"
        f"      {later}\n"
        "Plan: 3 to reissue, 3 CRL/OCSP to sign; 0 unchanged.\n"
    )
    keys = {n: (out / n / "key.pem").read_bytes() for n in ("root", "issuing", "web")}
    fixed = run_cli("apply", spec, "-o", out)
    assert (fixed.code, fixed.err) == (0, "")
    assert openssl_checks(out) == [": OK", ": good"]
    assert {n: (out / n / "key.pem").read_bytes() for n in keys} == keys
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0
    assert settled.check(spec.read_bytes(), out, datetime.now(UTC)) is not None


def test_plan_at_a_time_before_the_certificates_were_valid_reissues_them(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    """The other way round: the clock (or --at) earlier than the apply that signed."""
    spec, out = applied
    before = (cert_of(out, "root").not_valid_before_utc - timedelta(seconds=1)).isoformat()
    code, actions = plan_actions(run_cli, spec, out, "--at", before)
    assert code == 2
    assert {a["verb"] for a in actions.values()} == {"reissue"}
    assert settled.check(spec.read_bytes(), out, datetime.fromisoformat(before)) is None
    at_start = cert_of(out, "root").not_valid_before_utc.isoformat()
    assert plan_actions(run_cli, spec, out, "--at", at_start)[0] == 0


def test_identities_removed_from_the_spec_are_reported_not_deleted(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    spec.write_text(SPEC.replace("  alice:\n    kind: client\n    issuer: root\n", ""))
    before = snapshot(out)
    plan = run_cli("plan", spec, "-o", out)
    assert plan.code == 0
    assert "  ? alice: on disk but not in the spec; left in place" in plan.out
    apply = run_cli("apply", spec, "-o", out)
    assert apply.code == 0
    assert "alice" in apply.out
    assert set(before) - set(snapshot(out)) == set()
    assert (out / "alice" / "key.pem").exists()


def test_subject_change_on_root_cascades_to_everything(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    keys = {n: (out / n / "key.pem").read_bytes() for n in ALL}
    spec.write_text(SPEC.replace("subject: {O: Example}", "subject: {O: Example Corp}"))
    code, actions = plan_actions(run_cli, spec, out)
    assert code == 2
    assert actions["root"]["reasons"] == ["subject: CN=root,O=Example -> CN=root,O=Example Corp"]
    assert all(a["verb"] == "reissue" for a in actions.values())
    assert run_cli("apply", spec, "-o", out).code == 0
    assert {n: (out / n / "key.pem").read_bytes() for n in ALL} == keys
    assert run_cli("status", spec, "-o", out).code == 0


def test_manifest_lists_every_identity(run_cli: RunCli, applied: tuple[Path, Path]) -> None:
    _, out = applied
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["identities"]) == sorted(ALL)
    web = manifest["identities"]["web"]
    c = cert_of(out, "web")
    assert web["serial"] == openssl_serial(out / "web/cert.pem")
    assert web["kind"] == "server"
    assert web["chain"] == ["issuing", "root"]
    assert web["not_after"] == c.not_valid_after_utc.isoformat()
    assert web["files"]["key"] == "web/key.pem"


def test_damaged_derived_file_is_repaired_without_reissue(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    cert_before = (out / "web" / "cert.pem").read_bytes()
    (out / "web" / "chain.pem").write_text("garbage\n")
    code, actions = plan_actions(run_cli, spec, out)
    assert (code, actions["web"]["verb"], actions["web"]["reasons"]) == (
        2,
        "repair",
        ["chain.pem is out of date"],
    )
    assert run_cli("apply", spec, "-o", out).code == 0
    assert (out / "web" / "cert.pem").read_bytes() == cert_before
    assert [p.read_text() for p in archived(out, "web")] == ["garbage\n"]
    assert run_cli("status", spec, "-o", out).code == 0


def test_tampered_leaf_cert_is_reissued_with_its_key(
    run_cli: RunCli, applied: tuple[Path, Path]
) -> None:
    spec, out = applied
    key = (out / "web" / "key.pem").read_bytes()
    (out / "web" / "cert.pem").write_bytes((out / "api" / "cert.pem").read_bytes())
    assert run_cli("status", spec, "-o", out).code == 1
    code, actions = plan_actions(run_cli, spec, out)
    assert code == 2
    assert actions["web"]["reasons"] == ["cert.pem does not match key.pem"]
    assert run_cli("apply", spec, "-o", out).code == 0
    assert (out / "web" / "key.pem").read_bytes() == key
    assert run_cli("status", spec, "-o", out).code == 0


def test_only_ca_private_keys_are_held_in_memory(applied: tuple[Path, Path]) -> None:
    from pkiform.disk.observe import observe
    from pkiform.disk.store import Store
    from pkiform.spec.load import validate_path

    spec, out = applied
    valid = validate_path(spec)
    cas = {n for n, i in valid.spec.identities.items() if i.kind.is_ca}
    observed = observe(Store(out), valid.spec.identities, keep_keys=cas)
    held = {n for n, o in observed.identities.items() if o.key is not None}
    assert held == cas == {"root", "issuing"}
    assert all(o.public_key is not None for o in observed.identities.values())
