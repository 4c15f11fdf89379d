"""`status --lint`: pkilint on every certificate and CRL on disk, its findings named by
identity, the known false positives of a private PKI shown with their reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from pkiform.formats.pem import derived_files
from pkiform.lint import NON_WEB_URI, SINGLE_LABEL_DNS, excuse
from tests.helpers.repo import EXAMPLES
from tests.helpers.run import apply_quietly, invoke, pkiform_env, run_python

pytest.importorskip("pkilint", reason="pkilint is not installed (pip install -e '.[test]')")

MTLS = EXAMPLES / "mtls.yaml"
MESH = EXAMPLES / "mesh.yaml"


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return apply_quietly(MTLS, tmp_path_factory.mktemp("lint") / "pki")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return apply_quietly(MESH, tmp_path_factory.mktemp("lint") / "pki")


def test_the_examples_lint_clean_but_for_known_false_positives_shown_with_their_reason(
    mtls: Path, mesh: Path
) -> None:
    result = invoke("status", MTLS, "-o", mtls, "--lint")
    assert result.code == 0, result.out + result.err
    # the classic mTLS tutorial's server names: "hoge" and "localhost", one label each
    assert (
        "excused server/cert.pem  pkix.invalid_domain_name_syntax: "
        'Invalid domain name syntax: "hoge"' in result.out
    )
    assert SINGLE_LABEL_DNS in result.out
    assert "pkilint: 3 certificates and 1 CRL; 0 errors, 2 known false positives" in result.out

    result = invoke("status", MESH, "-o", mesh, "--lint", "--json")
    assert result.code == 0, result.out + result.err
    lint = json.loads(result.out)["lint"]
    assert lint["ok"] is True and (lint["certificates"], lint["crls"]) == (6, 2)
    spiffe = [f for f in lint["findings"] if f["code"] == "pkix.invalid_uri_syntax"]
    assert {f["identity"] for f in spiffe} == {"api", "billing", "worker"}
    for finding in spiffe:
        assert finding["file"] == "cert.pem" and finding["severity"] == "ERROR"
        assert finding["known_false_positive"] == NON_WEB_URI and finding["fails"] is False
        assert finding["at"].endswith(".uniformResourceIdentifier")
    # INFO findings are in the JSON (the text counts them)
    assert any(f["severity"] == "INFO" for f in lint["findings"])


def _pkilint_command_line(*argv: str | Path) -> set[tuple[str, str, str, str | None]]:
    """What pkilint's own command line finds: (where, severity, code, message)."""
    done = run_python("-W", "ignore", "-m", *map(str, argv), "-f", "JSON")
    assert done.stderr == ""  # its exit code is the number of findings
    return {
        (r["node_path"], d["severity"], d["code"], d["message"])
        for r in json.loads(done.stdout)["results"]
        for d in r["finding_descriptions"]
    }


def test_status_lint_finds_what_pkilints_own_command_line_finds(mesh: Path) -> None:
    """Every certificate and CRL of the mesh example, through `lint_pkix_cert lint` and
    `lint_crl lint -t CRL -p PKIX` as their own processes: the same findings."""
    result = invoke("status", MESH, "-o", mesh, "--lint", "--json")
    ours: dict[tuple[str, str], set[tuple[str, str, str, str | None]]] = {}
    for f in json.loads(result.out)["lint"]["findings"]:
        finding = (f["at"], f["severity"], f["code"], f["message"])
        ours.setdefault((f["identity"], f["file"]), set()).add(finding)
    files = sorted(mesh.glob("*/cert.pem")) + sorted(mesh.glob("*/crl.pem"))
    assert len(files) == 8
    for path in files:
        if path.name == "cert.pem":
            theirs = _pkilint_command_line("pkilint.bin.lint_pkix_cert", "lint", path)
        else:
            command = ("pkilint.bin.lint_crl", "lint", "-t", "CRL", "-p", "PKIX", path)
            theirs = _pkilint_command_line(*command)
        assert ours.get((path.parent.name, path.name), set()) == theirs, path


def test_without_lint_the_report_says_nothing_of_pkilint(mtls: Path) -> None:
    result = invoke("status", MTLS, "-o", mtls, "--json")
    assert result.code == 0 and json.loads(result.out)["lint"] is None
    assert "pkilint" not in invoke("status", MTLS, "-o", mtls).out


def _reissue_with_dns_name(out: Path, name: str, dns_name: str) -> None:
    """Replace `name`'s certificate by one its CA signs for the same key, whose only
    dNSName is `dns_name`, with every file derived from it (status finds no other fault)."""
    ca_cert = x509.load_pem_x509_certificate((out / "ca" / "cert.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((out / "ca" / "key.pem").read_bytes(), None)
    old = x509.load_pem_x509_certificate((out / name / "cert.pem").read_bytes())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca_cert.subject)
        .public_key(old.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3))
    )
    for ext in old.extensions:
        if ext.oid != x509.ObjectIdentifier("2.5.29.17"):  # subjectAltName
            builder = builder.add_extension(ext.value, ext.critical)
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    for filename, data in derived_files(cert, [ca_cert]).items():
        (out / name / filename).write_bytes(data)
    (out / name / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_a_certificate_that_breaks_rfc_5280_fails_status_lint_and_is_named(
    tmp_path: Path,
) -> None:
    out = apply_quietly(MTLS, tmp_path / "pki")
    # a space is in no DNS name (RFC 1034 §3.5), and the name has two labels: not excused
    _reissue_with_dns_name(out, "server", "bad name.example.com")
    assert invoke("status", MTLS, "-o", out).code == 0  # status alone sees nothing wrong

    result = invoke("status", MTLS, "-o", out, "--lint")
    assert result.code == 1
    assert (
        "error   server/cert.pem  pkix.invalid_domain_name_syntax: "
        'Invalid domain name syntax: "bad name.example.com"' in result.out
    )
    assert "1 error," in result.out

    document = json.loads(invoke("status", MTLS, "-o", out, "--lint", "--json").out)
    assert document["ok"] is False and document["lint"]["ok"] is False
    failing = [f for f in document["lint"]["findings"] if f["fails"]]
    assert [(f["identity"], f["file"], f["known_false_positive"]) for f in failing] == [
        ("server", "cert.pem", None)
    ]


def test_without_pkilint_status_lint_names_the_extra_to_install(mtls: Path, tmp_path: Path) -> None:
    # a pkilint that cannot be imported, first on the path: as if it were not installed
    (tmp_path / "pkilint").mkdir()
    (tmp_path / "pkilint" / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = pkiform_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    done = run_python("-m", "pkiform", "status", MTLS, "-o", mtls, "--lint", env=env)
    assert done.returncode == 1
    assert (
        done.stderr == "pkiform: error: status --lint needs pkilint: pip install 'pkiform[lint]'\n"
    )
    assert done.stdout == ""
    # plain status does not need it
    assert run_python("-m", "pkiform", "status", MTLS, "-o", mtls, env=env).returncode == 0


@pytest.mark.parametrize(
    ("code", "at", "value", "expected"),
    [
        (
            "pkix.invalid_domain_name_syntax",
            "x.subjectAltName.0.dNSName",
            "localhost",
            SINGLE_LABEL_DNS,
        ),
        (
            "pkix.invalid_domain_name_syntax",
            "x.subjectAltName.0.dNSName",
            "svc-1",
            SINGLE_LABEL_DNS,
        ),
        ("pkix.invalid_domain_name_syntax", "x.base.dNSName", "localhost", SINGLE_LABEL_DNS),
        # not one label, or not a label at all
        ("pkix.invalid_domain_name_syntax", "x.subjectAltName.0.dNSName", "a b.example", None),
        ("pkix.invalid_domain_name_syntax", "x.subjectAltName.0.dNSName", "-svc", None),
        ("pkix.invalid_domain_name_syntax", "x.subjectAltName.0.dNSName", "svc_1", None),
        ("pkix.invalid_domain_name_syntax", "x.subjectAltName.0.dNSName", "", None),
        ("pkix.invalid_domain_name_syntax", "x.subjectAltName.0.dNSName", "a" * 64, None),
        # the same code elsewhere than a dNSName is pkilint's call
        ("pkix.invalid_domain_name_syntax", "x.subjectAltName.0.rfc822Name", "localhost", None),
        (
            "pkix.invalid_uri_syntax",
            "x.subjectAltName.0.uniformResourceIdentifier",
            "spiffe://td/ns/a",
            NON_WEB_URI,
        ),
        (
            "pkix.invalid_uri_syntax",
            "x.subjectAltName.0.uniformResourceIdentifier",
            "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
            NON_WEB_URI,
        ),
        # web URLs, and what is no URI at all, are judged by pkilint
        (
            "pkix.invalid_uri_syntax",
            "x.subjectAltName.0.uniformResourceIdentifier",
            "https://bad host/",
            None,
        ),
        (
            "pkix.invalid_uri_syntax",
            "x.subjectAltName.0.uniformResourceIdentifier",
            "HTTP://x_y/",
            None,
        ),
        (
            "pkix.invalid_uri_syntax",
            "x.subjectAltName.0.uniformResourceIdentifier",
            "spiffe://td/a b",
            None,
        ),
        (
            "pkix.invalid_uri_syntax",
            "x.subjectAltName.0.uniformResourceIdentifier",
            "no-scheme",
            None,
        ),
        (
            "pkix.invalid_uri_syntax",
            "x.subjectAltName.0.uniformResourceIdentifier",
            "1abc://x",
            None,
        ),
        # no other finding is ever excused
        ("pkix.certificate_negative_validity_period", "x.validity", "localhost", None),
    ],
)
def test_only_the_two_known_false_positives_are_excused(
    code: str, at: str, value: str, expected: str | None
) -> None:
    assert excuse(code, at, value) == expected
