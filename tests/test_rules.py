"""rules.check on resolved specs, directly: each rule's whole message, and the name-constraint
index held to the name-by-name definitions of RFC 5280 §4.2.1.10."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkiform.errors import sorted_diagnostics
from pkiform.spec import resolve, rules, schema
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import NameSet
from pkiform.spec.name_constraints import NameIndex, dns_within, email_within
from pkiform.spec.source import load_text
from tests.helpers.run import RunCli, run_pkiform_process


def check(text: str, *, unjudged: Mapping[str, str] | None = None) -> list[str]:
    """rules.check's diagnostics for a spec that the schema and resolve accept; with
    `unjudged`, as validation calls it when the schema refused those identities."""
    doc = load_text(text, "spec.yaml")
    only = [n for n in doc.data["identities"] if n not in (unjudged or {})]
    if unjudged is None:
        assert schema.check(doc) == []
    spec, problems = resolve.build(doc, only=only)
    assert problems == []
    found = rules.check(spec, IssuerGraph.of(spec), doc, unjudged=unjudged)
    return [str(d) for d in sorted_diagnostics(found)]


ROOT = "version: 1\nidentities:\n  root:\n    kind: root\n"
LEAF = "  web:\n    kind: server\n    issuer: root\n    dns: [web.example.com]\n"

RULES = {
    "unknown-issuer": (
        ROOT + "  web:\n    kind: server\n    issuer: rot\n    dns: [web.example.com]\n",
        ["7:13: error: identities.web.issuer: unknown identity 'rot' (did you mean 'root'?)"],
    ),
    "issuer-not-a-ca": (
        ROOT + LEAF + "  api:\n    kind: server\n    issuer: web\n    ip: [10.0.0.1]\n",
        [
            "11:13: error: identities.api.issuer: 'web' is a server, not a CA: only a root or "
            "intermediate can issue"
        ],
    ),
    "root-with-issuer": (
        ROOT + "    issuer: root\n",
        ["5:5: error: identities.root.issuer: a root is self-signed and takes no issuer"],
    ),
    "missing-issuer": (
        ROOT + "  web:\n    kind: server\n    dns: [web.example.com]\n",
        ["5:3: error: identities.web: missing required field 'issuer' (every server needs one)"],
    ),
    "cycle": (
        ROOT
        + "  a:\n    kind: intermediate\n    issuer: b\n"
        + "  b:\n    kind: intermediate\n    issuer: a\n",
        ["7:13: error: identities.a.issuer: issuer cycle: a -> b -> a"],
    ),
    "path-length": (
        ROOT + "    path_length: 0\n" + "  issuing:\n    kind: intermediate\n    issuer: root\n",
        [
            "8:13: error: identities.issuing.issuer: 'root' has path_length 0: it cannot "
            "issue an intermediate CA"
        ],
    ),
    "server-without-names": (
        ROOT + "  web:\n    kind: server\n    issuer: root\n",
        [
            "5:3: error: identities.web: a server needs at least one 'dns' or 'ip' name (TLS "
            "clients check it)"
        ],
    ),
    "san-on-a-ca": (
        ROOT + "    dns: [ca.example.com]\n",
        [
            "5:5: error: identities.root.dns: subject alternative names are for leaves; CAs "
            "carry none"
        ],
    ),
    "ca-field-on-a-leaf": (
        ROOT + LEAF + "    path_length: 0\n",
        [
            "9:5: error: identities.web.path_length: path_length applies to CAs only, "
            "not to a server"
        ],
    ),
    "renew-before-not-shorter": (
        ROOT + LEAF + "    validity: 30d\n    renew_before: 30d\n",
        [
            "10:19: error: identities.web.renew_before: renew_before (30d) must be shorter "
            "than validity (30d), or every apply would reissue it"
        ],
    ),
    "revoked-issuer": (
        ROOT
        + "  issuing:\n    kind: intermediate\n    issuer: root\n"
        + "    revoked: {reason: keyCompromise}\n"
        + "  web:\n    kind: server\n    issuer: issuing\n    dns: [web.example.com]\n",
        [
            "11:13: error: identities.web.issuer: issuer 'issuing' is revoked: nothing it "
            "signs can be trusted; revoke 'web' too or move it to another issuer"
        ],
    ),
    "reserved-name": (
        "version: 1\nidentities:\n  archive:\n    kind: root\n",
        [
            "3:3: error: identities.archive: invalid identity name 'archive': the output "
            "directory keeps its own archive there; choose another name"
        ],
    ),
    "outlives-its-issuer": (
        ROOT + "    validity: 1y\n" + LEAF + "    validity: 2y\n",
        [
            "10:15: warning: identities.web.validity: 2y outlives its issuer 'root' (1y); its "
            "certificate will end when the issuer's does"
        ],
    ),
}


@pytest.mark.parametrize("case", list(RULES))
def test_each_rule_says_exactly_what_is_wrong(case: str) -> None:
    spec, expected = RULES[case]
    assert check(spec) == [f"spec.yaml:{line}" for line in expected]


# -- identities the schema refused -----------------------------------------------------------


def test_an_unjudged_issuer_is_no_unknown_identity() -> None:
    spec = "version: 1\nidentities:\n  ca1:\n    kind: root\n" + LEAF.replace("root", "ca1")
    assert check(spec, unjudged={"ca1": "root"}) == []


def test_an_unjudged_ca_is_suggested_for_a_misspelt_issuer() -> None:
    spec = (
        "version: 1\nidentities:\n  ca1:\n    kind: root\n  ca9:\n    kind: server\n"
        + LEAF.replace("root", "ca2")
    )
    assert check(spec, unjudged={"ca1": "root", "ca9": "server"}) == [
        "spec.yaml:9:13: error: identities.web.issuer: unknown identity 'ca2' (did you mean 'ca1'?)"
    ]


CONSTRAINED = """\
version: 1
identities:
  root:
    kind: root
    subject: {CN: Root CA}
  issuing:
    kind: intermediate
    issuer: root
    subject: {CN: Issuing CA}
    name_constraints:
      permitted:
        dns: [mesh.internal]
        ip: [10.0.0.0/8]
      excluded:
        dns: [bad.mesh.internal]
"""

JAVA_DNS_RULE = (
    "Java checks a common name that reads as a host name against the DNS constraints when "
    "the certificate has no DNS name"
)
LEAF_DNS_FIX = (
    "give it a DNS name (dns: [...]), or a common name inside the permitted names or one "
    "that is no host name (e.g. with a space)"
)
PERMITTED = "(permitted dns: mesh.internal)"


# -- the subject CN under name constraints, as Java and OpenSSL check it ---------------------


def test_a_client_named_like_a_host_without_a_dns_name_is_refused_at_its_name() -> None:
    assert check(CONSTRAINED + "  worker:\n    kind: client\n    issuer: issuing\n") == [
        "spec.yaml:16:3: error: identities.worker: common name 'worker' is outside the name "
        f"constraints of 'issuing' {PERMITTED}: {JAVA_DNS_RULE}; {LEAF_DNS_FIX}"
    ]


def test_a_written_cn_is_refused_where_it_is_written() -> None:
    spec = CONSTRAINED + (
        "  alice:\n    kind: client\n    issuer: issuing\n    subject: {CN: alice}\n"
        "    email: [alice@example.com]\n"
    )
    assert check(spec) == [
        "spec.yaml:19:19: error: identities.alice.subject.CN: common name 'alice' is outside "
        f"the name constraints of 'issuing' {PERMITTED}: {JAVA_DNS_RULE}; {LEAF_DNS_FIX}"
    ]


def test_the_fixes_the_message_names_are_accepted() -> None:
    fixed = [
        "  worker:\n    kind: client\n    issuer: issuing\n    dns: [worker.mesh.internal]\n",
        "  worker:\n    kind: client\n    issuer: issuing\n    subject: {CN: w.mesh.internal}\n",
        "  worker:\n    kind: client\n    issuer: issuing\n    subject: {CN: Worker Service}\n",
    ]
    for identity in fixed:
        assert check(CONSTRAINED + identity) == []


def test_an_excluded_cn_names_the_exclusion() -> None:
    spec = CONSTRAINED + "  bad.mesh.internal:\n    kind: client\n    issuer: issuing\n"
    assert check(spec) == [
        "spec.yaml:16:3: error: identities.bad.mesh.internal: common name 'bad.mesh.internal' "
        "is excluded by the name constraints of 'issuing': OpenSSL and Java check a common "
        "name that reads as a host name against the DNS constraints when the certificate has "
        "no DNS name; give it a DNS name (dns: [...]), or a common name outside the excluded "
        "names or one that is no host name (e.g. with a space)"
    ]


def test_an_intermediate_cn_is_checked_by_java_against_the_intermediates_above() -> None:
    spec = CONSTRAINED + "  sub:\n    kind: intermediate\n    issuer: issuing\n"
    assert check(spec) == [
        "spec.yaml:16:3: error: identities.sub: common name 'sub' is outside the name "
        f"constraints of 'issuing' {PERMITTED}: {JAVA_DNS_RULE}; give it a common name inside "
        "the permitted names or one that is no host name (e.g. with a space)"
    ]


def test_an_ip_address_cn_is_checked_by_java_against_the_ip_constraints() -> None:
    spec = CONSTRAINED + (
        "  web:\n    kind: server\n    issuer: issuing\n    subject: {CN: 192.168.1.1}\n"
        "    dns: [web.mesh.internal]\n"
    )
    assert check(spec) == [
        "spec.yaml:19:19: error: identities.web.subject.CN: common name '192.168.1.1' is "
        "outside the name constraints of 'issuing' (permitted ip: 10.0.0.0/8): Java checks a "
        "common name that reads as an IP address against the IP constraints when the "
        "certificate has no IP address; give it an IP address (ip: [...]), or a common name "
        "that is no IP address"
    ]


ROOT_CONSTRAINED = """\
version: 1
identities:
  root:
    kind: root
    name_constraints: {permitted: {dns: [mesh.internal]}}
"""


def test_a_dotted_cn_is_checked_by_openssl_under_a_constrained_root() -> None:
    spec = ROOT_CONSTRAINED + (
        "  web:\n    kind: client\n    issuer: root\n    subject: {CN: my_svc.other.org}\n"
    )
    assert check(spec) == [
        "spec.yaml:9:19: error: identities.web.subject.CN: common name 'my_svc.other.org' is "
        "outside the name constraints of 'root' (permitted dns: mesh.internal): OpenSSL checks "
        "a common name with a dot against the DNS constraints when the certificate has no DNS "
        f"name; {LEAF_DNS_FIX}"
    ]


def test_java_ignores_the_constraints_of_the_root_it_trusts() -> None:
    """No dot: OpenSSL does not check it, and Java does not apply a trust anchor's constraints."""
    assert check(ROOT_CONSTRAINED + "  worker:\n    kind: client\n    issuer: root\n") == []


# -- one message per name, of bounded length --------------------------------------------------


def test_a_name_refused_by_several_cas_is_one_message_naming_the_nearest() -> None:
    spec = """\
version: 1
identities:
  root:
    kind: root
    name_constraints: {permitted: {dns: [example.com]}}
  issuing:
    kind: intermediate
    issuer: root
    subject: {CN: Issuing CA}
    name_constraints: {permitted: {dns: [a.example, b.example, c.example, d.example, e.example]}}
  web:
    kind: server
    issuer: issuing
    dns: [web.example.org]
"""
    assert check(spec) == [
        "spec.yaml:14:11: error: identities.web.dns[0]: 'web.example.org' is outside the name "
        "constraints of 'issuing' (permitted dns: a.example, b.example, c.example and 2 more), "
        "and the constraints of 'root' refuse it too"
    ]


# -- email constraints ---------------------------------------------------------------------------


def test_a_mailbox_constraint_matches_its_own_address_whatever_its_case() -> None:
    """The local part compares exactly (RFC 5280 §7.5), the domain in any case: a mailbox
    constraint with a capital letter used to refuse its own address."""
    spec = """\
version: 1
identities:
  root:
    kind: root
    name_constraints: {permitted: {email: [Alice@example.com]}}
  alice:
    kind: client
    issuer: root
    subject: {CN: Alice Liddell}
    email: [Alice@example.com, alice@example.com]
"""
    assert check(spec) == [
        "spec.yaml:10:32: error: identities.alice.email[1]: 'alice@example.com' is outside the "
        "name constraints of 'root' (permitted email: Alice@example.com)"
    ]


# -- the index against the definitions ---------------------------------------------------------

# a few letters, so that names and constraints often share labels
_LABEL = st.text(alphabet="abAB-_*0", min_size=0, max_size=3)
_DNS = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
_CONSTRAINT = st.builds(lambda dot, name: "." * dot + name, st.integers(0, 1), _DNS)
_EMAIL = st.one_of(
    _DNS,
    st.builds(lambda local, domain: f"{local}@{domain}", st.text("aA.@", max_size=3), _DNS),
)
_EMAIL_CONSTRAINT = st.one_of(_CONSTRAINT, _EMAIL)


@settings(max_examples=300, deadline=None)
@given(names=st.lists(_DNS, max_size=8), constraints=st.lists(_CONSTRAINT, max_size=8))
def test_the_dns_index_agrees_with_dns_within(names: list[str], constraints: list[str]) -> None:
    index = NameIndex.of(NameSet(dns=tuple(constraints)))
    for name in names:
        assert index.matches("dns", name) == any(dns_within(name, c) for c in constraints)


@settings(max_examples=300, deadline=None)
@given(addresses=st.lists(_EMAIL, max_size=8), constraints=st.lists(_EMAIL_CONSTRAINT, max_size=8))
def test_the_email_index_agrees_with_email_within(
    addresses: list[str], constraints: list[str]
) -> None:
    index = NameIndex.of(NameSet(email=tuple(constraints)))
    for address in addresses:
        assert index.matches("email", address) == any(email_within(address, c) for c in constraints)


# addresses in a few neighbourhoods, and networks around them: membership is often true
_V4 = st.builds(
    lambda high, low: ipaddress.IPv4Address(high << 24 | low),
    st.integers(9, 11),
    st.integers(0, 2**24 - 1),
)
_V6 = st.builds(
    lambda high, low: ipaddress.IPv6Address(high << 112 | low),
    st.integers(0, 2),
    st.integers(0, 2**112 - 1),
)
_ADDRESS = st.one_of(_V4, _V6)
_NETWORK = st.builds(
    lambda address, prefix: ipaddress.ip_network(
        (address, min(prefix, address.max_prefixlen)), strict=False
    ),
    _ADDRESS,
    st.integers(0, 128),
)


@settings(max_examples=300, deadline=None)
@given(addresses=st.lists(_ADDRESS, max_size=8), networks=st.lists(_NETWORK, max_size=8))
def test_the_ip_index_agrees_with_membership(
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    index = NameIndex.of(NameSet(ip=tuple(networks)))
    for address in addresses:
        expected = any(address.version == n.version and address in n for n in networks)
        assert index.matches("ip", address) == expected


# -- thousands of names against thousands of constraints --------------------------------------


def wide_spec(permitted: int, names: int, leaves: int, *, inside: bool) -> str:
    """An intermediate permitting `permitted` DNS subtrees, and `leaves` servers carrying
    `names` DNS names between them, each inside one subtree (or all outside)."""
    allowed = ", ".join(f"n{i:05d}.example.com" for i in range(permitted))
    lines = [
        "version: 1",
        "identities:",
        "  root: {kind: root, subject: {CN: Root CA}}",
        "  issuing:",
        "    kind: intermediate",
        "    issuer: root",
        "    subject: {CN: Issuing CA}",
        f"    name_constraints: {{permitted: {{dns: [{allowed}]}}}}",
    ]
    per_leaf = names // leaves
    for leaf in range(leaves):
        numbers = range(leaf * per_leaf, (leaf + 1) * per_leaf)
        dns = [
            f"a.n{i % permitted:05d}.example.com" if inside else f"x{i:05d}.example.org"
            for i in numbers
        ]
        lines += [
            f"  web-{leaf}:",
            "    kind: server",
            "    issuer: issuing",
            f"    dns: [{', '.join(dns)}]",
        ]
    return "\n".join(lines) + "\n"


def test_twenty_thousand_names_under_twenty_thousand_subtrees_validate(tmp_path: Path) -> None:
    """It kept validate busy for hours: each name was compared with every subtree."""
    spec = tmp_path / "wide.yaml"
    spec.write_text(wide_spec(20_000, 20_000, 8, inside=True))
    assert spec.stat().st_size > 700_000
    # a hang guard, not a timing test: it takes about a second
    done = run_pkiform_process("validate", spec, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"{spec}: valid (10 identities)\n"


def test_each_refused_name_is_one_short_line(run_cli: RunCli, tmp_path: Path) -> None:
    """2,000 names outside 2,000 subtrees made 58 MB of messages, each listing them all."""
    spec = tmp_path / "outside.yaml"
    spec.write_text(wide_spec(2_000, 2_000, 1, inside=False))
    result = run_cli("validate", spec)
    assert result.code == 1
    lines = result.err.splitlines()
    assert len(lines) == 2_000
    assert lines[0] == (
        f"{spec}:12:11: error: identities.web-0.dns[0]: 'x00000.example.org' is outside the "
        "name constraints of 'issuing' (permitted dns: n00000.example.com, n00001.example.com, "
        "n00002.example.com and 1997 more)"
    )
    assert all(f"dns[{i}]: 'x{i:05d}.example.org' is outside" in lines[i] for i in range(2_000))
    # each line: the file name and under 250 characters (the old ones were 40 KB)
    assert len(result.err) < 2_000 * (len(str(spec)) + 250)
