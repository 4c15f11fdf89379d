"""The planner as a data function (style.md §5, pyinfra's operation tests): a spec, the
facts on disk and a clock go in; actions with their reasons come out.

Each case applies a base spec at BASE into a fresh directory (real keys and
certificates), changes the disk as a user or a crash would, edits the spec, and calls
plan() directly with what observe() reads and the case's clock. Every case is planned
twice, with and without the seals' reader vouching for what an apply left consistent:
the answers must be equal (what a seal skips must be what full checks would find).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import pkiform
from pkiform.cache import seals
from pkiform.disk.observe import observe
from pkiform.disk.store import Store
from pkiform.plan.planner import archives_to_read, plan
from pkiform.plan.types import Plan
from pkiform.spec.load import validate_text
from pkiform.spec.model import IdentityName

BASE = datetime(2026, 1, 1, tzinfo=UTC)

BASE_SPEC = """\
version: 1
defaults: {key: {type: ec, curve: P-256}}
identities:
  root: {kind: root, validity: 10y}
  issuing: {kind: intermediate, issuer: root, validity: 5y}
  web: {kind: server, issuer: issuing, dns: [web.example.com], validity: 90d}
  api: {kind: server, issuer: issuing, dns: [api.example.com], validity: 90d}
  alice: {kind: client, issuer: issuing, validity: 90d}
"""


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    expect: Mapping[str, tuple[str, Sequence[str]]]  # name -> (verb, reasons), unlisted: unchanged
    spec: str = BASE_SPEC  # applied at BASE
    edit: Sequence[tuple[str, str]] = ()  # (old, new) replacements of the spec text
    disk: Sequence[tuple[str, ...]] = ()  # ("rm", path) | ("cp", src, dst) | ("write", path, text)
    at: timedelta = timedelta(0)  # the clock: BASE + at
    rekey: Sequence[str] = ()
    prune: bool = False
    revocations: Sequence[str] = ()  # "verb file of name": every CRL/OCSP action, in order
    on_disk_only: Sequence[str] = ()
    trust_bundle: str | None = None
    fresh: bool = False  # plan an empty directory: nothing applied first
    applied_edit: Sequence[tuple[str, str]] = field(default=())  # spec edits applied at BASE too


EARLY = "not valid before 2025-12-31 23:55Z (in 47h)"


CASES = [
    # -- create ---------------------------------------------------------------------------
    Case(
        id="empty-directory-creates-everything",
        fresh=True,
        expect={n: ("create", []) for n in ("root", "issuing", "web", "api", "alice")},
        revocations=["create crl.pem of root", "create crl.pem of issuing"],
        trust_bundle=None,
    ),
    Case(
        id="a-new-identity-is-created-alone",
        edit=[("  alice:", "  bob: {kind: client, issuer: issuing}\n  alice:")],
        expect={"bob": ("create", [])},
    ),
    Case(
        id="a-folder-without-key-or-cert-is-created",
        disk=[("rm", "api/key.pem"), ("rm", "api/cert.pem")],
        expect={"api": ("create", [])},
    ),
    # -- nothing to do ------------------------------------------------------------------------
    Case(id="same-spec-same-time-changes-nothing", expect={}),
    Case(
        id="a-month-later-only-the-crls-are-re-signed",
        at=timedelta(days=30),
        expect={},
        revocations=["re-sign crl.pem of root", "re-sign crl.pem of issuing"],
    ),
    # -- reissue: the spec changed ------------------------------------------------------------
    Case(
        id="a-dns-name-added",
        edit=[("dns: [web.example.com]", "dns: [web.example.com, www.example.com]")],
        expect={"web": ("reissue", ["dns: +www.example.com"])},
    ),
    Case(
        id="a-dns-name-removed",
        spec=BASE_SPEC.replace("dns: [api.example.com]", "dns: [api.example.com, a.example.com]"),
        edit=[("dns: [api.example.com, a.example.com]", "dns: [api.example.com]")],
        expect={"api": ("reissue", ["dns: -a.example.com"])},
    ),
    Case(
        id="an-ip-address-added",
        edit=[("dns: [web.example.com]", "dns: [web.example.com], ip: [10.0.0.1]")],
        expect={"web": ("reissue", ["ip: +10.0.0.1"])},
    ),
    Case(
        id="a-subject-changed",
        edit=[("alice: {kind: client,", "alice: {kind: client, subject: {O: Example},")],
        expect={"alice": ("reissue", ["subject: CN=alice -> CN=alice,O=Example"])},
    ),
    Case(
        id="a-validity-changed",
        edit=[("api.example.com], validity: 90d", "api.example.com], validity: 30d")],
        expect={"api": ("reissue", ["validity: 90d -> 30d"])},
    ),
    Case(
        id="extended-key-usage-changed",
        edit=[
            (
                "alice: {kind: client,",
                "alice: {kind: client, extended_key_usage: [clientAuth, emailProtection],",
            )
        ],
        expect={
            "alice": (
                "reissue",
                ["extended_key_usage: clientAuth -> clientAuth, emailProtection"],
            )
        },
    ),
    Case(
        id="a-crl-url-on-the-ca-reissues-what-it-issued",
        edit=[
            (
                "issuing: {kind: intermediate, issuer: root,",
                "issuing: {kind: intermediate, issuer: root, crl_url: 'http://crl.example/i.crl',",
            )
        ],
        expect={n: ("reissue", ["crl_url of the issuer: added"]) for n in ("web", "api", "alice")},
    ),
    Case(
        id="a-reissued-intermediate-reissues-below-it",
        edit=[("issuer: root, validity: 5y}", "issuer: root, validity: 5y, path_length: 0}")],
        expect={
            "issuing": ("reissue", ["basic constraints: changed"]),
            **{n: ("reissue", ["issuer 'issuing' is reissued"]) for n in ("web", "api", "alice")},
        },
        revocations=["re-sign crl.pem of issuing"],
    ),
    Case(
        id="name-constraints-added-on-the-intermediate",
        edit=[
            (
                "issuer: root, validity: 5y}",
                "issuer: root, validity: 5y, name_constraints: {excluded: {dns: [example.org]}}}",
            )
        ],
        expect={
            "issuing": ("reissue", ["name_constraints: added"]),
            **{n: ("reissue", ["issuer 'issuing' is reissued"]) for n in ("web", "api", "alice")},
        },
        revocations=["re-sign crl.pem of issuing"],
    ),
    # -- rekey ----------------------------------------------------------------------------------
    Case(
        id="a-leaf-key-type-changed",
        edit=[("api: {kind: server,", "api: {kind: server, key: {type: ed25519},")],
        expect={"api": ("rekey", ["key: ec P-256 -> ed25519"])},
    ),
    Case(
        id="a-ca-key-type-changed-cascades",
        edit=[
            (
                "issuer: root, validity: 5y}",
                "issuer: root, validity: 5y, key: {type: ec, curve: P-384}}",
            )
        ],
        expect={
            "issuing": ("rekey", ["key: ec P-256 -> ec P-384"]),
            **{
                n: ("reissue", ["issuer 'issuing' gets a new key"]) for n in ("web", "api", "alice")
            },
        },
        revocations=["re-sign crl.pem of issuing"],
    ),
    Case(
        id="rekey-asked-for-a-leaf",
        rekey=["web"],
        expect={"web": ("rekey", ["--rekey asked for a new key"])},
    ),
    Case(
        id="rekey-asked-for-a-ca",
        rekey=["issuing"],
        expect={
            "issuing": ("rekey", ["--rekey asked for a new key"]),
            **{
                n: ("reissue", ["issuer 'issuing' gets a new key"]) for n in ("web", "api", "alice")
            },
        },
        revocations=["re-sign crl.pem of issuing"],
    ),
    Case(
        id="a-leaf-key-missing",
        disk=[("rm", "web/key.pem")],
        expect={"web": ("rekey", ["key.pem is missing"])},
    ),
    Case(
        id="a-leaf-holding-another-identitys-key",
        disk=[("cp", "api/key.pem", "web/key.pem")],
        expect={
            "web": ("rekey", ["key.pem does not match cert.pem: it is the key of identity 'api'"])
        },
    ),
    Case(
        id="rotate-key-gives-a-fresh-key-at-renewal",
        edit=[("alice: {kind: client,", "alice: {kind: client, rotate_key: true,")],
        at=timedelta(days=80),
        expect={
            n: ("reissue", ["expires 2026-04-01 (in 10d) < renew_before 30d"])
            for n in ("web", "api")
        }
        | {
            "alice": (
                "rekey",
                [
                    "expires 2026-04-01 (in 10d) < renew_before 30d",
                    "rotate_key: a fresh key at every reissue",
                ],
            )
        },
        revocations=["re-sign crl.pem of root", "re-sign crl.pem of issuing"],
    ),
    # -- blocked --------------------------------------------------------------------------------
    Case(
        id="a-ca-key-missing-is-blocked",
        disk=[("rm", "issuing/key.pem")],
        expect={
            "issuing": (
                "blocked",
                [
                    "key.pem is missing while its certificate is still there; a CA key is "
                    "never replaced implicitly: pass --rekey issuing to replace it and "
                    "reissue everything below it"
                ],
            )
        },
        revocations=[],
    ),
    Case(
        id="a-ca-key-swapped-is-blocked",
        disk=[("cp", "root/key.pem", "issuing/key.pem")],
        expect={
            "issuing": (
                "blocked",
                [
                    "key.pem does not match cert.pem: it is the key of identity 'root' while "
                    "its certificate is still there; a CA key is never replaced implicitly: "
                    "pass --rekey issuing to replace it and reissue everything below it"
                ],
            )
        },
        revocations=[],
    ),
    # -- repair ---------------------------------------------------------------------------------
    Case(
        id="a-missing-chain-file-is-repaired",
        disk=[("rm", "web/chain.pem")],
        expect={"web": ("repair", ["chain.pem is missing"])},
    ),
    Case(
        id="a-damaged-fullchain-is-repaired",
        disk=[("write", "api/fullchain.pem", "garbage\n")],
        expect={"api": ("repair", ["fullchain.pem is out of date"])},
    ),
    Case(
        id="a-wrong-ca-file-is-repaired",
        disk=[("cp", "issuing/cert.pem", "alice/ca.pem")],
        expect={"alice": ("repair", ["ca.pem is out of date"])},
    ),
    Case(
        id="an-output-asked-for-is-written",
        edit=[("alice: {kind: client,", "alice: {kind: client, outputs: {der: true},")],
        expect={"alice": ("repair", ["cert.der is missing", "key.der is missing"])},
    ),
    Case(
        id="a-missing-certificate-is-reissued-for-its-key",
        disk=[("rm", "web/cert.pem")],
        expect={"web": ("reissue", ["cert.pem is missing"])},
    ),
    Case(
        id="a-certificate-of-another-identity-is-reissued",
        disk=[("cp", "api/cert.pem", "web/cert.pem")],
        expect={"web": ("reissue", ["cert.pem does not match key.pem"])},
    ),
    # -- time -----------------------------------------------------------------------------------
    Case(
        id="renewal-due-within-renew-before",
        at=timedelta(days=61),
        expect={
            n: ("reissue", ["expires 2026-04-01 (in 29d) < renew_before 30d"])
            for n in ("web", "api", "alice")
        },
        revocations=["re-sign crl.pem of root", "re-sign crl.pem of issuing"],
    ),
    Case(
        id="expired-certificates",
        at=timedelta(days=95),
        expect={
            n: ("reissue", ["expired 2026-04-01 00:00Z (5d ago)"]) for n in ("web", "api", "alice")
        },
        revocations=["re-sign crl.pem of root", "re-sign crl.pem of issuing"],
    ),
    Case(
        id="certificates-not-valid-yet",
        at=timedelta(days=-2),
        # a clock set back two days: everything was signed for a later time
        expect={"root": ("reissue", [EARLY])}
        | {"issuing": ("reissue", ["issuer 'root' is reissued", EARLY])}
        | {
            n: ("reissue", ["issuer 'issuing' is reissued", EARLY]) for n in ("web", "api", "alice")
        },
        revocations=["re-sign crl.pem of root", "re-sign crl.pem of issuing"],
    ),
    Case(
        id="crls-near-next-update-are-re-signed",
        at=timedelta(days=5),
        expect={},
        revocations=["re-sign crl.pem of root", "re-sign crl.pem of issuing"],
    ),
    # -- revocation -----------------------------------------------------------------------------
    Case(
        id="a-revoked-leaf-goes-on-its-issuers-crl",
        edit=[("alice: {kind: client,", "alice: {kind: client, revoked: {reason: keyCompromise},")],
        expect={},
        revocations=["re-sign crl.pem of issuing"],
    ),
    Case(
        id="revoked-before-it-was-ever-issued-is-skipped",
        fresh=True,
        spec=BASE_SPEC.replace(
            "alice: {kind: client,", "alice: {kind: client, revoked: {reason: unspecified},"
        ),
        expect={n: ("create", []) for n in ("root", "issuing", "web", "api")}
        | {
            "alice": (
                "skip",
                ["revoked before it was ever issued: nothing to issue, nothing to list"],
            )
        },
        revocations=["create crl.pem of root", "create crl.pem of issuing"],
    ),
    Case(
        id="ocsp-on-the-ca-signs-a-response-per-leaf",
        edit=[("issuer: root, validity: 5y}", "issuer: root, validity: 5y, ocsp: true}")],
        expect={
            "issuing": ("reissue", ["key usage: changed"]),
            **{n: ("reissue", ["issuer 'issuing' is reissued"]) for n in ("web", "api", "alice")},
        },
        revocations=[
            "re-sign crl.pem of issuing",
            "create ocsp.der of alice",
            "create ocsp.der of api",
            "create ocsp.der of web",
        ],
    ),
    # -- the directory --------------------------------------------------------------------------
    Case(
        id="an-identity-left-out-of-the-spec-is-reported",
        edit=[("  alice: {kind: client, issuer: issuing, validity: 90d}\n", "")],
        expect={},
        on_disk_only=["alice"],
    ),
    Case(
        id="prune-retires-it",
        edit=[("  alice: {kind: client, issuer: issuing, validity: 90d}\n", "")],
        prune=True,
        expect={},
        on_disk_only=["alice"],
    ),
    Case(
        id="a-missing-trust-bundle-is-written",
        disk=[("rm", "trust-bundle.pem")],
        expect={},
        trust_bundle="trust-bundle.pem is missing",
    ),
]


def _edited(text: str, edits: Sequence[tuple[str, str]]) -> str:
    for old, new in edits:
        assert old in text, f"the case edits {old!r}, which its spec does not hold"
        text = text.replace(old, new)
    return text


def _change_disk(out: Path, steps: Sequence[tuple[str, ...]]) -> None:
    for step in steps:
        if step[0] == "rm":
            (out / step[1]).unlink()
        elif step[0] == "cp":
            shutil.copyfile(out / step[1], out / step[2])
        else:
            (out / step[1]).write_text(step[2])


def _plan(text: str, out: Path, case: Case, *, vouching: bool) -> Plan:
    valid = validate_text(text)
    spec, graph = valid.spec, valid.graph
    reader = seals.Reader(spec, graph)
    observed = observe(
        Store(out),
        spec.identities,
        with_archive=archives_to_read(spec, graph),
        keep_keys={n for n, ident in spec.identities.items() if ident.kind.is_ca},
        vouch=reader.vouch if vouching else None,
    )
    return plan(
        spec,
        graph,
        observed,
        BASE + case.at,
        rekey=[IdentityName(n) for n in case.rekey],
        prune=case.prune,
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_planner_decides_from_spec_facts_and_clock(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "pki"
    if not case.fresh:
        pkiform.loads(_edited(case.spec, case.applied_edit)).apply(out, at=BASE)
    _change_disk(out, case.disk)
    text = _edited(case.spec, case.edit)
    found = _plan(text, out, case, vouching=True)
    assert _plan(text, out, case, vouching=False) == found, "a seal vouched for a change"

    actions = {a.name: (str(a.verb), list(a.reasons)) for a in found.actions}
    wanted = {name: ("unchanged", []) for name in actions} | dict(case.expect)
    assert actions == {n: (v, list(r)) for n, (v, r) in wanted.items()}
    revocations = [f"{r.verb} {r.file} of {r.name}" for r in found.revocations]
    assert revocations == list(case.revocations)
    assert list(found.on_disk_only) == list(case.on_disk_only)
    assert list(found.retire) == (list(case.on_disk_only) if case.prune else [])
    assert found.trust_bundle == case.trust_bundle


def test_there_are_cases_for_every_verb_and_enough_of_them() -> None:
    verbs = {verb for case in CASES for verb, _ in case.expect.values()}
    assert verbs == {"create", "reissue", "rekey", "repair", "blocked", "skip"}
    assert len(CASES) >= 30
