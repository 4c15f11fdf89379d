"""The pytest plugin, run as a user runs it: a separate pytest with the installed entry
point, on the README's example (a real mutual-TLS echo server) and on the cache."""

from __future__ import annotations

import re

import pytest

from tests.helpers.repo import ROOT

pytest_plugins = ["pytester"]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(
        r"<!-- tested by tests/test_pytest_plugin.py -->\n```python\n(.*?)```", text, re.S
    )
    assert found, "README.md lost the plugin example"
    return found.group(1)


def test_the_readme_example_runs_a_mutual_tls_echo_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=readme_example())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_example_fails_when_the_client_is_not_trusted(pytester: pytest.Pytester) -> None:
    # the same test with the server trusting another root: the handshake must fail, so
    # the passing run above proves client authentication happened
    example = readme_example().replace(
        'pki["server"].server_context()',
        'pki["server"].server_context(trust=pkiform({"version": 1, "identities": '
        '{"other": {"kind": "root"}}})["other"])',
    )
    pytester.makepyfile(test_example=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


CACHE_TESTS = '''
import json
from pathlib import Path

SPEC = """
version: 1
identities:
  root: {kind: root}
  web: {kind: server, issuer: root, dns: [web.test]}
"""
seen = []

def test_first(pkiform):
    seen.append(pkiform(SPEC)["web"].cert_path)

def test_same_spec_same_pki(pkiform):
    pki = pkiform(SPEC)
    assert pki["web"].cert_path == seen[0]
    assert pkiform(SPEC + "\\n") is not pki  # other text: issued again

def test_dict_and_file(pkiform, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    by_path, by_name = pkiform(spec), pkiform(str(spec))
    assert by_path is by_name and by_path["web"].cert_path != seen[0]
    data = {"version": 1, "identities": {"root": {"kind": "root"}}}
    assert pkiform(data) is pkiform(json.loads(json.dumps(data)))
    assert pkiform(data)["root"].cert.subject.rfc4514_string() == "CN=root"

def test_bad_spec(pkiform):
    pkiform("version: 1\\nidentities: {web: {kind: server, issuer: nobody, dns: [a.test]}}")
'''


def test_each_spec_is_issued_once_per_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cache=CACHE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    # a bad spec fails its test with every problem, located, and no traceback into pkiform
    result.stdout.fnmatch_lines(
        [
            "*pkiform: invalid spec*",
            "<pkiform fixture>:2:*: error: identities.web.issuer: unknown identity 'nobody'*",
        ]
    )
    assert "pkiform/api.py" not in result.stdout.str()


def test_the_plugin_loads_no_cryptography_for_tests_that_do_not_use_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_light="import sys\n\ndef test_light():\n"
        "    assert 'pkiform.pytest_plugin' in sys.modules\n"
        "    assert 'cryptography' not in sys.modules\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
