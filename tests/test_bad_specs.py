"""Invalid specs through the CLI: exit 1, every problem as one exact located line, nothing written.

Each case is the spec and the whole stderr it must produce, as `LINE:COL: severity: PATH:
message` lines (the file name is prefixed by the test). Line and column point at the key or
value the user has to change.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pkiform.errors import SpecError
from pkiform.spec import schema
from pkiform.spec.load import validate_text
from pkiform.spec.model import IdentityName
from pkiform.spec.source import Document
from tests.helpers.bad_specs import CASES, ROOT, Case, billion_laughs
from tests.helpers.run import RunCli


def _ids() -> list[str]:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return ids


def _write(tmp_path: Path, spec: str | bytes) -> Path:
    path = tmp_path / "spec.yaml"
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    else:
        path.write_text(spec, encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", CASES, ids=_ids())
@pytest.mark.parametrize("command", ["validate", "apply"])
def test_bad_spec(bad: Case, command: str, run_cli: RunCli, tmp_path: Path) -> None:
    path = _write(tmp_path, bad.spec)
    out_dir = tmp_path / "out"
    argv: list[str | Path] = [command, path]
    if command == "apply":
        argv += ["-o", out_dir]
    started = time.perf_counter()
    result = run_cli(*argv)
    elapsed = time.perf_counter() - started
    assert (result.code, result.out) == (1, ""), result.err
    assert "Traceback" not in result.err
    assert result.err.splitlines() == [f"{path}:{line}" for line in bad.expected]
    assert not out_dir.exists(), "a failed run must not create the output directory"
    assert not (tmp_path / "pki").exists()
    assert elapsed < 10, f"took {elapsed:.2f}s: a limit is checked too late"


def test_alias_bomb_fails_fast(run_cli: RunCli, tmp_path: Path) -> None:
    """Billion laughs: refused from the node graph, without expanding a single alias."""
    path = _write(tmp_path, billion_laughs())
    started = time.perf_counter()
    result = run_cli("validate", path)
    assert time.perf_counter() - started < 5  # expanding it would take hours
    assert result.code == 1
    assert "spec too large" in result.err


MULTI_ERROR = """\
version: 1
identities:
  root:
    kind: root
    key: {type: rsa, size: 1024}
    vaildity: 10y
  web:
    kind: server
    issuer: root
    subject: {C: NO}
    validity: 90 days
    dns: [web.example.com]
  alice:
    kind: cleint
    issuer: root
"""


def test_many_errors_reported_together_sorted_by_line(run_cli: RunCli, tmp_path: Path) -> None:
    path = _write(tmp_path, MULTI_ERROR)
    result = run_cli("validate", path)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"{path}:5:28: error: identities.root.key.size: expected one of 2048, 3072, 4096; "
        "got 1024 (RSA keys under 2048 bits are refused)",
        f"{path}:6:5: error: identities.root.vaildity: unknown field 'vaildity' "
        "(did you mean 'validity'?)",
        f"{path}:10:18: error: identities.web.subject.C: expected a two-letter country code in "
        'capitals, like JP; got false (YAML reads NO as false: quote it: "NO")',
        f"{path}:11:15: error: identities.web.validity: expected a duration like 90d, 12h, 2w "
        "or 10y; got '90 days'",
        f"{path}:14:11: error: identities.alice.kind: expected one of root, intermediate, "
        "server, client; got 'cleint' (did you mean 'client'?)",
    ]


MULTI_RULE_ERROR = """\
version: 1
identities:
  root:
    kind: root
    validity: 1y
    renew_before: 2y
  issuing:
    kind: intermediate
    issuer: rot
  web:
    kind: server
    issuer: root
  api:
    kind: server
    issuer: root
    dns: [api.example.com, API.example.com]
    ip: [10.0.0.300]
"""


def test_semantic_errors_reported_together(run_cli: RunCli, tmp_path: Path) -> None:
    path = _write(tmp_path, MULTI_RULE_ERROR)
    result = run_cli("validate", path)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"{path}:6:19: error: identities.root.renew_before: renew_before (2y) must be shorter "
        "than validity (1y), or every apply would reissue it",
        f"{path}:9:13: error: identities.issuing.issuer: unknown identity 'rot' "
        "(did you mean 'root'?)",
        f"{path}:10:3: error: identities.web: a server needs at least one 'dns' or 'ip' name "
        "(TLS clients check it)",
        f"{path}:16:28: error: identities.api.dns[1]: expected a DNS name in lowercase; "
        "got 'API.example.com'",
        f"{path}:17:10: error: identities.api.ip[0]: expected an IPv4 or IPv6 address; "
        "got '10.0.0.300'",
    ]


# -- independent problems come out together, without follow-on errors -------------------------

# issue 12: the schema error on ca1 used to hide web's unknown issuer until it was fixed
SCHEMA_AND_RULE = """\
version: 1
identities:
  ca1:
    kind: root
    key: {type: rsa, size: 1024}
  web:
    kind: server
    issuer: ca2
    dns: [web.example.com]
"""
SCHEMA_AND_RULE_ERRORS = [
    "5:28: error: identities.ca1.key.size: expected one of 2048, 3072, 4096; got 1024 "
    "(RSA keys under 2048 bits are refused)",
    "8:13: error: identities.web.issuer: unknown identity 'ca2' (did you mean 'ca1'?)",
]

FOUR_TYPOS = """\
version: 1
identities:
  root:
    kind: root
    vaildity: 10y
  issuing:
    kind: intermediate
    issuer: rot
  web:
    kind: sever
    issuer: issuing
    dns: [web.example.com]
  api:
    kind: server
    issuer: issuing
    ip: [10.0.0.256]
"""
FOUR_TYPOS_ERRORS = [
    "5:5: error: identities.root.vaildity: unknown field 'vaildity' (did you mean 'validity'?)",
    "8:13: error: identities.issuing.issuer: unknown identity 'rot' (did you mean 'root'?)",
    "10:11: error: identities.web.kind: expected one of root, intermediate, server, client; "
    "got 'sever' (did you mean 'server'?)",
    "16:10: error: identities.api.ip[0]: expected an IPv4 or IPv6 address; got '10.0.0.256'",
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [(SCHEMA_AND_RULE, SCHEMA_AND_RULE_ERRORS), (FOUR_TYPOS, FOUR_TYPOS_ERRORS)],
    ids=["schema-and-rule", "four-typos"],
)
def test_independent_problems_are_reported_in_one_run(
    spec: str, expected: list[str], run_cli: RunCli, tmp_path: Path
) -> None:
    path = _write(tmp_path, spec)
    result = run_cli("validate", path)
    assert (result.code, result.out) == (1, "")
    assert result.err.splitlines() == [f"{path}:{line}" for line in expected]


def test_the_api_carries_every_independent_problem() -> None:
    import pkiform

    with pytest.raises(pkiform.SpecError) as caught:
        pkiform.loads(FOUR_TYPOS, file="spec.yaml")
    assert [str(d) for d in caught.value.diagnostics] == [
        f"spec.yaml:{line}" for line in FOUR_TYPOS_ERRORS
    ]
    assert [d.path for d in caught.value.diagnostics] == [
        "identities.root.vaildity",
        "identities.issuing.issuer",
        "identities.web.kind",
        "identities.api.ip[0]",
    ]


# a broken intermediate between a constrained root with path_length 0 and what it issues:
# judged as if it were not there, sub and api would be 'unknown identity' errors, and web
# outside the root's name constraints two intermediates below a path_length of 0
THROUGH_A_BROKEN_CA = """\
version: 1
identities:
  root:
    kind: root
    path_length: 0
    name_constraints: {permitted: {dns: [example.com]}}
  issuing:
    kind: intermediate
    issuer: root
    key: {type: ec, curve: P-192}
  sub:
    kind: intermediate
    issuer: issuing
    subject: {CN: Sub CA}
  web:
    kind: server
    issuer: sub
    dns: [web.example.org]
  api:
    kind: server
    issuer: issuing
    dns: [api.example.org]
"""


def test_nothing_is_reported_about_what_depends_on_a_broken_identity(
    run_cli: RunCli, tmp_path: Path
) -> None:
    path = _write(tmp_path, THROUGH_A_BROKEN_CA)
    result = run_cli("validate", path)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"{path}:10:28: error: identities.issuing.key.curve: expected one of P-256, P-384, "
        "P-521; got 'P-192'"
    ]


# defaults.validity is broken: web, which inherits it, cannot be judged (its renew_before
# is compared with its validity); root and api set their own and are
BROKEN_DEFAULTS = """\
version: 1
defaults:
  validity: 90 days
identities:
  root:
    kind: root
    validity: 10y
    renew_before: 11y
  web:
    kind: server
    issuer: root
    renew_before: 300d
    dns: [web.example.com]
  api:
    kind: server
    issuer: rot
    validity: 30d
    dns: [api.example.com]
"""


def test_identities_are_judged_unless_they_inherit_broken_defaults(
    run_cli: RunCli, tmp_path: Path
) -> None:
    path = _write(tmp_path, BROKEN_DEFAULTS)
    result = run_cli("validate", path)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"{path}:3:13: error: defaults.validity: expected a duration like 90d, 12h, 2w or 10y; "
        "got '90 days'",
        f"{path}:8:19: error: identities.root.renew_before: renew_before (11y) must be shorter "
        "than validity (10y), or every apply would reissue it",
        f"{path}:16:13: error: identities.api.issuer: unknown identity 'rot' "
        "(did you mean 'root'?)",
    ]


def test_a_source_problem_does_not_hide_the_others(run_cli: RunCli, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        SCHEMA_AND_RULE + "  api:\n    kind: server\n    issuer: ca1\n"
        '    subject: {CN: "api\\u200b"}\n    dns: [api.example.com]\n    dns: [x]\n',
    )
    result = run_cli("validate", path)
    assert result.code == 1
    assert result.err.splitlines() == [f"{path}:{line}" for line in SCHEMA_AND_RULE_ERRORS] + [
        f"{path}:13:19: error: identities.api.subject.CN: expected text without invisible "
        "formatting characters; got 'api\\u200b' (U+200B ZERO WIDTH SPACE at position 4)",
        f"{path}:15:5: error: identities.api: duplicate key 'dns' (first at 14:5)",
    ]


def test_an_identity_with_a_refused_value_still_shows_its_other_problems(
    run_cli: RunCli, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        ROOT + "  web:\n    kind: server\n    issuer: root\n"
        '    subject: {CN: "web\\u200b"}\n    dns: [web.example.com]\n    vaildity: 90d\n',
    )
    result = run_cli("validate", path)
    assert result.err.splitlines() == [
        f"{path}:8:19: error: identities.web.subject.CN: expected text without invisible "
        "formatting characters; got 'web\\u200b' (U+200B ZERO WIDTH SPACE at position 4)",
        f"{path}:10:5: error: identities.web.vaildity: unknown field 'vaildity' "
        "(did you mean 'validity'?)",
    ]


def test_a_refused_key_is_not_also_a_missing_field(run_cli: RunCli, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        ROOT + '  web:\n    "kind\\u200b": server\n    issuer: root\n    dns: [web.example.com]\n',
    )
    result = run_cli("validate", path)
    assert result.err.splitlines() == [
        f"{path}:6:5: error: identities.web: expected text without invisible formatting "
        "characters; got 'kind\\u200b' (U+200B ZERO WIDTH SPACE at position 5)",
    ]


def test_a_refused_network_does_not_make_its_addresses_outside_the_others(
    run_cli: RunCli, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        ROOT + "    name_constraints: {permitted: {ip: [10.0.0.1/8, 192.168.0.0/16]}}\n"
        "  web:\n    kind: server\n    issuer: root\n    ip: [10.1.2.3]\n",
    )
    result = run_cli("validate", path)
    assert result.err.splitlines() == [
        f"{path}:5:41: error: identities.root.name_constraints.permitted.ip[0]: expected a "
        "network in CIDR form like 10.0.0.0/8; got '10.0.0.1/8' (host bits are set)"
    ]


@pytest.mark.parametrize(
    ("constraint", "name", "expected"),
    [
        (
            "dns: [example.com., example.net]",
            "dns: [web.example.com]",
            "5:42: error: identities.root.name_constraints.permitted.dns[0]: expected a DNS "
            "name; got 'example.com.' (empty label)",
        ),
        (
            "email: [example.com]",
            "email: [alice]",
            "10:13: error: identities.web.email[0]: expected an email address like "
            "alice@example.com; got 'alice'",
        ),
        (
            "dns: [example.com]",
            "dns: [-web.example.org]",
            "10:11: error: identities.web.dns[0]: expected a DNS name; got '-web.example.org' "
            "(label '-web': use lowercase letters, digits and '-', not at either end, at most "
            "63 characters)",
        ),
    ],
    ids=["refused-subtree", "refused-email", "refused-dns-name"],
)
def test_a_refused_name_or_subtree_is_not_also_outside_the_constraints(
    constraint: str, name: str, expected: str, run_cli: RunCli, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        ROOT + f"    name_constraints: {{permitted: {{{constraint}}}}}\n"
        f"  web:\n    kind: client\n    issuer: root\n    subject: {{CN: Web Client}}\n"
        f"    {name}\n",
    )
    result = run_cli("validate", path)
    assert result.err.splitlines() == [f"{path}:{expected}"]


UNION_BASE = """\
version: 1
identities:
  root:
    kind: root
    subject: {CN: Root CA}
  issuing:
    kind: intermediate
    issuer: root
    subject: {CN: Issuing CA}
    name_constraints: {permitted: {dns: [example.com]}}
"""

# one line each, written under an identity: some break it for the schema, some for the
# values resolve checks, some for the rules, some in the YAML itself (written twice, a
# field is a duplicate key)
DEFECTS = [
    "key: {type: rsa, size: 1024}",
    "vaildity: 90d",
    "validity: 90 days",
    "subject: {C: NO}",
    'subject: {CN: "x\\u202ey"}',
    "subject: {CN: !!binary eA==}",
    "ip: [10.0.0.300]",
    "dns: [Web.example.com]",
    "dns: [web.example.org]",
    "email: [not-an-email]",
    "renew_before: 100d",
    "issuer: ca2",
    "path_length: 1",
    "rotate_key: yes please",
]


def broken_identity(name: str, kind: str, issuer: str, defects: list[str]) -> str:
    return f"  {name}:\n    kind: {kind}\n    issuer: {issuer}\n" + "".join(
        f"    {d}\n" for d in defects
    )


def located(text: str) -> list[tuple[int, int, str, str, str]]:
    """Every diagnostic of a spec as (line, column, severity, path, message)."""
    try:
        validate_text(text, "spec.yaml")
    except SpecError as e:
        return [(d.loc.line, d.loc.col, d.severity, d.path, d.message) for d in e.diagnostics]
    return []


_BROKEN = st.tuples(
    st.sampled_from(["server", "client"]),
    st.sampled_from(["root", "issuing"]),
    st.lists(st.sampled_from(DEFECTS), min_size=1, max_size=3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(a=_BROKEN, b=_BROKEN)
def test_diagnostics_of_independent_identities_are_the_union_of_each_alone(
    a: tuple[str, str, list[str]], b: tuple[str, str, list[str]]
) -> None:
    first, second = broken_identity("alpha", *a), broken_identity("bravo", *b)
    alone_a, alone_b = located(UNION_BASE + first), located(UNION_BASE + second)
    assume(alone_a and alone_b)
    shift = first.count("\n")  # bravo comes after alpha when both are there
    base_lines = UNION_BASE.count("\n")

    def moved(line: int) -> int:
        return line + shift if line > base_lines else line

    def moved_message(message: str) -> str:  # "duplicate key 'dns' (first at 14:5)"
        return re.sub(r"first at (\d+):", lambda m: f"first at {moved(int(m[1]))}:", message)

    moved_b = [
        (moved(line), col, sev, path, moved_message(msg)) for line, col, sev, path, msg in alone_b
    ]
    both = located(UNION_BASE + first + second)
    assert sorted(both) == sorted(set(alone_a) | set(moved_b))


WARNS = """\
version: 1
identities:
  root:
    kind: root
    validity: 1y
  web:
    kind: server
    issuer: root
    validity: 2y
    dns: [web.example.com]
"""


def test_validity_longer_than_issuer_is_a_warning(run_cli: RunCli, tmp_path: Path) -> None:
    path = _write(tmp_path, WARNS)
    result = run_cli("validate", path)
    assert result.code == 0, result.err
    assert result.out == f"{path}: valid (2 identities)\n"
    assert result.err.splitlines() == [
        f"{path}:9:15: warning: identities.web.validity: 2y outlives its issuer "
        "'root' (1y); its certificate will end when the issuer's does"
    ]


def test_inherited_validity_warning_points_at_the_identity(run_cli: RunCli, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "version: 1\ndefaults:\n  validity: 2y\nidentities:\n"
        "  root:\n    kind: root\n    validity: 1y\n"
        "  bob:\n    kind: client\n    issuer: root\n",
    )
    result = run_cli("validate", path)
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        f"{path}:8:3: warning: identities.bob: 2y (from defaults.validity) outlives "
        "its issuer 'root' (1y); its certificate will end when the issuer's does"
    ]


def test_legacy_pkcs12_is_a_warning(run_cli: RunCli, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "version: 1\ndefaults:\n  outputs:\n    pkcs12: {password_env: P12, legacy: true}\n"
        "identities:\n  root:\n    kind: root\n",
    )
    result = run_cli("validate", path)
    assert result.code == 0
    assert result.err == (
        f"{path}:4:33: warning: defaults.outputs.pkcs12.legacy: legacy PKCS#12 encryption "
        "(3DES, SHA-1) is weak: use it only for readers that cannot open AES-256 bundles "
        "(old Java, Windows and macOS)\n"
    )


def test_outputs_merge_over_the_defaults_output_by_output() -> None:
    spec = validate_text(
        "version: 1\n"
        "defaults:\n"
        "  outputs:\n"
        "    pkcs12: {password_env: P12, legacy: true}\n"
        "    kubernetes: {namespace: prod}\n"
        "    der: true\n"
        "identities:\n"
        "  root:\n    kind: root\n    outputs: {kubernetes: false, der: false}\n"
        "  web:\n    kind: server\n    issuer: root\n    dns: [web.example.com]\n"
        "    outputs: {kubernetes: {name: web-tls}, pkcs12: {password_file: web.txt}}\n"
    ).spec
    root, web = spec.identities[IdentityName("root")], spec.identities[IdentityName("web")]
    assert (root.outputs.kubernetes, root.outputs.der) == (None, False)
    assert root.outputs.pkcs12 is not None and root.outputs.pkcs12.legacy
    assert root.outputs.pkcs12.password.env == "P12"
    assert web.outputs.der
    assert web.outputs.kubernetes is not None
    assert (web.outputs.kubernetes.name, web.outputs.kubernetes.namespace) == ("web-tls", "prod")
    # a password source replaces the default's as a whole; the other fields still merge
    assert web.outputs.pkcs12 is not None and web.outputs.pkcs12.legacy
    assert (web.outputs.pkcs12.password.env, web.outputs.pkcs12.password.file) == (None, "web.txt")


def test_missing_file(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("validate", tmp_path / "nope.yaml")
    assert result.code == 1
    assert result.err == f"pkiform: error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_directory_instead_of_file(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("validate", tmp_path)
    assert result.code == 1
    assert result.err == (f"pkiform: error: {tmp_path}: is a directory, expected a YAML file\n")


# -- regressions: specs that validated and then crashed (or misbehaved) later -------------


def test_integral_float_path_length_is_an_int() -> None:
    """JSON Schema counts 1.0 as an integer; cryptography's BasicConstraints refused it."""
    valid = validate_text(ROOT + "    path_length: 1.0\n")
    path_length = valid.spec.identities[IdentityName("root")].path_length
    assert path_length == 1
    assert type(path_length) is int


@pytest.mark.parametrize(
    ("value", "field"),
    [("web\n", "identity name"), ("90d\n", "validity"), ("JP\n", "C")],
)
def test_schema_patterns_match_the_whole_string(value: str, field: str) -> None:
    """Python's `$` matches before a final newline; JSON Schema's (ECMA-262) does not."""
    ident: dict[str, object] = {"kind": "root"}
    identities: dict[str, object] = {"root": ident}
    if field == "identity name":
        identities = {value: ident}
    elif field == "validity":
        ident["validity"] = value
    else:
        ident["subject"] = {"C": value}
    doc = Document(file="f.yaml", data={"version": 1, "identities": identities})
    assert len(schema.check(doc)) == 1


def test_long_issuer_chains_are_checked_in_linear_time(tmp_path: Path) -> None:
    """A chain of 2000 intermediates took 40 s (cycle search was cubic)."""
    lines = ["version: 1", "identities:", "  i0: {kind: root}"]
    lines += [f"  i{i}: {{kind: intermediate, issuer: i{i - 1}}}" for i in range(1, 2000)]
    started = time.perf_counter()
    with pytest.raises(SpecError) as exc:
        validate_text("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 5
    assert [d.path for d in exc.value.diagnostics] == ["identities.i101.issuer"]
