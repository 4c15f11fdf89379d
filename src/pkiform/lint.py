"""`status --lint`: pkilint's RFC 5280 checks on every certificate and CRL on disk.

pkilint is an optional extra (`pkiform[lint]`), imported only when asked for. Two of
its findings are known false positives for a private PKI; they are reported as such,
with the reason, never hidden.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding

from pkiform.errors import PkiformError
from pkiform.layout import CERT_FILE, CRL_PEM

if TYPE_CHECKING:
    from pkiform.disk.observe import Observed
    from pkiform.spec.model import IdentityName

LINT_EXTRA = "pip install 'pkiform[lint]'"

# pkilint checks dNSName with the `validators` library's domain check and URIs with
# its web-URL check. RFC 5280 §4.2.1.6 asks less: dNSName in RFC 1034's preferred name
# syntax, where one label ("localhost", a cluster's short service name) is a valid
# name, and uniformResourceIdentifier any absolute URI of RFC 3986 (spiffe://... is one)
SINGLE_LABEL_DNS = (
    "known false positive: a single-label DNS name is valid under RFC 5280 §4.2.1.6 "
    "(RFC 1034 preferred name syntax); pkilint asks for a public multi-label domain"
)
NON_WEB_URI = (
    "known false positive: RFC 5280 §4.2.1.6 allows any absolute URI (RFC 3986), such as "
    "a SPIFFE ID; pkilint checks every URI as a web URL"
)
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# an absolute URI (RFC 3986 §4.3): a scheme, then only characters a URI may hold
_ABSOLUTE_URI = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
)
# FATAL and ERROR (pkilint's severities 0 and 1) break RFC 5280; the rest advise
_BREAKS = ("FATAL", "ERROR")


class LintUnavailable(PkiformError):
    """`--lint` was asked for and pkilint is not installed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LintFinding:
    identity: IdentityName
    file: str  # cert.pem or crl.pem, in the identity's folder
    severity: str  # pkilint's: FATAL, ERROR, WARNING, NOTICE, INFO
    code: str
    message: str | None
    at: str  # where in the structure, as pkilint names it
    excuse: str | None = None  # why this finding is a known false positive

    @property
    def fails(self) -> bool:
        """It breaks RFC 5280 and is not a known false positive."""
        return self.severity in _BREAKS and self.excuse is None


@dataclass(frozen=True, slots=True, kw_only=True)
class LintReport:
    """What pkilint found on the files it read."""

    certificates: int
    crls: int
    findings: tuple[LintFinding, ...]

    @property
    def ok(self) -> bool:
        return not any(f.fails for f in self.findings)


def require_pkilint() -> None:
    """Load pkilint now (LintUnavailable naming the extra when it is not installed), so
    that a missing extra is reported before anything is read."""
    pkix_validators()


def lint(observed: Observed, order: Iterable[IdentityName]) -> LintReport:
    """pkilint's findings on each identity's cert.pem and crl.pem, in `order`."""
    validators = pkix_validators()
    with warnings.catch_warnings():
        # pkilint looks at every key type cryptography knows, DSA included, and
        # cryptography warns that DSA is deprecated: pkilint's business, not the user's
        warnings.filterwarnings("ignore", module="pkilint")
        return _lint(validators, observed, order)


def _lint(
    validators: PkixValidators, observed: Observed, order: Iterable[IdentityName]
) -> LintReport:
    from pkilint import loader

    found: list[LintFinding] = []
    certificates = crls = 0
    for name in order:
        obs = observed.identities[name]
        if obs.cert is not None:
            certificates += 1
            doc = loader.load_der_certificate(obs.cert.public_bytes(Encoding.DER), CERT_FILE)
            found += _findings(name, CERT_FILE, validators.certificate.validate(doc.root))
        if obs.crl is not None:
            crls += 1
            doc = loader.load_der_crl(obs.crl.public_bytes(Encoding.DER), CRL_PEM)
            found += _findings(name, CRL_PEM, validators.crl.validate(doc.root))
    return LintReport(certificates=certificates, crls=crls, findings=tuple(found))


def excuse(code: str, at: str, value: str) -> str | None:
    """Why a finding on `value` (at `at`) is a known false positive, or None."""
    if code == "pkix.invalid_domain_name_syntax" and at.endswith(".dNSName"):
        return SINGLE_LABEL_DNS if _LABEL.fullmatch(value) else None
    if code == "pkix.invalid_uri_syntax" and at.endswith(".uniformResourceIdentifier"):
        uri = _ABSOLUTE_URI.fullmatch(value)
        # a web URL pkilint judges by the rules that apply to it
        web = uri is None or uri["scheme"].lower() in ("http", "https")
        return None if web else NON_WEB_URI
    return None


def _findings(name: IdentityName, file: str, results: Iterable[Any]) -> list[LintFinding]:
    return [
        LintFinding(
            identity=name,
            file=file,
            severity=d.finding.severity.name,
            code=d.finding.code,
            message=d.message,
            at=r.node.path,
            excuse=excuse(d.finding.code, r.node.path, str(r.node.pdu)),
        )
        for r in results
        for d in r.finding_descriptions
    ]


@dataclass(frozen=True, slots=True)
class PkixValidators:
    """pkilint's validators for a certificate and for a CRL, built once."""

    certificate: Any
    crl: Any


@functools.cache
def pkix_validators() -> PkixValidators:
    """The validators pkilint's own `lint_pkix_cert lint` and `lint_crl -t CRL -p PKIX` run."""
    try:
        from pkilint import pkix
        from pkilint.pkix import certificate, crl, extension, name
    except ImportError as e:
        raise LintUnavailable(f"status --lint needs pkilint: {LINT_EXTRA}") from e
    return PkixValidators(
        certificate=certificate.create_pkix_certificate_validator_container(
            certificate.create_decoding_validators(
                name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
            ),
            [
                certificate.create_issuer_validator_container([]),
                certificate.create_validity_validator_container(),
                certificate.create_subject_validator_container([]),
                certificate.create_extensions_validator_container([]),
                certificate.create_spki_validator_container([]),
            ],
        ),
        crl=crl.create_pkix_crl_validator_container(
            [
                pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
                pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
            ],
            [
                crl.create_issuer_validator_container([]),
                crl.create_validity_validator_container([]),
                crl.create_extensions_validator_container([]),
            ],
        ),
    )
