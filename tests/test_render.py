"""render.py formats plans, applies and status for people and pipelines: built here from
plain Plan and report objects, so every line and every JSON key is checked on its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pkiform.plan.types import (
    NEVER_ISSUED,
    Action,
    ListKind,
    ListVerb,
    Plan,
    RevocationAction,
    Verb,
)
from pkiform.render import (
    applied_json,
    applied_text,
    plan_json,
    plan_text,
    status_json,
    status_text,
)
from pkiform.spec.load import validate_text
from pkiform.spec.model import IdentityName
from pkiform.status import Health, IdentityHealth, StatusReport
from pkiform.x509.crl_entry import Revoked

SPEC = validate_text(
    """\
version: 1
identities:
  root: {kind: root}
  issuing: {kind: intermediate, issuer: root}
  web: {kind: server, issuer: issuing, dns: [web.example.com]}
  alice: {kind: client, issuer: issuing}
  gone: {kind: client, issuer: issuing, revoked: {reason: keyCompromise}}
"""
).spec


def act(name: str, verb: Verb, *reasons: str, cascade: str | None = None) -> Action:
    return Action(
        name=IdentityName(name),
        verb=verb,
        reasons=reasons,
        cascade_from=IdentityName(cascade) if cascade else None,
    )


CRL = RevocationAction(
    kind=ListKind.CRL,
    name=IdentityName("issuing"),
    signer=IdentityName("issuing"),
    verb=ListVerb.RESIGN,
    reasons=("+0E79F1D1 (keyCompromise)",),
    entries=(
        Revoked(serial=0x0E79F1D1, at=datetime(2026, 1, 1, tzinfo=UTC), reason="keyCompromise"),
    ),
    number=7,
)
OCSP = RevocationAction(
    kind=ListKind.OCSP,
    name=IdentityName("web"),
    signer=IdentityName("issuing"),
    verb=ListVerb.CREATE,
    reasons=("ocsp.der is missing",),
)
CHANGES = Plan(
    actions=(
        act("root", Verb.UNCHANGED),
        act("issuing", Verb.REKEY, "key: ec P-256 -> ec P-384"),
        act("web", Verb.REISSUE, "issuer 'issuing' gets a new key", cascade="issuing"),
        act("alice", Verb.REPAIR, "chain.pem is missing"),
        act("gone", Verb.SKIP, NEVER_ISSUED),
    ),
    revocations=(CRL, OCSP),
    on_disk_only=("old",),
    trust_bundle="trust-bundle.pem is out of date",
)
NOTHING = Plan(actions=(act("root", Verb.UNCHANGED), act("web", Verb.UNCHANGED)))


def test_plan_text_speaks_terraform_with_every_reason_and_a_summary() -> None:
    assert plan_text(CHANGES, SPEC).splitlines() == [
        "-/+ issuing (intermediate): replace key",
        "      key: ec P-256 -> ec P-384",
        "  ~ web (server): reissue",
        "      issuer 'issuing' gets a new key",
        "  ~ alice (client): repair files",
        "      chain.pem is missing",
        "    gone: skip",
        f"      {NEVER_ISSUED}",
        "  ~ issuing: re-sign crl.pem (CRL number 7, 1 revoked)",
        "      +0E79F1D1 (keyCompromise)",
        "  + web: create ocsp.der (good, signed by issuing)",
        "      ocsp.der is missing",
        "  ~ trust-bundle.pem: write",
        "      trust-bundle.pem is out of date",
        "  ? old: on disk but not in the spec; left in place (apply --prune archives it)",
        "Plan: 1 to replace key, 1 to reissue, 1 to repair files, 2 CRL/OCSP to sign, "
        "trust-bundle.pem to write; 1 unchanged, 1 skipped.",
    ]


def test_a_plan_with_nothing_to_do_says_so_in_one_line() -> None:
    assert plan_text(NOTHING, SPEC) == "No changes: 2 identities up to date.\n"
    assert plan_text(NOTHING, None) == plan_text(NOTHING, SPEC)  # the settled mark's way


def test_a_blocked_identity_is_counted_and_retired_folders_are_named() -> None:
    blocked = Plan(
        actions=(act("issuing", Verb.BLOCKED, "key.pem is missing"),),
        on_disk_only=("old",),
        retire=("old",),
    )
    assert plan_text(blocked, SPEC).splitlines() == [
        "  ! issuing (intermediate): blocked",
        "      key.pem is missing",
        "  - old: not in the spec; its folder goes to the archive",
        "Plan: 1 to archive, 1 blocked; 0 unchanged.",
    ]


def test_plan_json_carries_the_same_plan() -> None:
    document = json.loads(plan_json(CHANGES))
    assert document["changes"] is True
    assert document["actions"][1] == {
        "name": "issuing",
        "verb": "rekey",
        "reasons": ["key: ec P-256 -> ec P-384"],
        "cascade_from": None,
    }
    assert document["actions"][2]["cascade_from"] == "issuing"
    assert [a["verb"] for a in document["actions"]] == [
        "unchanged",
        "rekey",
        "reissue",
        "repair",
        "skip",
    ]
    assert document["revocations"] == [
        {
            "kind": "crl",
            "name": "issuing",
            "signer": "issuing",
            "verb": "re-sign",
            "reasons": ["+0E79F1D1 (keyCompromise)"],
            "crl_number": 7,
            "revoked_serials": ["0E79F1D1"],
            "status": None,
        },
        {
            "kind": "ocsp",
            "name": "web",
            "signer": "issuing",
            "verb": "create",
            "reasons": ["ocsp.der is missing"],
            "crl_number": None,
            "revoked_serials": [],
            "status": "good",
        },
    ]
    assert (document["on_disk_only"], document["retire"]) == (["old"], [])
    assert document["trust_bundle"] == "trust-bundle.pem is out of date"
    assert document["warnings"] == []
    assert json.loads(plan_json(NOTHING))["changes"] is False


def test_applied_text_names_what_changed_and_the_directory() -> None:
    text = applied_text(CHANGES, ["web: validity clamped"], Path("pki"))
    assert text.splitlines() == [
        "-/+ issuing: replace key (key: ec P-256 -> ec P-384)",
        "  ~ web: reissue (issuer 'issuing' gets a new key)",
        "  ~ alice: repair files (chain.pem is missing)",
        f"    gone: skip ({NEVER_ISSUED})",
        "  ~ issuing: re-sign crl.pem (CRL number 7, 1 revoked)",
        "  + web: create ocsp.der (good, signed by issuing)",
        "  ~ trust-bundle.pem: written (trust-bundle.pem is out of date)",
        "warning: web: validity clamped",
        "  ? old: on disk but not in the spec; left in place (apply --prune archives it)",
        "Apply complete in pki: 3 changed, 1 unchanged, 1 skipped, 2 CRL/OCSP signed.",
    ]


def test_applied_json_lists_changed_unchanged_and_skipped() -> None:
    document = json.loads(applied_json(CHANGES, ["a warning"]))
    assert [a["name"] for a in document["changed"]] == ["issuing", "web", "alice"]
    assert document["unchanged"] == ["root"]
    assert [a["name"] for a in document["skipped"]] == ["gone"]
    assert [r["name"] for r in document["revocations"]] == ["issuing", "web"]
    assert (document["on_disk_only"], document["retired"]) == (["old"], [])
    assert document["warnings"] == ["a warning"]


REPORT = StatusReport(
    identities=(
        IdentityHealth(
            name=IdentityName("root"),
            kind="root",
            health=Health.OK,
            not_after=datetime(2036, 1, 1, tzinfo=UTC),
            serial="01",
        ),
        IdentityHealth(
            name=IdentityName("web"),
            kind="server",
            health=Health.ERROR,
            problems=("chain.pem does not match the certificates it should hold",),
            not_after=datetime(2026, 4, 1, tzinfo=UTC),
            serial="0E79F1D1",
            expiring=("certificate",),
        ),
    ),
    trust_bundle=("trust-bundle.pem is missing",),
)


def test_status_text_gives_a_line_per_identity_its_problems_and_a_count() -> None:
    assert status_text(REPORT).splitlines() == [
        "ok      root  root         until 2036-01-01 00:00Z",
        "error   web   server       until 2026-04-01 00:00Z",
        "        chain.pem does not match the certificates it should hold",
        "error   trust-bundle.pem",
        "        trust-bundle.pem is missing",
        "2 identities, 1 with errors, 1 expiring within the window; trust-bundle.pem has errors.",
    ]


def test_status_json_carries_the_same_report() -> None:
    document = json.loads(status_json(REPORT))
    assert document["ok"] is False
    assert document["identities"][1] == {
        "name": "web",
        "kind": "server",
        "health": "error",
        "problems": ["chain.pem does not match the certificates it should hold"],
        "not_after": "2026-04-01T00:00:00+00:00",
        "serial": "0E79F1D1",
        "crl_next_update": None,
        "expiring": ["certificate"],
    }
    assert document["trust_bundle"] == {
        "health": "error",
        "problems": ["trust-bundle.pem is missing"],
    }
