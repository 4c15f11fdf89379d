"""Property tests: no input makes validation raise anything but SpecError.

Three sources of input: arbitrary text (and bytes decoded leniently), YAML dumped from
random JSON-like values, and mutations of the shipped examples. A mutated example that still
validates must also plan cleanly through the CLI (exit 2 on an empty output directory).
Any crash found here becomes an explicit case in helpers/bad_specs.py (run by
test_bad_specs.py) or in test_source.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkiform.errors import SpecError
from pkiform.spec.load import ValidSpec, validate_text
from tests.helpers.repo import EXAMPLE_PASSWORDS, EXAMPLES
from tests.helpers.run import RunCli

# PKIFORM_FUZZ_SCALE=100 runs a hundred times the examples: the long run by hand
SCALE = int(os.environ.get("PKIFORM_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    """Bounded runs without deadlines, so the file stays well under a minute on 2 cores."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


EXAMPLE_TEXTS = {path.name: path.read_text() for path in sorted(EXAMPLES.glob("*.yaml"))}


def _validate(text: str) -> ValidSpec | None:
    """validate_text, with SpecError (the one expected failure) turned into None."""
    try:
        return validate_text(text, "fuzz.yaml")
    except SpecError as e:
        assert e.diagnostics, "a SpecError must carry at least one diagnostic"
        for diagnostic in e.diagnostics:
            assert diagnostic.loc.line >= 1
            assert diagnostic.loc.col >= 1
            assert "Traceback" not in diagnostic.message
        return None


# -- (a) arbitrary text --------------------------------------------------------------------


@fuzz(500)
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    _validate(text)


@fuzz(200)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decoded_with_replacement(data: bytes) -> None:
    _validate(data.decode("utf-8", errors="replace"))


# YAML-flavoured text: the characters that drive the parser, so it gets past the first line
_YAML_ALPHABET = st.sampled_from(
    [*"abkv019 :-[]{},&*!|>'\"#\n\t.%@<?~", "  ", "\n  ", "version: 1\n", "<<: "]
)


@fuzz(500)
@given(st.lists(_YAML_ALPHABET, max_size=60).map("".join))
def test_yaml_shaped_text(text: str) -> None:
    _validate(text)


# -- (b) YAML dumped from JSON-like values -------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "root",
            "intermediate",
            "server",
            "client",
            "rsa",
            "ec",
            "ed25519",
            "P-256",
            "90d",
            "10y",
            "0d",
            "web.example.com",
            "127.0.0.1",
            "::1",
            "10.0.0.0/8",
            "a@example.com",
            "serverAuth",
            "1.2.3",
        ]
    )
)
_KEYS = st.text(max_size=12) | st.sampled_from(
    [
        "version",
        "identities",
        "defaults",
        "kind",
        "issuer",
        "subject",
        "CN",
        "C",
        "key",
        "type",
        "size",
        "curve",
        "validity",
        "renew_before",
        "dns",
        "ip",
        "email",
        "uri",
        "path_length",
        "name_constraints",
        "permitted",
        "excluded",
        "extended_key_usage",
        "crl_url",
        "ocsp_url",
        "revoked",
        "reason",
    ]
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5),
    max_leaves=25,
)


# random values at the top, as an identity, and as a field of an identity, so that they get
# past the first checks and reach the schema's deeper branches
_PLACED = st.one_of(
    _JSON,
    st.builds(lambda v: {"version": 1, "identities": {"a": v}}, _JSON),
    st.builds(
        lambda k, v: {"version": 1, "identities": {"a": {"kind": "server", k: v}}}, _KEYS, _JSON
    ),
    st.builds(lambda k, v: {"version": 1, "defaults": {k: v}, "identities": {}}, _KEYS, _JSON),
)


@fuzz(400)
@given(_PLACED)
def test_dumped_json_like_values(value: Any) -> None:
    _validate(yaml.safe_dump(value))


_NAMES = st.sampled_from(["root", "ca", "sub", "web", "bob", "x"])
_IDENTITY = st.fixed_dictionaries(
    {"kind": st.sampled_from(["root", "intermediate", "server", "client"])},
    optional={
        "issuer": _NAMES,
        "validity": st.sampled_from(["1d", "90d", "1y", "10y", "100y", "101y", "12h"]),
        "renew_before": st.sampled_from(["1h", "30d", "2y"]),
        "path_length": st.integers(-1, 3) | st.just(1.0),
        "dns": st.lists(st.sampled_from(["web.example.com", "*.example.com", "Bad_", ""])),
        "ip": st.lists(st.sampled_from(["127.0.0.1", "::1", "10.1.2.3", "999.1.1.1"])),
        "email": st.lists(st.sampled_from(["a@example.com", "a", "@x", "a@b@c"])),
        "uri": st.lists(st.sampled_from(["spiffe://x/y", "nope"])),
        "key": st.sampled_from(
            [
                {"type": "rsa", "size": 2048},
                {"type": "ec"},
                {"type": "ed448"},
                {"type": "rsa"},
                {"type": "ec", "encrypt": {"password_env": "P"}},
                {"type": "ec", "pkcs11": "pkcs11:token=t;object=a", "pin_env": "PIN"},
                {"type": "ec", "pkcs11": "pkcs11:token=t", "pin_file": "pin"},
                {"pkcs11": "pkcs11:object=a;pin-value=1"},
            ]
        ),
        "csr": st.sampled_from(["web.csr", "", "../x.csr"]) | st.none(),
        "adopt": st.sampled_from([{"cert": "ca.crt", "key": "ca.key"}, {"cert": "ca.crt"}, {}]),
        "revoked": st.sampled_from(
            [True, {"reason": "keyCompromise"}, {"at": "2020-01-01T00:00:00Z"}, {}]
        ),
        "revoke_superseded": st.booleans(),
        "ocsp": st.booleans(),
        "crl_url": st.sampled_from(["http://crl.example/ca.crl", "ldap://x"]),
        "outputs": st.sampled_from(
            [
                {"combined": True},
                {"der": True, "pkcs12": {"password_env": "P"}},
                {"kubernetes": {"name": "web-tls"}},
                {"truststore": {"password_env": "P"}},
            ]
        ),
        "rotate_key": st.booleans(),
        "subject": st.dictionaries(
            st.sampled_from(["CN", "O", "C"]), st.sampled_from(["JP", "x", "", False])
        ),
        "name_constraints": st.fixed_dictionaries(
            {},
            optional={
                "permitted": st.fixed_dictionaries(
                    {},
                    optional={
                        "dns": st.just(["example.com"]),
                        "ip": st.just(["10.0.0.0/8", "::1/128"]),
                    },
                ),
                "excluded": st.fixed_dictionaries({}, optional={"ip": st.just(["10.1.0.0/16"])}),
            },
        ),
        "extended_key_usage": st.lists(st.sampled_from(["serverAuth", "1.3.6.1", "0.40"])),
        # a rotation: a CA left out by its own error once made its successor an internal error
        "replaces": _NAMES | st.none(),
        "cross_sign": st.booleans() | st.none(),
    },
)


@fuzz(300)
@given(st.dictionaries(_NAMES, _IDENTITY, min_size=1, max_size=5))
def test_dumped_spec_shaped_values(identities: dict[str, Any]) -> None:
    """Near-valid specs reach resolve and rules, where most of the value checks live."""
    _validate(yaml.safe_dump({"version": 1, "identities": identities}))


# -- (c) mutations of the examples ---------------------------------------------------------

_TOKEN = re.compile(r"[^\s:,\[\]{}]+")
_REPLACEMENTS = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "1.0",
        "NO",
        "null",
        "~",
        "[]",
        "{}",
        "x" * 70,
        "root",
        "intermediate",
        "server",
        "rsa",
        "ed25519",
        "P-192",
        "1024",
        "0d",
        "100y",
        "999999y",
        "*a",
        "&a",
        "!!binary",
        "'quoted'",
        '"\\x00"',
        "10.0.0.0/33",
        "300.1.1.1",
        "web.example.org",
        "mesh-root",
        "mesh-issuing",
        "ca",
        "\t",
        "#",
        "- item",
    ]
)


@st.composite
def _mutated_example(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(EXAMPLE_TEXTS)))
    lines = EXAMPLE_TEXTS[name].splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "swap", "token", "indent"]))
        if how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif how == "token":
            tokens = list(_TOKEN.finditer(lines[i]))
            if tokens:
                token = draw(st.sampled_from(tokens))
                value = draw(_REPLACEMENTS | st.text(max_size=8))
                lines[i] = lines[i][: token.start()] + value + lines[i][token.end() :]
        else:
            shift = draw(st.sampled_from([-4, -2, -1, 1, 2, 4]))
            line = lines[i]
            lines[i] = " " * shift + line if shift > 0 else line[min(-shift, _indent(line)) :]
    return "\n".join(lines) + "\n"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@pytest.mark.parametrize("name", sorted(EXAMPLE_TEXTS))
def test_examples_are_valid(name: str) -> None:
    assert _validate(EXAMPLE_TEXTS[name]) is not None


@fuzz(500)
@given(text=_mutated_example())
def test_mutated_examples(
    text: str, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if _validate(text) is None:
        return
    for name in EXAMPLE_PASSWORDS:
        monkeypatch.setenv(name, f"fuzz-{name}")
    spec = tmp_path / "mutated.yaml"
    spec.write_text(text)
    out = tmp_path / "empty-out"
    result = run_cli("plan", spec, "-o", out)
    assert "Traceback" not in result.err
    assert "internal error" not in result.err
    # a mutation may name another password variable or file, which is not there
    errors = [line for line in result.err.splitlines() if ": error: " in line]
    if result.code == 1 and errors and all("; needed to " in line for line in errors):
        return
    assert result.code == 2, result.err
    assert not out.exists(), "plan must not create the output directory"
