"""Invalid specs and the whole stderr each must produce, as `LINE:COL: severity: PATH:
message` lines (the file name is prefixed by the test); line and column point at the key
or value the user has to change. tests/test_bad_specs.py runs them through the CLI,
tests/test_schema_compiled.py through the compiled schema."""

from __future__ import annotations

from dataclasses import dataclass

from pkiform.spec.source import MAX_FILE_BYTES, MAX_NODES

ROOT = """\
version: 1
identities:
  root:
    kind: root
"""

# a root and a server: line 5 is `web:`, 7 is `issuer: root`, 8 is `dns: [...]`
ROOT_AND_WEB = """\
version: 1
identities:
  root:
    kind: root
  web:
    kind: server
    issuer: root
    dns: [web.example.com]
"""


@dataclass(frozen=True)
class Case:
    id: str
    spec: str | bytes
    expected: tuple[str, ...]


def case(id: str, spec: str | bytes, *expected: str) -> Case:
    return Case(id, spec, expected)


def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


NAME_RULE = (
    "use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting and ending with a "
    "letter or digit (it becomes a folder name)"
)

CASES = [
    # -- YAML itself -------------------------------------------------------------------
    case(
        "yaml-syntax-unclosed-flow",
        "version: 1\nidentities: {root: [\n",
        "3:1: error: YAML syntax: did not find expected node content (while parsing a flow node)",
    ),
    case(
        "yaml-syntax-bad-indent",
        "version: 1\nidentities:\n  root:\n    kind: root\n   validity: 1y\n",
        "5:4: error: YAML syntax: did not find expected key (while parsing a block mapping at 3:3)",
    ),
    case(
        "tab-indentation",
        "version: 1\nidentities:\n\troot:\n\t\tkind: root\n",
        "3:1: error: YAML syntax: found character that cannot start any token "
        "(a tab: YAML indents with spaces only)",
    ),
    case(
        "empty-file",
        "",
        "1:1: error: the spec is empty; expected a mapping with 'version: 1'",
    ),
    case(
        "only-comments",
        "# a spec\n# with nothing in it\n",
        "1:1: error: the spec is empty; expected a mapping with 'version: 1'",
    ),
    case(
        "list-instead-of-mapping",
        "- version: 1\n- identities: {}\n",
        "1:1: error: expected a mapping with 'version: 1' and 'identities'; got a list",
    ),
    case(
        "scalar-document",
        "pkiform\n",
        "1:1: error: expected a mapping with 'version: 1' and 'identities'; got 'pkiform'",
    ),
    case(
        "two-documents",
        ROOT + "---\n" + ROOT,
        "5:1: error: YAML syntax: but found another document "
        "(expected a single document in the stream at 1:1)",
    ),
    case(
        "non-utf8",
        b"version: 1\nidentities:\n  root:\n    kind: root\n    subject: {CN: caf\xe9}\n",
        "5:22: error: expected UTF-8 text; got the byte 0xe9 (save the file as UTF-8)",
    ),
    case(
        "control-character-in-file",
        "version: 1\nidentities:\n  root:\n    kind: root\x07\n",
        "4:15: error: YAML syntax: unacceptable character U+0007 "
        "(YAML allows no control characters in a file)",
    ),
    case(
        "binary-value",
        ROOT + "    subject: {CN: !!binary aGVsbG8=}\n",
        "5:19: error: identities.root.subject.CN: expected text; got a !!binary value "
        "(binary data is refused)",
    ),
    case(
        "python-object-tag",
        ROOT + "    subject: {CN: !!python/object/apply:os.system [echo hi]}\n",
        "5:19: error: identities.root.subject.CN: unsupported YAML tag "
        "'!!python/object/apply:os.system': a spec holds only strings, numbers, booleans, "
        "lists and mappings",
    ),
    case(
        "python-name-tag-on-scalar",
        "version: !!python/name:os.system 1\nidentities: {}\n",
        "1:10: error: version: unsupported YAML tag '!!python/name:os.system': a spec holds "
        "only strings, numbers, booleans, lists and mappings",
        # independent of the refused version: reported in the same run
        "2:13: error: identities: expected at least one identity; got an empty mapping",
    ),
    case(
        "set-tag-on-mapping",
        "version: 1\nidentities: !!set {root, web}\n",
        "2:13: error: identities: unsupported YAML tag '!!set': a spec holds only strings, "
        "numbers, booleans, lists and mappings",
    ),
    case(
        "lone-surrogate-escape",
        ROOT + '    subject: {CN: "x\\ud800"}\n',
        # libyaml refuses the escape itself (source.py also checks, for PyYAML's own parser)
        "5:23: error: YAML syntax: found invalid Unicode character escape code "
        "(while parsing a quoted scalar)",
    ),
    case(
        "control-character-escape",
        ROOT + '    subject: {CN: "evil\\0.example.com"}\n',
        "5:19: error: identities.root.subject.CN: expected text without control characters; "
        "got 'evil\\x00.example.com'",
    ),
    case(
        "right-to-left-override",
        ROOT + '    subject: {CN: "evil\\u202Egnp.exe"}\n',
        "5:19: error: identities.root.subject.CN: expected text without invisible formatting "
        "characters; got 'evil\\u202egnp.exe' (U+202E RIGHT-TO-LEFT OVERRIDE at position 5)",
    ),
    case(
        "block-scalar-keeps-newline",
        ROOT + "    subject:\n      CN: |\n        Example Root\n",
        "6:11: error: identities.root.subject.CN: expected text without control characters; "
        "got 'Example Root\\n' (a '|' block keeps its final line break: write '|-' or a "
        "plain string)",
    ),
    case(
        "bad-yaml-bool",
        ROOT + "    path_length: !!bool maybe\n",
        "5:18: error: identities.root.path_length: expected a !!bool value; got 'maybe'",
    ),
    # -- duplicate keys ----------------------------------------------------------------
    case(
        "duplicate-identity",
        ROOT + "    validity: 10y\n  web:\n    kind: root\n  root:\n    kind: root\n",
        "8:3: error: identities: duplicate key 'root' (first at 3:3)",
    ),
    case(
        "duplicate-nested-key",
        ROOT + "    subject:\n      CN: Root\n      O: Example\n      CN: Other Root\n",
        "8:7: error: identities.root.subject: duplicate key 'CN' (first at 6:7)",
    ),
    case(
        "boolean-key",
        ROOT + "    subject: {NO: x}\n",
        "5:15: error: identities.root.subject: expected a string as a mapping key; got false "
        '(YAML reads NO as false: quote it: "NO")',
    ),
    # -- resource limits ---------------------------------------------------------------
    case(
        "alias-bomb",
        billion_laughs(),
        f"7:4: error: spec too large: more than {MAX_NODES} values (alias expansion?)",
    ),
    case(
        "recursive-alias",
        "version: 1\nidentities: &loop {root: *loop}\n",
        "2:13: error: an alias refers to a list or mapping that contains it",
    ),
    case(
        "deep-nesting",
        "version: 1\nidentities: " + "[" * 40 + "]" * 40 + "\n",
        "2:44: error: spec too large: nesting deeper than 32 levels",
    ),
    case(
        # newer libyaml gives up at 1000 levels while scanning ahead, before pkiform
        # counts: the first level too deep is found all the same, with any PyYAML
        "deep-nesting-1000",
        "version: 1\nidentities: " + "[" * 1000 + "]" * 1000 + "\n",
        "2:44: error: spec too large: nesting deeper than 32 levels",
    ),
    case(
        "nine-megabytes",
        ROOT + "# " + "x" * (9 * 1024 * 1024) + "\n",
        f"1:1: error: spec too large: {len(ROOT) + 9 * 1024 * 1024 + 3} bytes; "
        f"expected at most {MAX_FILE_BYTES}",
    ),
    # -- top level ---------------------------------------------------------------------
    case(
        "missing-version",
        "identities:\n  root:\n    kind: root\n",
        "1:1: error: missing required field 'version'",
    ),
    case(
        "version-2",
        "version: 2\nidentities:\n  root:\n    kind: root\n",
        "1:10: error: version: expected 1; got 2",
    ),
    case(
        "version-as-string",
        "version: '1'\nidentities:\n  root:\n    kind: root\n",
        "1:10: error: version: expected 1; got '1'",
    ),
    case(
        "unknown-top-level-field",
        "version: 1\nidentites:\n  root:\n    kind: root\n",
        "1:1: error: missing required field 'identities'",
        "2:1: error: identites: unknown field 'identites' (did you mean 'identities'?)",
    ),
    case(
        "no-identities",
        "version: 1\nidentities: {}\n",
        "2:13: error: identities: expected at least one identity; got an empty mapping",
    ),
    case(
        "identity-is-null",
        "version: 1\nidentities:\n  root:\n",
        "3:8: error: identities.root: expected a mapping; got nothing (null)",
    ),
    # -- identity names ----------------------------------------------------------------
    *(
        case(
            f"identity-name-{label}",
            f"version: 1\nidentities:\n  {quoted}:\n    kind: root\n",
            f"3:3: error: identities: invalid identity name {shown}: {NAME_RULE}",
        )
        for label, quoted, shown in [
            ("dot-dot-slash", "../x", "'../x'"),
            ("uppercase", "A", "'A'"),
            ("slash", "web/api", "'web/api'"),
            ("hidden", ".hidden", "'.hidden'"),
            ("too-long", "a" * 70, repr("a" * 70)),
            ("empty", '""', "''"),
        ]
    ),
    *(
        case(
            f"identity-name-reserved-{name}",
            f"version: 1\nidentities:\n  {name}:\n    kind: root\n",
            f"3:3: error: identities.{name}: invalid identity name '{name}': the output "
            f"directory keeps its own {name} there; choose another name",
        )
        for name in ["manifest.json", "archive"]
    ),
    case(
        "identity-name-trailing-newline",
        'version: 1\nidentities:\n  "web\\n":\n    kind: root\n',
        "3:3: error: identities: expected text without control characters; got 'web\\n'",
    ),
    # -- types -------------------------------------------------------------------------
    case(
        "validity-as-int",
        ROOT + "    validity: 90\n",
        "5:15: error: identities.root.validity: expected a duration like 90d, 12h, 2w or 10y; "
        "got 90",
    ),
    case(
        "dns-as-string",
        ROOT_AND_WEB.replace("dns: [web.example.com]", "dns: web.example.com"),
        "8:10: error: identities.web.dns: expected a list; got 'web.example.com'",
    ),
    case(
        "cn-as-number",
        ROOT + "    subject: {CN: 42}\n",
        '5:19: error: identities.root.subject.CN: expected a string; got 42 (quote it: "42")',
    ),
    case(
        "country-no-is-false",
        ROOT + "    subject: {C: NO}\n",
        "5:18: error: identities.root.subject.C: expected a two-letter country code in "
        'capitals, like JP; got false (YAML reads NO as false: quote it: "NO")',
    ),
    case(
        "country-off-is-false",
        "version: 1\ndefaults:\n  subject:\n    C: off\nidentities:\n  root:\n    kind: root\n",
        "4:8: error: defaults.subject.C: expected a two-letter country code in capitals, "
        'like JP; got false (YAML reads off as false: quote it: "off")',
    ),
    case(
        "cn-longer-than-64",
        ROOT + "    subject: {CN: " + "x" * 65 + "}\n",
        "5:19: error: identities.root.subject.CN: expected at most 64 characters; got 65",
    ),
    case(
        "unknown-kind",
        "version: 1\nidentities:\n  root:\n    kind: rot\n",
        "4:11: error: identities.root.kind: expected one of root, intermediate, server, "
        "client; got 'rot' (did you mean 'root'?)",
    ),
    # -- unknown fields ----------------------------------------------------------------
    case(
        "typo-vaildity",
        ROOT + "    vaildity: 10y\n",
        "5:5: error: identities.root.vaildity: unknown field 'vaildity' (did you mean 'validity'?)",
    ),
    case(
        "typo-isuer",
        ROOT_AND_WEB.replace("issuer: root", "isuer: root"),
        "7:5: error: identities.web.isuer: unknown field 'isuer' (did you mean 'issuer'?)",
    ),
    case(
        "unknown-field-no-suggestion",
        ROOT + "    colour: blue\n",
        "5:5: error: identities.root.colour: unknown field 'colour'",
    ),
    # -- issuers and the graph ---------------------------------------------------------
    case(
        "unknown-issuer",
        ROOT_AND_WEB.replace("issuer: root", "issuer: rot"),
        "7:13: error: identities.web.issuer: unknown identity 'rot' (did you mean 'root'?)",
    ),
    case(
        "issuer-is-a-leaf",
        ROOT_AND_WEB + "  bob:\n    kind: client\n    issuer: web\n",
        "11:13: error: identities.bob.issuer: 'web' is a server, not a CA: only a root or "
        "intermediate can issue",
    ),
    case(
        "issuer-on-root",
        ROOT + "    issuer: root\n",
        "5:5: error: identities.root.issuer: a root is self-signed and takes no issuer",
    ),
    case(
        "intermediate-without-issuer",
        ROOT + "  sub:\n    kind: intermediate\n",
        "5:3: error: identities.sub: missing required field 'issuer' "
        "(every intermediate needs one)",
    ),
    case(
        "two-cycle",
        "version: 1\nidentities:\n"
        "  a:\n    kind: intermediate\n    issuer: b\n"
        "  b:\n    kind: intermediate\n    issuer: a\n",
        "5:13: error: identities.a.issuer: issuer cycle: a -> b -> a",
    ),
    case(
        "three-cycle",
        "version: 1\nidentities:\n"
        "  a:\n    kind: intermediate\n    issuer: b\n"
        "  b:\n    kind: intermediate\n    issuer: c\n"
        "  c:\n    kind: intermediate\n    issuer: a\n",
        "5:13: error: identities.a.issuer: issuer cycle: a -> b -> c -> a",
    ),
    case(
        "self-issued-intermediate",
        ROOT + "  sub:\n    kind: intermediate\n    issuer: sub\n",
        "7:13: error: identities.sub.issuer: issuer cycle: sub -> sub",
    ),
    case(
        "path-length-0-issues-intermediate",
        ROOT
        + "  issuing:\n    kind: intermediate\n    issuer: root\n    path_length: 0\n"
        + "  sub:\n    kind: intermediate\n    issuer: issuing\n",
        "11:13: error: identities.sub.issuer: 'issuing' has path_length 0: it cannot issue "
        "an intermediate CA",
    ),
    case(
        "root-path-length-1-two-intermediates",
        ROOT
        + "    path_length: 1\n"
        + "  policy:\n    kind: intermediate\n    issuer: root\n"
        + "  issuing:\n    kind: intermediate\n    issuer: policy\n",
        "11:13: error: identities.issuing.issuer: 2 intermediate CAs would follow 'root', "
        "whose path_length is 1",
    ),
    case(
        "path-length-on-leaf",
        ROOT_AND_WEB + "    path_length: 0\n",
        "9:5: error: identities.web.path_length: path_length applies to CAs only, not to a server",
    ),
    case(
        "extended-key-usage-on-ca",
        ROOT + "    extended_key_usage: [serverAuth]\n",
        "5:5: error: identities.root.extended_key_usage: extended_key_usage is for leaves, not CAs",
    ),
    case(
        "san-on-ca",
        ROOT + "    dns: [ca.example.com]\n",
        "5:5: error: identities.root.dns: subject alternative names are for leaves; CAs carry none",
    ),
    case(
        "revoked-root",
        ROOT + "    revoked: {reason: keyCompromise}\n",
        "5:5: error: identities.root.revoked: a root cannot be revoked by a CRL; remove it "
        "from the spec instead",
    ),
    # -- keys --------------------------------------------------------------------------
    case(
        "rsa-1024",
        ROOT + "    key: {type: rsa, size: 1024}\n",
        "5:28: error: identities.root.key.size: expected one of 2048, 3072, 4096; got 1024 "
        "(RSA keys under 2048 bits are refused)",
    ),
    case(
        "curve-p192",
        ROOT + "    key: {type: ec, curve: P-192}\n",
        "5:28: error: identities.root.key.curve: expected one of P-256, P-384, P-521; got 'P-192'",
    ),
    case(
        "ed25519-with-size",
        ROOT + "    key: {type: ed25519, size: 2048}\n",
        "5:26: error: identities.root.key.size: only rsa keys take a size; this key is ed25519",
    ),
    case(
        "rsa-with-curve-in-defaults",
        "version: 1\ndefaults:\n  key:\n    type: rsa\n    curve: P-256\n"
        "identities:\n  root:\n    kind: root\n",
        "5:5: error: defaults.key.curve: only ec keys take a curve; this key is rsa",
    ),
    case(
        "key-without-type",
        ROOT + "    key: {size: 4096}\n",
        "5:5: error: identities.root.key: missing required field 'type'",
    ),
    # -- durations ---------------------------------------------------------------------
    *(
        case(
            f"duration-{label}",
            ROOT + f"    validity: {text}\n",
            f"5:15: error: identities.root.validity: expected a duration like 90d, 12h, 2w or "
            f"10y; got '{text}'",
        )
        for label, text in [
            ("with-space", "90 days"),
            ("zero", "0d"),
            ("minutes", "10m"),
            ("negative", "-5d"),
        ]
    ),
    case(
        "duration-trailing-newline",
        ROOT + '    renew_before: "30d\\n"\n',
        "5:19: error: identities.root.renew_before: expected text without control characters; "
        "got '30d\\n'",
    ),
    case(
        "duration-over-100-years",
        ROOT + "    validity: 999999y\n",
        "5:15: error: identities.root.validity: expected a duration of at most 100y; got '999999y'",
    ),
    case(
        "renew-before-equals-validity",
        ROOT + "    validity: 30d\n    renew_before: 30d\n",
        "6:19: error: identities.root.renew_before: renew_before (30d) must be shorter than "
        "validity (30d), or every apply would reissue it",
    ),
    case(
        "renew-before-from-defaults-too-long",
        "version: 1\ndefaults:\n  renew_before: 60d\nidentities:\n"
        "  root:\n    kind: root\n    validity: 30d\n",
        "7:15: error: identities.root.validity: renew_before (60d) must be shorter than "
        "validity (30d), or every apply would reissue it",
    ),
    # -- names -------------------------------------------------------------------------
    case(
        "server-without-sans",
        ROOT + "  web:\n    kind: server\n    issuer: root\n",
        "5:3: error: identities.web: a server needs at least one 'dns' or 'ip' name "
        "(TLS clients check it)",
    ),
    case(
        "invalid-ip",
        ROOT_AND_WEB + "    ip: [127.0.0.1, 300.1.1.1]\n",
        "9:21: error: identities.web.ip[1]: expected an IPv4 or IPv6 address; got '300.1.1.1'",
    ),
    case(
        "ip-with-zone",
        ROOT_AND_WEB + "    ip: ['fe80::1%eth0']\n",
        "9:10: error: identities.web.ip[0]: expected an IP address without a zone; got "
        "'fe80::1%eth0' (certificates carry no '%zone')",
    ),
    *(
        case(
            f"invalid-dns-{label}",
            ROOT_AND_WEB.replace("dns: [web.example.com]", f"dns: [{name}]"),
            f"8:11: error: identities.web.dns[0]: {message}",
        )
        for label, name, message in [
            (
                "underscore",
                "bad_name.example.com",
                "expected a DNS name; got 'bad_name.example.com' (label 'bad_name': use "
                "lowercase letters, digits and '-', not at either end, at most 63 characters)",
            ),
            (
                "leading-hyphen",
                "-lead.example.com",
                "expected a DNS name; got '-lead.example.com' (label '-lead': use lowercase "
                "letters, digits and '-', not at either end, at most 63 characters)",
            ),
            (
                "uppercase",
                "Web.Example.com",
                "expected a DNS name in lowercase; got 'Web.Example.com'",
            ),
            (
                "empty-label",
                "web..example.com",
                "expected a DNS name; got 'web..example.com' (empty label)",
            ),
            (
                "unicode",
                "bücher.example",
                "expected a DNS name in ASCII; got 'bücher.example' (write internationalised "
                "names in punycode: xn--...)",
            ),
        ]
    ),
    case(
        "invalid-email",
        ROOT + "  alice:\n    kind: client\n    issuer: root\n    email: [alice]\n",
        "8:13: error: identities.alice.email[0]: expected an email address like "
        "alice@example.com; got 'alice'",
    ),
    case(
        "email-with-two-at-signs",
        ROOT + "  alice:\n    kind: client\n    issuer: root\n    email: [a@b@example.com]\n",
        "8:13: error: identities.alice.email[0]: expected an email address like "
        "alice@example.com; got 'a@b@example.com'",
    ),
    case(
        "uri-not-ascii",
        ROOT
        + "  bob:\n    kind: client\n    issuer: root\n    uri: ['spiffe://exämple.org/bob']\n",
        "8:11: error: identities.bob.uri[0]: expected an absolute URI in ASCII like "
        "spiffe://example.org/web; got 'spiffe://exämple.org/bob'",
    ),
    case(
        "eku-oid-second-arc",
        ROOT + "  bob:\n    kind: client\n    issuer: root\n    extended_key_usage: [1.40.1]\n",
        "8:26: error: identities.bob.extended_key_usage[0]: expected a dotted OID whose second "
        "number is under 40 after 1; got '1.40.1'",
    ),
    case(
        "eku-unknown-name",
        ROOT + "  bob:\n    kind: client\n    issuer: root\n    extended_key_usage: [anyUsage]\n",
        "8:26: error: identities.bob.extended_key_usage[0]: expected serverAuth, clientAuth, "
        "codeSigning, emailProtection, timeStamping, OCSPSigning or a dotted OID; "
        "got 'anyUsage'",
    ),
    # -- name constraints --------------------------------------------------------------
    case(
        "name-constraint-dns-outside-permitted",
        ROOT
        + "    name_constraints:\n      permitted:\n        dns: [example.com]\n"
        + "  web:\n    kind: server\n    issuer: root\n    dns: [web.example.org]\n",
        "11:11: error: identities.web.dns[0]: 'web.example.org' is outside the name "
        "constraints of 'root' (permitted dns: example.com)",
    ),
    case(
        "name-constraint-client-cn-java-reads-as-a-host-name",
        ROOT
        + "    name_constraints:\n      permitted:\n        dns: [example.com]\n"
        + "  issuing:\n    kind: intermediate\n    issuer: root\n"
        + "    subject: {CN: Issuing CA}\n    name_constraints: {permitted: {dns: [example.com]}}\n"
        + "  worker:\n    kind: client\n    issuer: issuing\n    uri: [spiffe://example.com/w]\n",
        "13:3: error: identities.worker: common name 'worker' is outside the name constraints "
        "of 'issuing' (permitted dns: example.com): Java checks a common name that reads as a "
        "host name against the DNS constraints when the certificate has no DNS name; give it a "
        "DNS name (dns: [...]), or a common name inside the permitted names or one that is no "
        "host name (e.g. with a space)",
    ),
    case(
        "name-constraint-ip-excluded",
        ROOT
        + "    name_constraints:\n      excluded:\n        ip: [10.0.0.0/8]\n"
        + "  web:\n    kind: server\n    issuer: root\n    ip: [192.0.2.1, 10.1.2.3]\n",
        "11:21: error: identities.web.ip[1]: '10.1.2.3' is excluded by the name constraints "
        "of 'root'",
    ),
    case(
        "name-constraint-network-with-host-bits",
        ROOT + "    name_constraints:\n      permitted:\n        ip: [10.0.0.1/8]\n",
        "7:14: error: identities.root.name_constraints.permitted.ip[0]: expected a network in "
        "CIDR form like 10.0.0.0/8; got '10.0.0.1/8' (host bits are set)",
    ),
    case(
        "name-constraint-on-leaf",
        ROOT_AND_WEB + "    name_constraints: {permitted: {dns: [example.com]}}\n",
        "9:5: error: identities.web.name_constraints: name_constraints applies to CAs only, "
        "not to a server",
    ),
    case(
        "chain-of-101-intermediates",
        "version: 1\nidentities:\n  i0: {kind: root}\n"
        + "".join(f"  i{i}: {{kind: intermediate, issuer: i{i - 1}}}\n" for i in range(1, 103)),
        "104:38: error: identities.i101.issuer: 101 intermediate CAs in a row down to here; "
        "OpenSSL verifies chains of at most 100",
    ),
    case(
        "self-issued-leaf",
        "version: 1\nidentities:\n  web:\n    kind: server\n    issuer: web\n"
        "    dns: [web.example.com]\n",
        "5:13: error: identities.web.issuer: 'web' is a server, not a CA: only a root or "
        "intermediate can issue",
    ),
    case(
        "unknown-issuer-on-root",
        ROOT + "    issuer: nobody\n",
        "5:5: error: identities.root.issuer: a root is self-signed and takes no issuer",
    ),
    case(
        "validity-over-100-years-in-defaults",
        "version: 1\ndefaults:\n  validity: 200y\nidentities:\n"
        "  root:\n    kind: root\n  sub:\n    kind: intermediate\n    issuer: root\n",
        "3:13: error: defaults.validity: expected a duration of at most 100y; got '200y'",
    ),
    case(
        "eku-oid-leading-zero",
        ROOT + "  bob:\n    kind: client\n    issuer: root\n    extended_key_usage: [1.03.6]\n",
        "8:26: error: identities.bob.extended_key_usage[0]: expected a dotted OID without "
        "leading zeros; got '1.03.6'",
    ),
    case(
        "document-marker-only",
        "---\n",
        "1:1: error: the spec is empty; expected a mapping with 'version: 1'",
    ),
    # -- outputs and encrypted keys ------------------------------------------------------
    case(
        "pkcs12-with-two-password-sources",
        ROOT + "    outputs: {pkcs12: {password_env: P, password_file: p.txt}}\n",
        "5:23: error: identities.root.outputs.pkcs12: give one of password_env or "
        "password_file, not both",
    ),
    case(
        "truststore-without-a-password-source",
        ROOT + "    outputs:\n      truststore: {legacy: false}\n",
        "6:19: error: identities.root.outputs.truststore: give one of password_env or "
        "password_file (where the password comes from)",
    ),
    case(
        "pkcs12-true",
        ROOT + "    outputs: {pkcs12: true}\n",
        "5:23: error: identities.root.outputs.pkcs12: expected a mapping, or false to turn it "
        "off; got true",
    ),
    case(
        "password-env-not-a-variable-name",
        ROOT + "    key: {type: ec, encrypt: {password_env: 2FA}}\n",
        "5:45: error: identities.root.key.encrypt.password_env: expected the name of an "
        "environment variable like P12_PASSWORD (letters, digits, '_'); got '2FA'",
    ),
    case(
        "password-written-in-the-spec",
        ROOT + "    key: {type: ec, encrypt: {password: hunter2}}\n",
        "5:31: error: identities.root.key.encrypt.password: unknown field 'password' "
        "(did you mean 'password_env'?)",
    ),
    case(
        "encrypt-in-defaults-without-a-source",
        "version: 1\ndefaults:\n  key: {type: ec, encrypt: {}}\nidentities:\n"
        "  root:\n    kind: root\n  sub:\n    kind: intermediate\n    issuer: root\n",
        "3:28: error: defaults.key.encrypt: give one of password_env or password_file "
        "(where the password comes from)",
    ),
    case(
        "unknown-output",
        ROOT + "    outputs: {p12: {password_env: P}}\n",
        "5:15: error: identities.root.outputs.p12: unknown field 'p12'",
    ),
    case(
        "der-not-a-boolean",
        ROOT + "    outputs: {der: yes please}\n",
        "5:20: error: identities.root.outputs.der: expected true or false; got 'yes please'",
    ),
    case(
        "kubernetes-name-not-a-dns-name",
        ROOT_AND_WEB + "    outputs: {kubernetes: {name: Web_TLS}}\n",
        "9:34: error: identities.web.outputs.kubernetes.name: expected a Kubernetes name: "
        "lowercase letters, digits, '-' and '.'; got 'Web_TLS'",
    ),
    case(
        "kubernetes-namespace-with-a-dot",
        ROOT_AND_WEB + "    outputs: {kubernetes: {namespace: prod.eu}}\n",
        "9:39: error: identities.web.outputs.kubernetes.namespace: expected a Kubernetes "
        "namespace: lowercase letters, digits and '-'; got 'prod.eu'",
    ),
    case(
        "kubernetes-with-an-encrypted-key",
        ROOT_AND_WEB
        + "    key: {type: ec, encrypt: {password_env: WEB_KEY}}\n    outputs: {kubernetes: {}}\n",
        "10:15: error: identities.web.outputs.kubernetes: a Kubernetes Secret holds the key "
        "unencrypted (tls.key), so it cannot go with key.encrypt; turn one of them off "
        "(outputs: {kubernetes: false})",
    ),
    case(
        "kubernetes-default-name-from-an-identity-name",
        "version: 1\ndefaults:\n  outputs: {kubernetes: {namespace: prod}}\nidentities:\n"
        "  root:\n    kind: root\n    outputs: {kubernetes: false}\n"
        "  web_1:\n    kind: server\n    issuer: root\n    dns: [web.example.com]\n",
        "8:3: error: identities.web_1: the Secret's name defaults to the identity's, and "
        "'web_1' is no Kubernetes name (lowercase letters, digits, '-' and '.'); set "
        "outputs.kubernetes.name",
    ),
    case(
        "kubernetes-secret-twice",
        ROOT_AND_WEB
        + "    outputs: {kubernetes: {name: shared}}\n"
        + "  api:\n    kind: server\n    issuer: root\n    dns: [api.example.com]\n"
        + "    outputs: {kubernetes: {name: shared}}\n",
        "14:15: error: identities.api.outputs.kubernetes: identity 'web' already writes the "
        "Secret 'shared'; set another outputs.kubernetes.name",
    ),
    case(
        "identity-named-like-the-trust-bundle",
        "version: 1\nidentities:\n  trust-bundle.pem:\n    kind: root\n",
        "3:3: error: identities.trust-bundle.pem: invalid identity name 'trust-bundle.pem': "
        "the output directory keeps its own trust-bundle.pem there; choose another name",
    ),
    # -- merge keys --------------------------------------------------------------------
    case(
        "merge-key-of-a-scalar",
        ROOT + "  web:\n    <<: server\n    kind: server\n",
        "6:9: error: identities.web: expected a mapping or a list of mappings after '<<'",
    ),
]
