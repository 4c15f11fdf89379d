"""resolve.py's shortcuts for large specs give the answers of the slow paths they skip."""

from __future__ import annotations

import pytest

from pkiform.errors import SpecError
from pkiform.spec.load import validate_text
from pkiform.spec.model import NO_OUTPUTS, IdentityName
from pkiform.spec.resolve import dns_problem


@pytest.mark.parametrize(
    ("name", "constraint", "expected"),
    [
        ("web.example.com", False, None),
        ("*.example.com", False, None),
        (".example.com", True, None),
        ("a" * 63 + ".com", False, None),
        ("a" * 64 + ".com", False, "label '" + "a" * 64 + "'"),
        ("web-.example.com", False, "label 'web-'"),
        ("web..example.com", False, "(empty label)"),
        ("web.example.com.", False, "(empty label)"),
        ("wéb.example.com", False, "in ASCII"),
        ("*.example.com", True, "label '*'"),
        (".example.com", False, "(empty label)"),
        ("Web.example.com", False, "in lowercase"),
    ],
)
def test_dns_names_cleared_in_one_match_or_explained_label_by_label(
    name: str, constraint: bool, expected: str | None
) -> None:
    problem = dns_problem(name, constraint=constraint)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem


def test_shared_durations_are_checked_for_every_identity() -> None:
    text = """\
version: 1
identities:
  a:
    kind: root
    validity: 200y
  b:
    kind: root
    validity: 200y
"""
    with pytest.raises(SpecError) as e:
        validate_text(text, "f.yaml")
    assert [(d.loc.line, d.path) for d in e.value.diagnostics] == [
        (5, "identities.a.validity"),
        (8, "identities.b.validity"),
    ]


def test_shared_keys_durations_and_outputs_are_equal_to_fresh_ones() -> None:
    text = """\
version: 1
defaults:
  key: {type: rsa, size: 4096}
identities:
  a:
    kind: root
  b:
    kind: root
    key: {type: rsa, size: 4096}
  c:
    kind: root
    validity: 90d
"""
    spec = validate_text(text, "f.yaml").spec
    a, b, c = (spec.identities[IdentityName(n)] for n in ("a", "b", "c"))
    assert a.key == b.key and str(a.key) == "rsa 4096"
    assert a.validity == b.validity and str(a.renew_before) == "1216d16h"
    assert str(c.renew_before) == "30d"
    assert a.outputs == NO_OUTPUTS
