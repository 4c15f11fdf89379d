"""Seals (src/pkiform/cache/seals.py): a plan on an up-to-date directory skips re-checking
what cannot have changed, and never what can.

Each case applies a real spec, then changes one thing: a file's bytes, the spec of
the identity or of its issuer, the issuer's certificate, the clock, the manifest
entry itself. The seal must hold exactly where nothing the full check reads has
changed, and plan must then find what the full check finds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pkiform.cache import seals
from pkiform.disk.observe import observe
from pkiform.disk.store import Store
from pkiform.spec.load import validate_path
from tests.helpers.files import snapshot
from tests.helpers.run import ApplySpec, RunCli, plan_actions

SPEC = """\
version: 1
identities:
  root: {kind: root}
  issuing: {kind: intermediate, issuer: root, path_length: 0}
  web: {kind: server, issuer: issuing, dns: [web.example]}
  api: {kind: server, issuer: issuing, dns: [api.example], outputs: {der: true}}
  alice: {kind: client, issuer: issuing}
"""
NAMES = {"root", "issuing", "web", "api", "alice"}


def sealed(spec: Path, out: Path) -> set[str]:
    """The identities whose seal holds for what is on disk now."""
    valid = validate_path(spec)
    observed = observe(
        Store(out), valid.spec.identities, vouch=seals.Reader(valid.spec, valid.graph).vouch
    )
    return {name for name, obs in observed.identities.items() if obs.vouched}


def test_every_identity_is_sealed_after_apply_and_plan_finds_nothing(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    assert sealed(spec, out) == NAMES
    manifest = json.loads((out / "manifest.json").read_text())["identities"]
    assert all(len(manifest[n]["seal"]) == 64 for n in NAMES)
    assert run_cli("plan", spec, "-o", out).code == 0


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [
        (lambda out: (out / "web" / "chain.pem").write_text("junk\n"), {"web"}),
        (lambda out: (out / "api" / "cert.der").write_bytes(b"\0"), {"api"}),
        (lambda out: (out / "alice" / "key.pem").unlink(), {"alice"}),
        # the intermediate's certificate is part of every seal below it
        (
            lambda out: (out / "issuing" / "cert.pem").write_text(""),
            {"issuing", "web", "api", "alice"},
        ),
    ],
    ids=["chain-junk", "der-output", "key-missing", "issuer-cert"],
)
def test_a_changed_file_breaks_the_seal_and_plan_names_the_change(
    applied: ApplySpec, run_cli: RunCli, tamper: Callable[[Path], object], broken: set[str]
) -> None:
    spec, out = applied(SPEC)
    tamper(out)
    assert sealed(spec, out) == NAMES - broken
    _, actions = plan_actions(run_cli, spec, out)
    assert {n for n, a in actions.items() if a["verb"] != "unchanged"} == broken
    assert run_cli("apply", spec, "-o", out).code == 0
    assert sealed(spec, out) == NAMES


def test_a_spec_change_breaks_the_seal_of_the_identity_and_of_those_it_issues(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    # the issuer's OCSP address goes into every certificate it issues
    spec.write_text(
        SPEC.replace(
            "issuing: {kind: intermediate, issuer: root, path_length: 0}",
            "issuing: {kind: intermediate, issuer: root, path_length: 0,"
            " ocsp_url: http://ocsp.example}",
        )
    )
    assert sealed(spec, out) == {"root"}
    _, actions = plan_actions(run_cli, spec, out)
    assert actions["issuing"]["verb"] == "unchanged"  # its own certificate is as it was
    for leaf in ("web", "api", "alice"):
        assert actions[leaf]["verb"] == "reissue"
        assert "ocsp_url of the issuer: added" in actions[leaf]["reasons"]


def test_a_sealed_identity_is_still_renewed_on_time(applied: ApplySpec, run_cli: RunCli) -> None:
    spec, out = applied(SPEC)
    assert sealed(spec, out) == NAMES
    # leaves live 90 days and renew 30 days before the end (the defaults)
    later = (datetime.now().astimezone() + timedelta(days=75)).isoformat()
    _, actions = plan_actions(run_cli, spec, out, "--at", later)
    for leaf in ("web", "api", "alice"):
        assert actions[leaf]["verb"] == "reissue"
        assert any("renew_before" in r for r in actions[leaf]["reasons"])
    assert actions["root"]["verb"] == "unchanged"


def test_an_edited_manifest_entry_is_not_trusted_and_is_rewritten(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    before = (out / "manifest.json").read_text()
    document = json.loads(before)
    document["identities"]["web"]["subject"] = "CN=somebody else"
    # and a seal that holds elsewhere does not hold here
    document["identities"]["alice"]["seal"] = document["identities"]["web"]["seal"]
    (out / "manifest.json").write_text(json.dumps(document))
    assert sealed(spec, out) == NAMES - {"web", "alice"}
    assert run_cli("plan", spec, "-o", out).code == 0  # the certificates are as wanted
    assert run_cli("apply", spec, "-o", out).code == 0
    assert (out / "manifest.json").read_text() == before


def test_identities_that_need_a_password_or_are_revoked_are_never_sealed(
    applied: ApplySpec, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALICE_P12", "correct horse battery staple")
    with_bundle = SPEC.replace(
        "alice: {kind: client, issuer: issuing}",
        "alice: {kind: client, issuer: issuing, outputs: {pkcs12: {password_env: ALICE_P12}}}",
    )
    spec, out = applied(with_bundle)
    spec.write_text(with_bundle.replace("outputs: {der: true}", "revoked: {reason: superseded}"))
    assert run_cli("apply", spec, "-o", out).code == 0
    manifest = json.loads((out / "manifest.json").read_text())["identities"]
    assert "seal" not in manifest["alice"]
    assert "seal" not in manifest["api"]
    assert sealed(spec, out) == NAMES - {"alice", "api"}
    # alice's bundle is still checked, with its password, on every run
    (out / "alice" / "bundle.p12").write_bytes(b"not a bundle")
    assert plan_actions(run_cli, spec, out)[1]["alice"]["verb"] == "repair"


def test_a_no_op_apply_changes_nothing_the_seals_included(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    before = snapshot(out)
    assert run_cli("apply", spec, "-o", out).code == 0
    assert snapshot(out) == before


def test_where_the_spec_writes_things_is_no_part_of_a_seal(
    applied: ApplySpec, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leaves below a CA whose key is encrypted stay sealed when the spec only moves:
    the issuer's part of their seal holds its password's source, not the line naming it."""
    monkeypatch.setenv("CA_PASSWORD", "correct horse battery staple")
    encrypted = SPEC.replace(
        "issuing: {kind: intermediate, issuer: root, path_length: 0}",
        "issuing: {kind: intermediate, issuer: root, path_length: 0,\n"
        "           key: {type: ec, encrypt: {password_env: CA_PASSWORD}}}",
    )
    spec, out = applied(encrypted)
    assert sealed(spec, out) == NAMES - {"issuing"}
    spec.write_text("# the same PKI, two lines further down\n\n" + encrypted)
    assert sealed(spec, out) == NAMES - {"issuing"}
