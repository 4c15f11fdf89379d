"""The certificate profile (x509/profile.py) against design.md §2, value by value: what a
certificate for each kind of identity must carry, before anything is signed."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, ObjectIdentifier

from pkiform.spec.load import validate_text
from pkiform.spec.model import Identity, IdentityName
from pkiform.x509.profile import Profile, desired

SPEC = """\
version: 1
defaults: {subject: {C: JP, O: Example}}
identities:
  root: {kind: root, path_length: 1}
  issuing:
    kind: intermediate
    issuer: root
    path_length: 0
    ocsp: true
    crl_url: http://crl.example.com/issuing.crl
    ocsp_url: http://ocsp.example.com/
    name_constraints:
      permitted: {dns: [example.com], ip: [10.0.0.0/8], email: [example.com]}
      excluded: {dns: [bad.example.com]}
  web:
    kind: server
    issuer: issuing
    dns: [web.example.com, "*.web.example.com"]
    ip: [10.0.0.1]
    uri: [spiffe://example.com/web]
  rsa-web: {kind: server, issuer: issuing, dns: [rsa.example.com], key: {type: rsa, size: 2048}}
  alice: {kind: client, issuer: issuing, email: [alice@example.com], subject: {CN: Alice Liddell}}
  signer:
    kind: client
    issuer: issuing
    subject: {CN: Code Signer}
    extended_key_usage: [codeSigning, 1.3.6.1.4.1.99999.1]
"""

IDENTITIES = validate_text(SPEC).spec.identities


def profile_of(name: str) -> Profile:
    ident = IDENTITIES[IdentityName(name)]
    issuer = IDENTITIES[ident.issuer] if ident.issuer else None
    return desired(ident, issuer)


def extension(profile: Profile, oid: ObjectIdentifier) -> x509.Extension[x509.ExtensionType]:
    found = [e for e in profile.extensions if e.oid == oid]
    assert len(found) == 1, f"{oid} appears {len(found)} times"
    return found[0]


def usage(**on: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    return x509.KeyUsage(**(flags | on))


def test_the_subject_is_the_spec_s_in_openssl_s_order_and_cn_defaults_to_the_name() -> None:
    assert profile_of("web").subject == x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, "web"),
        ]
    )
    assert profile_of("alice").subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Alice Liddell"
    )


def test_a_root_is_a_critical_ca_that_signs_certificates_and_crls() -> None:
    profile = profile_of("root")
    assert extension(profile, ExtensionOID.BASIC_CONSTRAINTS) == x509.Extension(
        ExtensionOID.BASIC_CONSTRAINTS, True, x509.BasicConstraints(ca=True, path_length=1)
    )
    assert extension(profile, ExtensionOID.KEY_USAGE) == x509.Extension(
        ExtensionOID.KEY_USAGE, True, usage(key_cert_sign=True, crl_sign=True)
    )
    # what a root carries, nothing more: no names, no pointers to itself
    assert {e.oid for e in profile.extensions} == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
    }


def test_a_ca_that_signs_ocsp_itself_may_also_sign_digitally() -> None:
    assert extension(profile_of("issuing"), ExtensionOID.KEY_USAGE).value == usage(
        key_cert_sign=True, crl_sign=True, digital_signature=True
    )


def test_name_constraints_are_critical_and_hold_every_subtree() -> None:
    ext = extension(profile_of("issuing"), ExtensionOID.NAME_CONSTRAINTS)
    assert ext.critical  # RFC 5280 §4.2.1.10: MUST be critical
    assert ext.value == x509.NameConstraints(
        permitted_subtrees=[
            x509.DNSName("example.com"),
            x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
            x509.RFC822Name("example.com"),
        ],
        excluded_subtrees=[x509.DNSName("bad.example.com")],
    )


def test_a_server_is_a_leaf_for_server_authentication_with_every_name() -> None:
    profile = profile_of("web")
    assert extension(profile, ExtensionOID.BASIC_CONSTRAINTS).value == x509.BasicConstraints(
        ca=False, path_length=None
    )
    assert extension(profile, ExtensionOID.BASIC_CONSTRAINTS).critical
    assert extension(profile, ExtensionOID.KEY_USAGE).value == usage(digital_signature=True)
    eku = extension(profile, ExtensionOID.EXTENDED_KEY_USAGE)
    assert (eku.critical, list(eku.value)) == (False, [ExtendedKeyUsageOID.SERVER_AUTH])
    assert extension(profile, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value == (
        x509.SubjectAlternativeName(
            [
                x509.DNSName("web.example.com"),
                x509.DNSName("*.web.example.com"),
                x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                x509.UniformResourceIdentifier("spiffe://example.com/web"),
            ]
        )
    )


def test_an_rsa_server_may_also_encipher_keys_and_an_ec_one_may_not() -> None:
    assert extension(profile_of("rsa-web"), ExtensionOID.KEY_USAGE).value == usage(
        digital_signature=True, key_encipherment=True
    )
    assert not extension(profile_of("web"), ExtensionOID.KEY_USAGE).value.key_encipherment


def test_a_client_authenticates_clients_and_carries_its_email() -> None:
    profile = profile_of("alice")
    eku = extension(profile, ExtensionOID.EXTENDED_KEY_USAGE).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert extension(profile, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value == (
        x509.SubjectAlternativeName([x509.RFC822Name("alice@example.com")])
    )


def test_extended_key_usage_replaces_the_kind_s_by_name_or_oid() -> None:
    eku = extension(profile_of("signer"), ExtensionOID.EXTENDED_KEY_USAGE).value
    assert list(eku) == [
        ExtendedKeyUsageOID.CODE_SIGNING,
        ObjectIdentifier("1.3.6.1.4.1.99999.1"),
    ]


def test_a_leaf_without_names_carries_no_empty_subject_alternative_name() -> None:
    # RFC 5280 §4.2.1.6: GeneralNames has at least one entry
    assert not [
        e for e in profile_of("signer").extensions if e.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME
    ]


@pytest.mark.parametrize("name", ["web", "rsa-web", "alice", "signer"])
def test_what_a_ca_issues_points_to_its_crl_and_ocsp_responder(name: str) -> None:
    profile = profile_of(name)
    crl = extension(profile, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    assert (crl.critical, crl.value) == (
        False,
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[
                        x509.UniformResourceIdentifier("http://crl.example.com/issuing.crl")
                    ],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
    )
    aia = extension(profile, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    assert (aia.critical, aia.value) == (
        False,
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier("http://ocsp.example.com/"),
                )
            ]
        ),
    )


def test_a_ca_s_own_urls_are_not_in_its_own_certificate() -> None:
    oids = {e.oid for e in profile_of("issuing").extensions}
    assert ExtensionOID.CRL_DISTRIBUTION_POINTS not in oids
    assert ExtensionOID.AUTHORITY_INFORMATION_ACCESS not in oids


def test_the_profile_is_a_pure_function_of_the_spec() -> None:
    ident: Identity = IDENTITIES[IdentityName("web")]
    issuer = IDENTITIES[IdentityName("issuing")]
    assert desired(ident, issuer) == desired(ident, issuer)
