"""pkilint, an independent RFC 5280 linter, on certificates, CRLs and OCSP responses.

pkilint is imported only when a test lints, so that without it only those tests skip.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pkiform.lint import excuse, pkix_validators

if TYPE_CHECKING:
    from pkilint import validation


# once: importorskip resets the warning filters each time it is called, and with them
# the record of which of pkilint's warnings were already shown
@functools.cache
def _require() -> None:
    pytest.importorskip("pkilint", reason="pkilint is not installed (pip install -e '.[test]')")


@dataclass(frozen=True)
class Finding:
    severity: validation.ValidationFindingSeverity
    code: str
    message: str | None
    path: str

    def __str__(self) -> str:
        return f"{self.severity.name} {self.code} at {self.path}: {self.message}"


def _findings(results: list[validation.ValidationResult]) -> list[Finding]:
    return [
        Finding(d.finding.severity, d.finding.code, d.message, r.node.path)
        for r in results
        for d in r.finding_descriptions
    ]


def _cert_validator() -> Any:
    """The validators `lint_pkix_cert lint` runs (pkiform's own lint builds them, and
    tests/test_status_lint.py checks it against pkilint's command line)."""
    _require()
    return pkix_validators().certificate


def _crl_validator() -> Any:
    """The validators `lint_crl lint -t CRL -p PKIX` runs (likewise)."""
    _require()
    return pkix_validators().crl


@functools.cache
def _ocsp_validator() -> Any:
    """The validators `lint_ocsp_response lint` runs."""
    _require()
    from pkilint import pkix
    from pkilint.pkix import extension, name, ocsp

    return ocsp.create_pkix_ocsp_response_validator_container(
        [
            ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )


def lint_cert(pem: str) -> list[Finding]:
    """All findings of pkilint's RFC 5280 certificate linter."""
    _require()
    from pkilint import loader

    doc = loader.load_pem_certificate(pem, "certificate")
    return _findings(_cert_validator().validate(doc.root))


def lint_pair(issuer_pem: str, subject_pem: str) -> list[Finding]:
    """All findings of pkilint's issuer/subject linter (what lint_pkix_signer_signee_cert_chain
    runs): names chain, AKI matches the issuer's SKI, the signature verifies."""
    _require()
    from pkilint import loader
    from pkilint.bin import lint_pkix_signer_signee_cert_chain as chain_lint

    docs: dict[str, object] = {}
    issuer = loader.load_pem_certificate(issuer_pem, "issuer", "issuer", docs)
    docs["issuer"] = issuer
    subject = loader.load_pem_certificate(subject_pem, "subject", "subject", docs)
    docs["subject"] = subject
    decoders = chain_lint.create_decoder_validation_container()
    results = decoders.validate(issuer.root) + decoders.validate(subject.root)
    results += chain_lint.create_issuer_validation_container().validate(issuer.root)
    results += chain_lint.create_subject_validation_container().validate(subject.root)
    return _findings(results)


def lint_crl(der: bytes) -> list[Finding]:
    """All findings of pkilint's RFC 5280 CRL linter."""
    _require()
    from pkilint import loader

    doc = loader.load_der_crl(der, "crl")
    return _findings(_crl_validator().validate(doc.root))


def lint_ocsp(der: bytes) -> list[Finding]:
    """All findings of pkilint's OCSP response linter."""
    _require()
    from pkilint import loader

    doc = loader.load_der_ocsp_response(der, "ocsp")
    return _findings(_ocsp_validator().validate(doc.root))


# the value a finding is about, as pkilint's messages quote it
QUOTED = re.compile(r'"(?P<value>[^"]*)"')


def excused(finding: Finding) -> bool:
    """A known false positive of a private PKI, as `status --lint` excuses it
    (pkiform.lint.excuse), judged on the value the message quotes."""
    match = QUOTED.search(finding.message or "")
    return match is not None and excuse(finding.code, finding.path, match["value"]) is not None


def errors(findings: list[Finding]) -> list[Finding]:
    """ERROR and FATAL findings (FATAL = 0 < ERROR = 1)."""
    _require()
    from pkilint import validation

    return [f for f in findings if f.severity <= validation.ValidationFindingSeverity.ERROR]
