"""A CA rotation in the spec (issue 16): `replaces` and `cross_sign`, each mistake a located
error with its whole message, and what a valid rotation means for each identity's files
(spec/rotation.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pkiform.spec.load import validate_text
from pkiform.spec.rotation import Rotations
from tests.helpers.run import RunCli

BASE = """\
version: 1
identities:
  old-root: {kind: root}
  issuing: {kind: intermediate, issuer: old-root}
  web: {kind: server, issuer: issuing, dns: [web.example]}
"""


def errors(run_cli: RunCli, write_spec: Callable[..., Path], text: str) -> list[str]:
    """validate's stderr lines for a spec; it must fail (exit 1) and print nothing else."""
    write_spec(text)
    result = run_cli("validate", "spec.yaml")
    assert (result.code, result.out) == (1, ""), result.err
    return result.err.splitlines()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "  new-root: {kind: root, replaces: old-rot}\n",
            "spec.yaml:6:36: error: identities.new-root.replaces: unknown identity 'old-rot' "
            "(did you mean 'old-root'?)",
        ),
        (
            "  new-root: {kind: root, replaces: root-2019}\n",
            "spec.yaml:6:36: error: identities.new-root.replaces: unknown identity 'root-2019' "
            "(to retire a CA, remove replaces too)",
        ),
        (
            "  new-root: {kind: root, replaces: web}\n",
            "spec.yaml:6:36: error: identities.new-root.replaces: 'web' is a server, not a CA: "
            "only a root or intermediate is replaced",
        ),
        (
            "  new-root: {kind: root, replaces: new-root}\n",
            "spec.yaml:6:36: error: identities.new-root.replaces: a CA cannot replace itself; "
            "name the CA this one succeeds",
        ),
        (
            "  new-root: {kind: root, replaces: issuing}\n",
            "spec.yaml:6:36: error: identities.new-root.replaces: 'issuing' is an intermediate: "
            "a root replaces a root, an intermediate replaces an intermediate",
        ),
        (
            "  issuing-2: {kind: intermediate, issuer: old-root, replaces: old-root}\n",
            "spec.yaml:6:63: error: identities.issuing-2.replaces: 'old-root' is a root: a root "
            "replaces a root, an intermediate replaces an intermediate",
        ),
        (
            "  alice: {kind: client, issuer: issuing, replaces: web}\n",
            "spec.yaml:6:42: error: identities.alice.replaces: replaces applies to CAs only, "
            "not to a client",
        ),
        (
            "  alice: {kind: client, issuer: issuing, cross_sign: false}\n",
            "spec.yaml:6:42: error: identities.alice.cross_sign: cross_sign applies to CAs "
            "only, not to a client",
        ),
        (
            "  new-root: {kind: root, cross_sign: true}\n",
            "spec.yaml:6:38: error: identities.new-root.cross_sign: cross_sign needs replaces: "
            "the CA this one replaces signs the cross certificate",
        ),
        (
            "  issuing-2: {kind: intermediate, issuer: old-root, replaces: issuing,"
            " cross_sign: true}\n",
            "spec.yaml:6:84: error: identities.issuing-2.cross_sign: cross_sign is for a root "
            "that replaces a root: relying parties trust roots, and an intermediate's successor "
            "chains to the same root (or to the root that replaces it, whose cross certificate "
            "serves everything below it); remove it",
        ),
    ],
    ids=[
        "unknown-typo",
        "unknown-retired",
        "not-a-ca",
        "itself",
        "root-replaces-intermediate",
        "intermediate-replaces-root",
        "leaf-replaces",
        "leaf-cross-sign",
        "cross-sign-alone",
        "cross-sign-intermediate",
    ],
)
def test_a_bad_replaces_or_cross_sign_is_a_located_error(
    run_cli: RunCli, write_spec: Callable[..., Path], extra: str, expected: str
) -> None:
    assert errors(run_cli, write_spec, BASE + extra) == [expected]


def test_a_successor_of_a_ca_with_errors_of_its_own_is_not_judged(
    run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    # the CA replaced is left out of the spec by its own error (an internal error once)
    text = BASE.replace("issuer: old-root}", "issuer: old-root, replaces: null}", 1) + (
        "  issuing-2: {kind: intermediate, issuer: old-root, replaces: issuing}\n"
    )
    assert errors(run_cli, write_spec, text) == [
        "spec.yaml:4:61: error: identities.issuing.replaces: expected a string; got nothing (null)"
    ]


def test_a_replaces_cycle_is_one_located_error(
    run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    text = BASE + (
        "  b-root: {kind: root, replaces: c-root}\n"
        "  c-root: {kind: root, replaces: d-root}\n"
        "  d-root: {kind: root, replaces: b-root}\n"
    )
    assert errors(run_cli, write_spec, text) == [
        "spec.yaml:6:34: error: identities.b-root.replaces: replaces cycle: "
        "b-root -> c-root -> d-root -> b-root"
    ]


def test_a_ca_has_one_successor_and_one_rotation_at_a_time(
    run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    text = BASE + (
        "  new-root: {kind: root, replaces: old-root}\n"
        "  other-root: {kind: root, replaces: old-root}\n"
        "  newer-root: {kind: root, replaces: new-root}\n"
    )
    assert errors(run_cli, write_spec, text) == [
        "spec.yaml:7:38: error: identities.other-root.replaces: 'old-root' is already "
        "replaced by 'new-root': a CA has one successor at a time",
        "spec.yaml:8:38: error: identities.newer-root.replaces: 'new-root' itself replaces "
        "'old-root': finish that rotation (retire 'old-root') before 'new-root' is replaced",
    ]


def test_an_intermediates_successor_keeps_its_root_or_the_roots_successor(
    run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    text = BASE + (
        "  other: {kind: root}\n"
        "  issuing-2: {kind: intermediate, issuer: other, replaces: issuing}\n"
    )
    assert errors(run_cli, write_spec, text) == [
        "spec.yaml:7:60: error: identities.issuing-2.replaces: 'issuing-2' chains to root "
        "'other' and 'issuing' to root 'old-root': an intermediate's successor chains to the "
        "same root, or to the root that replaces it (give 'other' replaces: old-root)"
    ]
    # the fix the message gives: the new intermediate's root replaces the old one's
    write_spec(text.replace("  other: {kind: root}", "  other: {kind: root, replaces: old-root}"))
    assert run_cli("validate", "spec.yaml").code == 0


def test_the_cross_certificate_must_fit_the_old_roots_constraints(
    run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    """Relying parties of the old root walk through the cross certificate and apply the
    old root's path length and name constraints to everything below the new root."""
    text = """\
version: 1
identities:
  old-root:
    kind: root
    path_length: 1
    name_constraints: {permitted: {dns: [example.com]}}
  new-root: {kind: root, replaces: old-root, cross_sign: true}
  issuing: {kind: intermediate, issuer: new-root}
  web: {kind: server, issuer: issuing, dns: [web.example.org]}
"""
    assert errors(run_cli, write_spec, text) == [
        "spec.yaml:7:58: error: identities.new-root.cross_sign: 'old-root' has path_length 1, "
        "but through the cross certificate 2 CA certificates would follow it (the cross "
        "certificate and the intermediates below 'new-root'); relying parties of the old root "
        "would refuse those chains: remove cross_sign",
        "spec.yaml:9:46: error: identities.web.dns[0]: 'web.example.org' is outside the name "
        "constraints of 'old-root' (permitted dns: example.com)",
    ]
    # without the cross certificate, neither applies: the new root is the only anchor
    write_spec(text.replace(", cross_sign: true", ""))
    assert run_cli("validate", "spec.yaml").code == 0


ROTATING = """\
version: 1
identities:
  old-root: {kind: root}
  new-root: {kind: root, replaces: old-root, cross_sign: true}
  issuing: {kind: intermediate, issuer: new-root}
  web: {kind: server, issuer: issuing, dns: [web.example]}
  edge: {kind: server, issuer: new-root, dns: [edge.example]}
  legacy: {kind: server, issuer: old-root, dns: [legacy.example]}
  other: {kind: root}
  lone: {kind: client, issuer: other}
  int-a: {kind: intermediate, issuer: other}
  int-b: {kind: intermediate, issuer: other, replaces: int-a}
"""


def test_what_a_rotation_means_for_each_identitys_files() -> None:
    valid = validate_text(ROTATING)
    rotations = Rotations.of(valid.spec, valid.graph)
    # both hierarchies' trust files hold the other root; an unrelated root's do not
    assert {n: rotations.partners(n) for n in valid.spec.identities} == {
        "old-root": ("new-root",),
        "new-root": ("old-root",),
        "issuing": ("old-root",),
        "web": ("old-root",),
        "edge": ("old-root",),
        "legacy": ("new-root",),
        "other": (),
        "lone": (),
        "int-a": (),
        "int-b": (),
    }
    # the cross certificate ends the chains below the new root, not the new root's own
    assert {n for n in valid.spec.identities if rotations.cross_from(n)} == {
        "issuing",
        "web",
        "edge",
    }
    assert rotations.cross_signer("new-root") == "old-root"
    assert rotations.cross_signer("int-b") is None
    assert rotations.cross_signers() == {"old-root"}
    assert rotations.context("web") == "partners=old-root;cross=new-root"
    assert rotations.context("lone") == ""
    # no rotation: nothing computed, nothing for seals to bind
    plain = validate_text(BASE)
    assert not Rotations.of(plain.spec, plain.graph)
